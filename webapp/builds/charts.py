"""Chart geometry for the dashboard page: templates draw these as inline SVG, no JavaScript needed.

Every function takes dashboard data (see dashboard.py) and returns plain shapes in a fixed
viewBox; colours come from CSS classes (`bar-succeeded`, `line-rate`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 30
RESULT_ORDER = ("succeeded", "failed", "cancelled", "in_progress")


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    rects: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    points: str = ""
    empty: bool = False


def _nice_max(value: float) -> int:
    for step in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000):
        if value <= step:
            return step
    return int(value) + 1


def _axis(chart: Chart, maximum: float, label: str = "") -> None:
    inner = chart.height - TOP - BOTTOM
    for fraction in (0, 0.5, 1):
        y = TOP + inner - inner * fraction
        chart.lines.append({"x1": LEFT, "y1": y, "x2": chart.width - RIGHT, "y2": y, "cls": "gridline"})
        value = maximum * fraction
        text = f"{value:.0%}" if label == "%" else f"{value:g}"
        chart.labels.append({"x": LEFT - 4, "y": y + 3, "text": text, "anchor": "end"})


def builds_per_day(per_day: list[dict[str, Any]]) -> Chart:
    """Stacked bars: builds started each day, split by result."""
    chart = Chart()
    if not per_day or not any(d["total"] for d in per_day):
        chart.empty = True
        return chart
    maximum = _nice_max(max(d["total"] for d in per_day))
    _axis(chart, maximum)
    inner_w = chart.width - LEFT - RIGHT
    inner_h = chart.height - TOP - BOTTOM
    slot = inner_w / len(per_day)
    for i, day in enumerate(per_day):
        x = LEFT + i * slot + slot * 0.1
        y = TOP + inner_h
        for result in RESULT_ORDER:
            height = inner_h * day[result] / maximum
            if height <= 0:
                continue
            y -= height
            chart.rects.append({"x": round(x, 1), "y": round(y, 1), "width": round(slot * 0.8, 1),
                                "height": round(height, 1), "cls": f"bar-{result}",
                                "title": f"{day['day']}: {day[result]} {result.replace('_', ' ')}"})
        if i % 5 == 0 or i == len(per_day) - 1:
            chart.labels.append({"x": round(x + slot * 0.4, 1), "y": chart.height - 10, "text": day["day"][5:],
                                 "anchor": "middle"})
    return chart


def success_trend(per_day: list[dict[str, Any]]) -> Chart:
    """A line: each day's success rate (days without finished builds are skipped)."""
    chart = Chart()
    known = [(i, d) for i, d in enumerate(per_day) if d.get("success_rate") is not None]
    if not known:
        chart.empty = True
        return chart
    _axis(chart, 1, "%")
    inner_w = chart.width - LEFT - RIGHT
    inner_h = chart.height - TOP - BOTTOM
    step = inner_w / max(len(per_day) - 1, 1)
    coords = []
    for i, day in known:
        x = round(LEFT + i * step, 1)
        y = round(TOP + inner_h - inner_h * day["success_rate"], 1)
        coords.append(f"{x},{y}")
        chart.rects.append({"x": x - 2, "y": y - 2, "width": 4, "height": 4, "cls": "dot-rate",
                            "title": f"{day['day']}: {day['success_rate']:.0%}"})
    chart.points = " ".join(coords)
    for i in (0, len(per_day) // 2, len(per_day) - 1):
        chart.labels.append({"x": round(LEFT + i * step, 1), "y": chart.height - 10, "text": per_day[i]["day"][5:],
                             "anchor": "middle"})
    return chart


def horizontal_bars(items: list[dict[str, Any]], value: str, label: str, unit: str = "",
                    css: str = "bar-neutral") -> Chart:
    """One bar per item, longest first, with its value at the end."""
    row = 26
    chart = Chart(height=max(len(items), 1) * row + 10)
    if not items:
        chart.empty = True
        return chart
    maximum = max(item[value] or 0 for item in items) or 1
    left = 170
    inner_w = chart.width - left - 70
    for i, item in enumerate(items):
        y = 5 + i * row
        width = inner_w * (item[value] or 0) / maximum
        chart.labels.append({"x": left - 6, "y": y + 15, "text": str(item[label])[:28], "anchor": "end"})
        chart.rects.append({"x": left, "y": y + 3, "width": round(max(width, 1), 1), "height": row - 8, "cls": css,
                            "title": f"{item[label]}: {_format(item[value], unit)}"})
        chart.labels.append({"x": round(left + width + 6, 1), "y": y + 15, "text": _format(item[value], unit),
                             "anchor": "start"})
    return chart


def _format(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "duration":
        minutes, seconds = divmod(int(value), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"
    return f"{value}{unit}"
