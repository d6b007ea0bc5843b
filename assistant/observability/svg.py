"""Small, typed, server-rendered SVG charts (line and stacked bar) for the dashboard. No JavaScript: the
markup is built here, every text escaped, and the page works under the strict Content-Security-Policy
(presentation attributes only, no inline styles or scripts)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WIDTH, HEIGHT = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 40, 24

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None is a gap


@dataclass(frozen=True)
class RefLine:
    """A horizontal line (a budget, a threshold) drawn across the chart."""

    label: str
    value: float


def number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def usd(value: float) -> str:
    return f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def ms(value: float) -> str:
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


class _Frame:
    def __init__(self, *, n: int, y_max: float) -> None:
        self.n = max(n, 1)
        self.y_max = y_max
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def x(self, i: int) -> float:
        return LEFT + (self.plot_w * (i + 0.5) / self.n)

    def y(self, value: float) -> float:
        return TOP + self.plot_h * (1 - min(value, self.y_max) / self.y_max)


def _open(title: str, description: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]


def _axes(parts: list[str], frame: _Frame, x_labels: Sequence[str], y_format: Formatter) -> None:
    for tick in range(5):
        value = frame.y_max * tick / 4
        y = frame.y(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#4b5563">'
            f"{escape(y_format(value))}</text>"
        )
    every = max(1, math.ceil(len(x_labels) / 7))
    for i, label in enumerate(x_labels):
        if i % every == 0 or (i == len(x_labels) - 1 and i % every > every // 2):
            parts.append(
                f'<text x="{frame.x(i):.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle" '
                f'fill="#4b5563">{escape(label)}</text>'
            )
    base = frame.y(0)
    parts.append(f'<line x1="{LEFT}" y1="{base:.1f}" x2="{WIDTH - RIGHT}" y2="{base:.1f}" stroke="#9ca3af"/>')


def _legend(parts: list[str], names: Sequence[str], ref_lines: Sequence[RefLine]) -> None:
    """Swatches and names above the plot, wrapping onto a second row when they do not fit."""
    x, y = float(LEFT), 8.0

    def place(width: float) -> tuple[float, float]:
        nonlocal x, y
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + 13
        spot = (x, y)
        x += width
        return spot

    for i, name in enumerate(names):
        sx, sy = place(24 + 6 * len(name))
        parts.append(f'<rect x="{sx:.0f}" y="{sy:.0f}" width="9" height="9" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{sx + 13:.0f}" y="{sy + 8:.0f}" font-size="10" fill="#111827">{escape(name)}</text>')
    for ref in ref_lines:
        sx, sy = place(30 + 6 * len(ref.label))
        parts.append(
            f'<line x1="{sx:.0f}" y1="{sy + 4:.0f}" x2="{sx + 16:.0f}" y2="{sy + 4:.0f}" stroke="#111827" '
            f'stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{sx + 20:.0f}" y="{sy + 8:.0f}" font-size="10" fill="#111827">{escape(ref.label)}</text>'
        )


def _refs(parts: list[str], frame: _Frame, ref_lines: Sequence[RefLine], y_format: Formatter) -> None:
    for ref in ref_lines:
        y = frame.y(ref.value)
        parts.append(
            f'<line class="ref" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#111827" '
            f'stroke-dasharray="4 3"><title>{escape(ref.label)}: {escape(y_format(ref.value))}</title></line>'
        )


def _empty(parts: list[str]) -> SafeString:
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="13" text-anchor="middle" fill="#6b7280">No data yet</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_format: Formatter = number,
    ref_lines: Sequence[RefLine] = (),
    y_max: float | None = None,
) -> SafeString:
    """One polyline per series (gaps where a value is None) with a dot per point."""
    values = [v for s in series for v in s.values if v is not None]
    parts = _open(title, f"Line chart of {', '.join(s.name for s in series)} over {len(x_labels)} points")
    if not values:
        return _empty(parts)
    top = y_max if y_max is not None else _nice_max(max([*values, *(r.value for r in ref_lines)]))
    frame = _Frame(n=len(x_labels), y_max=top)
    _axes(parts, frame, x_labels, y_format)
    for index, one in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        run: list[str] = []
        segments: list[list[str]] = []
        for i, value in enumerate(one.values):
            if value is None:
                if run:
                    segments.append(run)
                run = []
                continue
            run.append(f"{frame.x(i):.1f},{frame.y(value):.1f}")
            parts.append(
                f'<circle class="point" cx="{frame.x(i):.1f}" cy="{frame.y(value):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(one.name)} {escape(x_labels[i])}: {escape(y_format(value))}</title></circle>"
            )
        if run:
            segments.append(run)
        for points in segments:
            if len(points) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>')
    _refs(parts, frame, ref_lines, y_format)
    _legend(parts, [s.name for s in series], ref_lines)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


def bar_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_format: Formatter = number,
    ref_lines: Sequence[RefLine] = (),
) -> SafeString:
    """Stacked bars: one bar per x label, one colour per series."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(x_labels))]
    parts = _open(title, f"Stacked bar chart of {', '.join(s.name for s in series)}")
    if not any(totals):
        return _empty(parts)
    frame = _Frame(n=len(x_labels), y_max=_nice_max(max([*totals, *(r.value for r in ref_lines)])))
    _axes(parts, frame, x_labels, y_format)
    bar = max(2.0, frame.plot_w / frame.n * 0.7)
    for i, label in enumerate(x_labels):
        bottom = 0.0
        for index, one in enumerate(series):
            value = one.values[i] or 0
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(bottom + value), frame.y(bottom)
            parts.append(
                f'<rect class="bar" x="{frame.x(i) - bar / 2:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                f'height="{max(0.5, y_bottom - y_top):.1f}" fill="{PALETTE[index % len(PALETTE)]}">'
                f"<title>{escape(one.name)} {escape(label)}: {escape(y_format(value))}</title></rect>"
            )
            bottom += value
    _refs(parts, frame, ref_lines, y_format)
    _legend(parts, [s.name for s in series], ref_lines)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)
