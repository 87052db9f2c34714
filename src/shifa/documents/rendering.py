"""HTML to PDF with WeasyPrint: Arabic shaped and laid out right to left by Pango/HarfBuzz with the Debian
Arabic fonts (Amiri, Noto Naskh Arabic), English with Noto Sans, the clinic's header on every page."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation


def _fetcher():
    """Documents are self-contained: WeasyPrint may load nothing from the network or the disk (inline data: only)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


def render_html(*, template: str, context: dict, language: str) -> str:
    with translation.override(language):
        return render_to_string(template, context)


def html_to_pdf(html: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=html, url_fetcher=_fetcher(), base_url="about:blank").write_pdf()
