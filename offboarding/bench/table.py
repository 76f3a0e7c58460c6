"""The benchmark's table: rows with their figure, the limit or peer measured beside it, the ratio
between them, the goal and whether it is met; printed as text and written as JSON."""

import json
import math
import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class Limit:
    """What a figure is compared with, measured in the same run: a limit (the hardware, the same
    work done by hand) or a peer (the same door without contention)."""

    what: str
    value: float | None
    note: str = ""


@dataclass
class Row:
    """One measured figure. `value` is in `unit` (a rate per second, or milliseconds); `runs` how
    many runs its median is of; `queries` the SQL queries of one run, where counted; `note` any
    second figure (a p95, a page's size). `goal` says what the figure should reach, `met` whether
    it does (None: no goal); `limits` what it is measured beside, the first one giving the ratio."""

    key: str
    what: str
    size: str = ""
    value: float | None = None
    unit: str = ""
    runs: int = 0
    queries: int | None = None
    note: str = ""
    limits: list[Limit] = field(default_factory=list)
    goal: str = ""
    met: bool | None = None
    unavailable: str = ""  # why there is no figure ("PostgreSQL only")

    def ratio(self, limit: Limit) -> float | None:
        """The figure as a percentage of the limit (for times: of the limit's time)."""
        if self.value is None or not limit.value:
            return None
        return 100 * self.value / limit.value

    def as_dict(self) -> dict:
        data = asdict(self)
        data["limits"] = [
            {**asdict(limit), "ratio_percent": _round(self.ratio(limit))} for limit in self.limits
        ]
        data["value"] = _round(self.value)
        return data


def _round(value):
    if value is None:
        return None
    return round(value, 3 if abs(value) < 100 else 1)


def median(values) -> float:
    return statistics.median(values)


def percentile(values, share: float) -> float:
    """The `share` (0–1) percentile of `values`, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def figure(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:,.0f} {unit}"


def render(rows: list[Row], header: list[str]) -> str:
    """The table as text: one line per row, one more per limit after the first."""
    columns = (
        "operation",
        "size",
        "figure",
        "runs",
        "queries",
        "limit / peer",
        "ratio",
        "goal",
        "met",
    )
    lines = []
    for row in rows:
        first = row.limits[0] if row.limits else None
        value = row.unavailable or figure(row.value, row.unit)
        if row.note:
            value = f"{value} ({row.note})" if value else row.note
        met = "" if row.met is None else ("met" if row.met else "MISSED")
        lines.append(
            (
                row.what,
                row.size,
                value,
                str(row.runs) if row.runs else "",
                "" if row.queries is None else str(row.queries),
                _limit_text(first, row.unit),
                _ratio_text(row, first),
                row.goal,
                met,
            )
        )
        for limit in row.limits[1:]:
            lines.append(
                ("", "", "", "", "", _limit_text(limit, row.unit), _ratio_text(row, limit), "", "")
            )
    widths = [max(len(c), *(_width(line[i]) for line in lines)) for i, c in enumerate(columns)]
    out = list(header)
    out.append("  ".join(_pad(c, widths[i]) for i, c in enumerate(columns)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(_pad(cell, widths[i]) for i, cell in enumerate(line)).rstrip())
    return "\n".join(out) + "\n"


def _limit_text(limit: Limit | None, unit: str) -> str:
    if limit is None:
        return ""
    text = f"{limit.what} {figure(limit.value, unit)}".strip()
    return f"{text} ({limit.note})" if limit.note else text


def _ratio_text(row: Row, limit: Limit | None) -> str:
    ratio = row.ratio(limit) if limit is not None else None
    return "" if ratio is None else f"{ratio:,.1f} %"


def _width(text: str) -> int:
    """Columns the text takes on a terminal: a CJK character takes two."""
    return sum(2 if "\u2e80" <= char <= "\uffef" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def write_json(path, *, machine: dict, sizes: dict, rows: list[Row], seconds: float) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(
            {
                "machine": machine,
                "sizes": sizes,
                "seconds": round(seconds, 1),
                "rows": [row.as_dict() for row in rows],
            },
            file,
            ensure_ascii=False,
            indent=2,
        )
        file.write("\n")
