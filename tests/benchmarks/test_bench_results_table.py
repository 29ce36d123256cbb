"""The benchmark harness's table and JSON writer (benchmarks/results_table.py), in seconds.

The benchmarks themselves take minutes (``make bench``); this checks only that what
they hand over is written faithfully: statuses, ERROR rows that are kept, missed
targets that carry their explanation, and a JSON file that reads back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from results_table import (  # noqa: E402
    ERROR,
    INFO,
    MET,
    MISSED,
    Row,
    at_least,
    at_most,
    failed_rows,
    load_rows,
    markdown,
    save_rows,
    within,
    write,
)

HEADER = {"date": "2026-01-01 00:00 UTC", "machine": "test CPU, 2 cores", "wall_seconds": 1.0}


def rows() -> list[Row]:
    return [
        Row("1a", "bridge vs native", 0.95, target=at_least(0.9), detail="a | b"),
        Row("3", "vs lower bound", 4.2, target=at_most(2.0), why_missed="eager torch"),
        Row("4", "latency p50 ratio", 1.06, target=within(0.05)),
        Row("7c", "jobs per minute", 12.5, unit="jobs/min"),
        *failed_rows([("1b", "vs torchattacks and ART")], "torchattacks: not installed"),
    ]


def test_status_follows_the_target() -> None:
    assert [row.status for row in rows()] == [MET, MISSED, MISSED, INFO, ERROR]
    assert within(0.05).holds(0.951) and not within(0.05).holds(0.949)
    assert Row("x", "nan", float("nan")).status == ERROR


def test_markdown_keeps_errors_and_explains_misses() -> None:
    text = markdown(rows(), HEADER)
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 2 + len(rows())  # header, rule, every row (the failed one too)
    ids = [line.split("|")[1].strip() for line in table[2:]]
    assert ids == ["1a", "1b", "3", "4", "7c"]  # the numbering, not the run order
    assert any("| 1b |" in line and "ERROR" in line and "not installed" in line for line in table)
    assert "a \\| b" in text  # a pipe in a detail cannot break the table
    assert "- **3** eager torch" in text
    assert "- **4** NOT YET ANALYSED" in text  # an unexplained miss is flagged, not hidden
    assert "test CPU, 2 cores" in lines[0] and "2026-01-01" in lines[0]


def test_write_and_read_back(tmp_path: Path) -> None:
    text = write(rows(), HEADER, tmp_path)
    assert (tmp_path / "latest.md").read_text() == text
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["machine"] == HEADER["machine"]
    assert [row["status"] for row in document["rows"]] == [MET, MISSED, MISSED, INFO, ERROR]
    save_rows(rows(), tmp_path / "figure.raw.json")
    again = load_rows(tmp_path / "figure.raw.json")
    assert [(r.id, r.value, r.status, r.target) for r in again] == [
        (r.id, r.value, r.status, r.target) for r in rows()
    ]
