"""Right-to-left needs no override: our CSS (style sheets, ``<style>`` blocks and ``style=`` attributes of
templates) says start and end, never left and right, wherever the direction matters — margin-inline-start,
padding-inline-end, inset-inline-start, border-inline-end, text-align: start, float: inline-start …"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "shifa"

#: Files that are not ours to write (none is CSS today; a vendored style sheet would go here, with its reason).
VENDOR = ("/static/shifa/vendor/",)
#: Declarations that name a side but do not depend on the direction: (file relative to src/shifa, declaration
#: as written) → why. Only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}

#: Properties whose name says a physical side: left, right, margin-left, border-top-right-radius, scroll-padding-left …
SIDE_PROPERTY = re.compile(r"^(?:left|right|[a-z-]*-(?:left|right)(?:-[a-z]+)*)$")
#: Properties whose value may say a side.
SIDE_VALUE = {"text-align", "text-align-last", "float", "clear", "caption-side"}
SIDE_POSITION = {"background-position", "background-position-x", "object-position", "transform-origin"}
#: Shorthands of four sides (top right bottom left): physical when right and left differ.
FOUR_SIDES = {
    "margin",
    "padding",
    "inset",
    "scroll-margin",
    "scroll-padding",
    "border-width",
    "border-style",
    "border-color",
}

COMMENT = re.compile(r"/\*.*?\*/", re.S)
STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.S | re.I)
STYLE_ATTRIBUTE = re.compile(r"""\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
DECLARATION = re.compile(r"(?<![\w-])([a-zA-Z-]+)\s*:\s*([^;{}]+)")
TEMPLATE_TAG = re.compile(r"{%.*?%}|{{.*?}}", re.S)


def _values(value: str) -> list[str]:
    """The space-separated values of a declaration, keeping var(…)/calc(…) whole."""
    parts, depth, current = [], 0, ""
    for char in value.strip():
        depth += char == "("
        depth -= char == ")"
        if char.isspace() and depth == 0:
            if current:
                parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current else parts


def _mirrors_differently(prop: str, value: str) -> bool:
    value = value.replace("!important", "").strip()
    if prop in FOUR_SIDES:
        sides = _values(value)
        return len(sides) == 4 and sides[1] != sides[3]
    if prop == "border-radius":
        for half in value.split("/"):
            corners = _values(half)
            # top-left, top-right, bottom-right, bottom-left: mirroring swaps left and right corners.
            if len(corners) == 2 and corners[0] != corners[1]:
                return True
            if len(corners) == 3 and not corners[0] == corners[1] == corners[2]:
                return True
            if len(corners) == 4 and (corners[0] != corners[1] or corners[2] != corners[3]):
                return True
    return False


def physical_declarations(css: str) -> list[str]:
    """The declarations of ``css`` that would not mirror in right-to-left."""
    found = []
    for match in DECLARATION.finditer(COMMENT.sub("", css)):
        prop, value = match.group(1).lower(), match.group(2).strip()
        words = set(re.findall(r"[a-z-]+", value.lower()))
        if (
            SIDE_PROPERTY.match(prop)
            or (prop in SIDE_VALUE and words & {"left", "right"})
            or (prop in SIDE_POSITION and words & {"left", "right"})
            or _mirrors_differently(prop, value)
        ):
            found.append(f"{prop}: {value}")
    return found


def css_of(path: Path) -> list[str]:
    """The CSS texts in a file: the whole of a style sheet; a template's <style> blocks and style= attributes."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".css":
        return [text]
    text = TEMPLATE_TAG.sub(" ", text)
    return [*STYLE_BLOCK.findall(text), *(a or b for a, b in STYLE_ATTRIBUTE.findall(text))]


def our_files() -> list[Path]:
    files = [*SRC.rglob("*.css"), *SRC.rglob("templates/**/*.html")]
    return sorted(p for p in files if not any(v in p.as_posix() for v in VENDOR))


def test_our_css_says_start_and_end_not_left_and_right():
    problems = {}
    seen_allowed = set()
    for path in our_files():
        relative = path.relative_to(SRC).as_posix()
        for css in css_of(path):
            for declaration in physical_declarations(css):
                if (relative, declaration) in ALLOWED:
                    seen_allowed.add((relative, declaration))
                    continue
                problems.setdefault(relative, []).append(declaration)
    assert problems == {}, problems
    assert seen_allowed == set(ALLOWED), "an allowed declaration is gone: take it off ALLOWED"


def test_the_files_are_found():
    names = {p.relative_to(SRC).as_posix() for p in our_files()}
    assert "web/static/shifa/css/shifa.css" in names
    assert "documents/templates/documents/base.html" in names
    assert sum(1 for n in names if n.endswith(".html")) > 50


@pytest.mark.parametrize(
    "css",
    [
        ".a { margin-left: 1rem }",
        ".a { padding-right: 0 }",
        ".a { left: 0 }",
        ".a{right:2px}",
        ".a { border-left: 1px solid }",
        ".a { border-top-right-radius: 4px }",
        ".a { text-align: right }",
        ".a { float: left !important }",
        ".a { clear: right }",
        ".a { background-position: left 2px top }",
        ".a { transform-origin: right center }",
        ".a { padding: 1mm 3mm 1mm 0 }",
        ".a { margin: 0 var(--space-2) 0 0 }",
        ".a { inset: 0 auto 0 0 }",
        ".a { border-radius: 4px 0 0 4px }",
        ".a { border-radius: 4px 0 }",
        ".a { scroll-padding-left: 1rem }",
    ],
)
def test_a_physical_declaration_is_found(css):
    assert physical_declarations(css), css


@pytest.mark.parametrize(
    "css",
    [
        ".a { margin-inline-start: 1rem; padding-inline-end: 0; inset-inline-start: 0 }",
        ".a { border-inline-end: 1px solid; border-start-end-radius: 4px }",
        ".a { text-align: start; float: inline-end; clear: inline-start }",
        ".a { margin: 0 auto; padding: 1mm 2mm 3mm; margin: 1px 2px 3px 2px }",
        ".a { border-radius: 4px; border-radius: 4px 4px 0 0; border-radius: 50% / 10% }",
        ".a { outline-offset: 2px; box-shadow: 0 0 0 5px red; top: 0; bottom: 0 }",
        "/* margin-left: 0 in a comment */ .a { color: red }",
    ],
)
def test_a_logical_declaration_passes(css):
    assert physical_declarations(css) == [], css


def test_style_attributes_and_blocks_of_templates_are_read(tmp_path):
    template = tmp_path / "page.html"
    template.write_text(
        '<style>.x { float: right }</style><p style="margin-left: {{ gap }}px">'
        "<span style='padding-inline-start: 1rem'></span>",
        encoding="utf-8",
    )
    found = [d for css in css_of(template) for d in physical_declarations(css)]
    assert found == ["float: right", "margin-left: px"]
