"""Charts as inline SVG: drawn here, so a report opens offline, prints, and stays small.

A report's charts are few and simple (histograms, a heat map, a trend line), so drawing
them as SVG costs a few kilobytes each, where inlining plotly's JavaScript would cost
3.5 MB and a script run before the first paint. Every shape carries a ``<title>``, so
hovering names the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

INK, MUTED, GRID = "#1f3b57", "#8595a6", "#e3e8ee"
DRIFT, TESTED, UNTESTED = "#c0392b", "#2e86c1", "#f2f3f4"


def number(value: Any, digits: int = 3) -> str:
    """A figure as people read it: thousands separated, a few significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def when(ts: float | None) -> str:
    """UNIX seconds as a person reads them, in UTC."""
    if ts is None:
        return ""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(float(ts), dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def histogram(edges: Sequence[float], counts: Sequence[int], label: str,
              width: int = 360, height: int = 120) -> Markup:  # fmt: skip
    """Bars of ``counts`` between ``edges``; the axis names the first and last edge."""
    if not counts or not any(counts):
        return Markup("")
    top = max(counts)
    pad, base = 4, height - 18
    bar = (width - 2 * pad) / len(counts)
    parts = [_open(width, height, f"distribution of {label}")]
    for i, n in enumerate(counts):
        h = 0 if top == 0 else (base - 4) * n / top
        x = pad + i * bar
        tip = f"{number(edges[i])} to {number(edges[i + 1])}: {n:,} models"
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{INK}"><title>{escape(tip)}</title></rect>'
        )
    parts.append(_line(pad, base, width - pad, base))
    parts.append(_text(pad, height - 4, number(edges[0]), "start"))
    parts.append(_text(width - pad, height - 4, number(edges[-1]), "end"))
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(points: Sequence[tuple[str, float | None]], label: str,
          width: int = 360, height: int = 120) -> Markup:  # fmt: skip
    """A line through ``points`` (label, value) in order; gaps where a value is missing."""
    values = [v for _, v in points if v is not None]
    if len(values) < 2:
        return Markup("")
    lo, hi = min(values), max(values)
    span = (hi - lo) or abs(hi) or 1.0
    pad, base = 6, height - 18
    step = (width - 2 * pad) / (len(points) - 1)
    parts = [_open(width, height, f"{label} across windows")]
    path: list[str] = []
    dots: list[str] = []
    for i, (name, v) in enumerate(points):
        if v is None:
            continue
        x = pad + i * step
        y = base - 4 - (base - 12) * (v - lo) / span
        path.append(f"{'M' if not path else 'L'}{x:.1f},{y:.1f}")
        tip = escape(f"{name}: {number(v)}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{INK}"><title>{tip}</title></circle>'
        )
    parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    parts.extend(dots)
    parts.append(_line(pad, base, width - pad, base))
    parts.append(_text(pad, height - 4, points[0][0], "start"))
    parts.append(_text(width - pad, height - 4, points[-1][0], "end"))
    parts.append(_text(width - pad, 10, f"max {number(hi)}", "end"))
    parts.append("</svg>")
    return Markup("".join(parts))


def heat_map(rows: Sequence[str], cols: Sequence[str], cells: dict[tuple[str, str], dict[str, int]],
             row_label: str, col_label: str) -> Markup:  # fmt: skip
    """Share of tested models drifting per (row, column); cells with no tested model are
    hatched "not tested", never drawn as "not drifting"."""
    cell, left, top = 22, 110, 90
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 30
    parts = [_open(width, height, f"drift by {row_label} and {col_label}")]
    parts.append(
        '<defs><pattern id="untested" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" stroke-width="1.5"/></pattern></defs>'
    )
    for j, col in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text x="{x:.1f}" y="{top - 6}" font-size="10" fill="{INK}" '
            f'transform="rotate(-55 {x:.1f} {top - 6})">{escape(_short(col))}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * cell
        parts.append(_text(left - 6, y + cell / 2 + 4, _short(row), "end"))
        for j, col in enumerate(cols):
            found = cells.get((row, col))
            x = left + j * cell
            if found is None or found["models"] == 0:
                fill, tip = "#fff", "no models"
            elif found["tested"] == 0:
                fill, tip = "url(#untested)", f"{found['models']:,} models, none tested"
            else:
                share = found["drifting"] / found["tested"]
                fill = _shade(share)
                tip = (f"{found['drifting']:,} of {found['tested']:,} tested drifting "
                       f"({share:.0%}); {found['models']:,} models")  # fmt: skip
            label = escape(f"{row_label}={row}, {col_label}={col}: {tip}")
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                f'stroke="{GRID}"><title>{label}</title></rect>'
            )
    legend_y = top + cell * len(rows) + 16
    parts.append(_text(left, legend_y, "0%", "start"))
    for k in range(10):
        parts.append(
            f'<rect x="{left + 24 + k * 12}" y="{legend_y - 9}" width="12" height="10" '
            f'fill="{_shade(k / 9)}"/>'
        )
    parts.append(_text(left + 150, legend_y, "100% of tested drifting", "start"))
    parts.append(
        f'<rect x="{left + 300}" y="{legend_y - 9}" width="12" height="10" '
        f'fill="url(#untested)" stroke="{GRID}"/>'
    )
    parts.append(_text(left + 316, legend_y, "not tested", "start"))
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(items: Sequence[tuple[str, int]], label: str, width: int = 360) -> Markup:
    """Horizontal bars of (name, count), largest first as given."""
    if not items:
        return Markup("")
    top = max(n for _, n in items) or 1
    row, left = 16, 120
    parts = [_open(width, row * len(items) + 4, label)]
    for i, (name, n) in enumerate(items):
        y = i * row + 2
        w = (width - left - 60) * n / top
        parts.append(_text(left - 6, y + 11, _short(name, 18), "end"))
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{DRIFT}">'
            f"<title>{escape(f'{name}: {n:,}')}</title></rect>"
        )
        parts.append(_text(left + w + 4, y + 11, f"{n:,}", "start"))
    parts.append("</svg>")
    return Markup("".join(parts))


def _shade(share: float) -> str:
    """White to red by ``share`` in [0, 1]."""
    share = min(max(share, 0.0), 1.0)
    r = 255 - int((255 - 0xC0) * share)
    g = 255 - int((255 - 0x39) * share)
    b = 255 - int((255 - 0x2B) * share)
    return f"#{r:02x}{g:02x}{b:02x}"


def _short(text: str, most: int = 16) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        'font-family="system-ui, sans-serif">'
    )


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{MUTED}"/>'


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="10" fill="{MUTED}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )
