"""Pages and tables the steps write as artifacts (Markdown, self-contained HTML)."""

from __future__ import annotations

import math
from typing import Any


def objective_plot_html(trials, metric: str, maximize: bool, algorithm: str) -> str:
    """The objective of every trial and the best so far, as a self-contained SVG (no scripts)."""
    width, height, pad = 640, 320, 48
    points = [(t.number, t.value if t.value is not None else (max(t.intermediate_values.items())[1] if t.intermediate_values else None),
               t.state.name.lower()) for t in sorted(trials, key=lambda t: t.number)]
    points = [p for p in points if p[1] is not None and math.isfinite(p[1])]
    if not points:
        return f"<html><body><h1>Tuning: {algorithm}</h1><p>No trial reported a value.</p></body></html>"
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    span = (high - low) or 1.0
    last = max(p[0] for p in points) or 1

    def x(n: int) -> float:
        return pad + (width - 2 * pad) * n / last

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - low) / span

    best, best_path = None, []
    for number, value, state in points:
        if state == "complete" and (best is None or (value > best if maximize else value < best)):
            best = value
        if best is not None:
            best_path.append(f"{x(number):.1f},{y(best):.1f}")
    dots = "".join(
        f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="5" fill="{"#1f77b4" if s == "complete" else "#bbbbbb"}">'
        f"<title>trial {n}: {v:.4f} ({s})</title></circle>" for n, v, s in points
    )
    return (
        f"<html><body><h1>Tuning: {algorithm}, {metric} per trial</h1>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="objective per trial">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>'
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">trial</text>'
        f'<text x="8" y="{pad - 12}">{metric} {high:.4f}</text><text x="8" y="{height - pad + 16}">{low:.4f}</text>'
        f'<polyline points="{" ".join(best_path)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>{dots}</svg>'
        "<p>Blue: completed trials; grey: stopped early by the median rule (last reported value); "
        "orange: best completed so far.</p></body></html>"
    )



def trials_markdown(table: list[dict[str, Any]], metric: str, algorithm: str, best: int) -> str:
    columns = list(dict.fromkeys(k for row in table for k in row))
    lines = [f"# Tuning: {algorithm}, objective {metric}", "", f"Best trial: **{best}**", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table:
        cells = [f"{row.get(c):.4g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

