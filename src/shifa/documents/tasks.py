"""Background jobs of documents."""

from __future__ import annotations

from procrastinate import RetryStrategy

from shifa.core.jobs import task


@task("documents.render", retry=RetryStrategy(max_attempts=3, exponential_wait=5))
def render_document(document_id: int) -> None:
    from .actions import document_render

    document_render(document_id=document_id)
