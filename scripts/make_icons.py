"""Draws the patient app's icons: a teal rounded square with a white cross, no text.

Run from the repository root after changing the mark: ``.venv/bin/python scripts/make_icons.py``. The files are
committed under ``src/shifa/web/static/shifa/icons/`` (the web manifest, the favicon and the apple-touch-icon point
at them); ``tests/web/test_pwa.py`` checks their sizes.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

TEAL = (11, 122, 117, 255)  # --c-primary, #0b7a75
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)
SUPERSAMPLE = 4  # drawn four times larger, then scaled down: smooth edges without an anti-aliasing renderer
OUT = Path(__file__).resolve().parents[1] / "src" / "shifa" / "web" / "static" / "shifa" / "icons"

# The mark, in fractions of the icon's side.
CORNER = 0.22  # corner radius of the rounded square
CROSS_LENGTH = 0.56  # tip to tip
CROSS_WIDTH = 0.2  # thickness of an arm
# A maskable icon may be cut to a circle of 80 % of its side: the cross shrinks to stay well inside it.
MASKABLE_SCALE = 0.85


def _cross(draw: ImageDraw.ImageDraw, side: int, scale: float = 1.0) -> None:
    length, width = side * CROSS_LENGTH * scale, side * CROSS_WIDTH * scale
    centre, radius = side / 2, side * 0.03 * scale
    draw.rounded_rectangle(
        (centre - width / 2, centre - length / 2, centre + width / 2, centre + length / 2), radius, fill=WHITE
    )
    draw.rounded_rectangle(
        (centre - length / 2, centre - width / 2, centre + length / 2, centre + width / 2), radius, fill=WHITE
    )


def _canvas(size: int, *, full_bleed: bool) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    side = size * SUPERSAMPLE
    image = Image.new("RGBA", (side, side), TEAL if full_bleed else CLEAR)
    draw = ImageDraw.Draw(image)
    if not full_bleed:
        draw.rounded_rectangle((0, 0, side - 1, side - 1), side * CORNER, fill=TEAL)
    return image, draw, side


def _save(image: Image.Image, size: int, name: str, *, opaque: bool = False) -> None:
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    if opaque:
        image = image.convert("RGB")
    image.save(OUT / name, optimize=True)


def icon(size: int, name: str, *, maskable: bool = False, opaque: bool = False) -> None:
    """The mark at ``size`` pixels. Maskable and Apple icons fill the whole square: the platform cuts the shape."""
    full_bleed = maskable or opaque
    image, draw, side = _canvas(size, full_bleed=full_bleed)
    _cross(draw, side, MASKABLE_SCALE if maskable else 1.0)
    _save(image, size, name, opaque=opaque)


def shortcut(name: str, glyph: str) -> None:
    """A 96 px icon for a shortcut of the installed app: the rounded square with a simple white glyph."""
    size = 96
    image, draw, s = _canvas(size, full_bleed=False)
    stroke = round(s * 0.08)
    if glyph == "search":  # a magnifying glass
        draw.ellipse((s * 0.24, s * 0.22, s * 0.62, s * 0.60), outline=WHITE, width=stroke)
        draw.line((s * 0.57, s * 0.55, s * 0.76, s * 0.74), fill=WHITE, width=round(s * 0.1))
        draw.ellipse((s * 0.71, s * 0.69, s * 0.81, s * 0.79), fill=WHITE)
    elif glyph == "calendar":  # a page of a calendar with its two rings
        draw.rounded_rectangle(
            (s * 0.22, s * 0.28, s * 0.78, s * 0.78), s * 0.06, outline=WHITE, width=stroke
        )
        draw.rectangle((s * 0.22, s * 0.28, s * 0.78, s * 0.42), fill=WHITE)
        for x in (0.36, 0.64):
            draw.rounded_rectangle((s * (x - 0.04), s * 0.18, s * (x + 0.04), s * 0.34), s * 0.03, fill=WHITE)
        draw.rectangle((s * 0.34, s * 0.52, s * 0.46, s * 0.64), fill=WHITE)
    elif glyph == "record":  # a sheet with a small cross and lines of text
        draw.rounded_rectangle(
            (s * 0.26, s * 0.18, s * 0.74, s * 0.82), s * 0.05, outline=WHITE, width=stroke
        )
        draw.rectangle((s * 0.46, s * 0.28, s * 0.54, s * 0.48), fill=WHITE)
        draw.rectangle((s * 0.40, s * 0.34, s * 0.60, s * 0.42), fill=WHITE)
        for y in (0.56, 0.67):
            draw.rectangle((s * 0.36, s * y, s * 0.64, s * (y + 0.05)), fill=WHITE)
    else:
        raise ValueError(glyph)
    _save(image, size, name)


def favicon_svg() -> str:
    """The same mark as an SVG (sharp at any size in the browser's tab)."""
    side, r = 64, 64 * CORNER
    length, width, centre = side * CROSS_LENGTH, side * CROSS_WIDTH, side / 2
    arm = 64 * 0.03

    def bar(x: float, y: float, w: float, h: float) -> str:
        return f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{arm:g}"/>'

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}">'
        f'<rect width="{side}" height="{side}" rx="{r:g}" fill="#0b7a75"/>'
        f'<g fill="#fff">{bar(centre - width / 2, centre - length / 2, width, length)}'
        f"{bar(centre - length / 2, centre - width / 2, length, width)}</g></svg>\n"
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon(192, "icon-192.png")
    icon(512, "icon-512.png")
    icon(512, "icon-maskable-512.png", maskable=True)
    icon(
        180, "apple-touch-icon.png", opaque=True
    )  # iOS shows transparency as black and rounds corners itself
    shortcut("shortcut-search.png", "search")
    shortcut("shortcut-appointments.png", "calendar")
    shortcut("shortcut-record.png", "record")
    (OUT / "favicon.svg").write_text(favicon_svg(), encoding="utf-8")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
