"""Charts drawn on the server (U-2): the geometry of simple bar charts, which the templates turn
into inline SVG. No script and no style attribute: the colours come from classes in a static
stylesheet (offboarding/static/offboarding/dashboard.css), so the Content-Security-Policy stays as
it is. Each chart carries a sentence with its numbers (`summary`) for its aria-label, and the
templates show the numbers as a table too.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

LABEL_WIDTH = 150
BAR_AREA = 260
VALUE_WIDTH = 50
BAR_HEIGHT = 18
BAR_GAP = 8


def _scale(value: int, largest: int, length: float) -> float:
    return round(length * value / largest, 1) if largest else 0.0


def horizontal_bars(rows: list[tuple[str, str, int]]) -> dict:
    """One bar per row of (key, label, value): the key names the bar's colour class."""
    largest = max((value for _key, _label, value in rows), default=0)
    bars = []
    for index, (key, label, value) in enumerate(rows):
        y = index * (BAR_HEIGHT + BAR_GAP)
        length = _scale(value, largest, BAR_AREA)
        bars.append(
            {
                "key": key,
                "label": label,
                "value": value,
                "y": y,
                "text_y": y + BAR_HEIGHT - 5,
                "x": LABEL_WIDTH,
                "width": max(length, 1.0 if value else 0.0),
                "value_x": LABEL_WIDTH + length + 6,
            }
        )
    return {
        "width": LABEL_WIDTH + BAR_AREA + VALUE_WIDTH,
        "height": max(len(rows) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP, BAR_HEIGHT),
        "label_x": LABEL_WIDTH - 6,
        "bar_height": BAR_HEIGHT,
        "bars": bars,
        "total": sum(value for _key, _label, value in rows),
        "summary": "; ".join(f"{label}: {value}" for _key, label, value in rows),
    }


COLUMN_WIDTH = 26
COLUMN_GAP = 12
PLOT_HEIGHT = 160
AXIS_SPACE = 20
TOP_SPACE = 16


def stacked_columns(labels: list[str], short_labels: list[str], series: list[dict]) -> dict:
    """One column per label, stacked by series ({"key", "label", "values"}, one value per
    label): exits per month by kind."""
    totals = [sum(item["values"][index] for item in series) for index in range(len(labels))]
    largest = max(totals, default=0)
    columns = []
    for index, label in enumerate(labels):
        x = index * (COLUMN_WIDTH + COLUMN_GAP)
        top = TOP_SPACE + PLOT_HEIGHT
        segments = []
        for item in series:
            value = item["values"][index]
            if not value:
                continue
            height = _scale(value, largest, PLOT_HEIGHT)
            top -= height
            segments.append({"key": item["key"], "y": round(top, 1), "height": height})
        columns.append(
            {
                "label": label,
                "short_label": short_labels[index],
                "x": x,
                "center": x + COLUMN_WIDTH / 2,
                "segments": segments,
                "total": totals[index],
                "total_y": round(top - 4, 1),
            }
        )
    parts = []
    for index, label in enumerate(labels):
        kinds = ", ".join(
            f"{item['label']} {item['values'][index]}" for item in series if item["values"][index]
        )
        parts.append(f"{label}: {totals[index]}" + (f" ({kinds})" if kinds else ""))
    return {
        "width": len(labels) * (COLUMN_WIDTH + COLUMN_GAP),
        "height": TOP_SPACE + PLOT_HEIGHT + AXIS_SPACE,
        "baseline": TOP_SPACE + PLOT_HEIGHT,
        "axis_y": TOP_SPACE + PLOT_HEIGHT + 14,
        "column_width": COLUMN_WIDTH,
        "columns": columns,
        "series": series,
        "labels": labels,
        "rows": [
            {"label": label, "values": [item["values"][index] for item in series]}
            for index, label in enumerate(labels)
        ],
        "total": sum(totals),
        "summary": "; ".join(parts) if largest else _("none"),
    }
