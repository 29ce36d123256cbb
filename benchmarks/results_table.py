"""Benchmark rows, their targets, and the two files a run leaves: JSON and Markdown.

Every figure of issue 10 is a *ratio* measured in one run (the machines are shared and
noisy, absolute seconds drift), so a row carries one number, the target it is held
to, and the absolute figures behind it as free text. A row that could not be measured
carries an ``error`` instead of a value: it is printed as ERROR, never left out.
A row that misses its target carries ``why_missed`` (why, and what would close it);
the writer refuses to present an unexplained miss as if it were fine.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MET, MISSED, INFO, ERROR = "met", "MISSED", "info", "ERROR"


@dataclass(frozen=True)
class Target:
    """``low <= value <= high``; either bound may be absent. ``text`` is what people read."""

    text: str
    low: float | None = None
    high: float | None = None

    def holds(self, value: float) -> bool:
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)


def at_least(bound: float, unit: str = "x") -> Target:
    return Target(f">= {bound:g}{unit}", low=bound)


def at_most(bound: float, unit: str = "x") -> Target:
    return Target(f"<= {bound:g}{unit}", high=bound)


def within(relative: float, of: float = 1.0) -> Target:
    return Target(
        f"within {relative:.0%} of {of:g}", low=of * (1 - relative), high=of * (1 + relative)
    )


@dataclass
class Row:
    """One measured figure. ``value`` is None exactly when ``error`` says why."""

    id: str  # "1a", "5", ...: the figure number plus a letter per row
    figure: str
    value: float | None
    unit: str = "x"
    target: Target | None = None
    detail: str = ""  # the absolute numbers behind the ratio, the method in a phrase
    why_missed: str = ""  # filled from explanations when the target is missed
    error: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.error or self.value is None or not math.isfinite(self.value):
            return ERROR
        if self.target is None:
            return INFO
        return MET if self.target.holds(self.value) else MISSED

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        data = {k: v for k, v in data.items() if k != "status"}
        target = data.pop("target", None)
        return cls(**data, target=Target(**target) if target else None)


def failed_rows(ids_and_figures: list[tuple[str, str]], error: str) -> list[Row]:
    """Rows for figures whose benchmark could not run: shown as ERROR with the reason."""
    return [Row(id=i, figure=f, value=None, error=error) for i, f in ids_and_figures]


def format_value(row: Row) -> str:
    if row.value is None:
        return "—"
    magnitude = abs(row.value)
    digits = 3 if magnitude < 10 else 1 if magnitude < 1000 else 0
    return f"{row.value:.{digits}f} {row.unit}".strip()


def _cell(text: str) -> str:
    # A pipe or a newline would break the Markdown table.
    return " ".join(text.replace("|", "\\|").split())


def figure_order(row: Row) -> tuple[int, str]:
    """1a, 1b, ..., 3, ..., 8: the issue's numbering, whatever order the figures ran in."""
    digits = "".join(ch for ch in row.id if ch.isdigit())
    return (int(digits) if digits else 0, row.id)


def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    """The table the README's performance section shows, with its provenance."""
    rows = sorted(rows, key=figure_order)
    load = ""
    if "load_average_before" in header:  # how loaded the shared machine was
        load = (
            f"; 1-min load average {header['load_average_before'][0]} before, "
            f"{header['load_average_after'][0]} after"
        )
    lines = [
        f"Measured {header['date']} on {header['machine']} "
        f"(`make bench`, {header['wall_seconds']:.0f} s{load}).",
        "",
        "| # | figure | measured | target | status | detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        detail = row.error if row.status == ERROR else row.detail
        lines.append(
            f"| {row.id} | {_cell(row.figure)} | {format_value(row)} "
            f"| {_cell(row.target.text) if row.target else '—'} | {row.status} "
            f"| {_cell(detail)} |"
        )
    misses = [row for row in rows if row.status == MISSED]
    if misses:
        lines += ["", "Targets missed — why, and what would close the gap:", ""]
        lines += [
            f"- **{row.id}** {row.why_missed or 'NOT YET ANALYSED: no explanation recorded.'}"
            for row in misses
        ]
    errors = [row for row in rows if row.status == ERROR]
    if errors:
        lines += ["", f"{len(errors)} figure(s) could not be measured (ERROR rows above)."]
    return "\n".join(lines) + "\n"


def write(rows: list[Row], header: dict[str, Any], out_dir: Path, stem: str = "latest") -> str:
    """Writes ``<stem>.json`` and ``<stem>.md`` under ``out_dir``; returns the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {**header, "rows": [row.to_json() for row in rows]}
    (out_dir / f"{stem}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    text = markdown(rows, header)
    (out_dir / f"{stem}.md").write_text(text)
    return text


def save_rows(rows: list[Row], path: Path) -> None:
    """What one figure script hands to the runner (``benchmarks/run.py``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([row.to_json() for row in rows], indent=2, default=str) + "\n")


def load_rows(path: Path) -> list[Row]:
    return [Row.from_json(item) for item in json.loads(path.read_text())]
