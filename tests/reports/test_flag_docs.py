"""Every flag code is explained twice, and the two must agree on which codes exist:
docs/flags.md for people reading the docs, reports/flags.py inside the HTML report."""

from __future__ import annotations

import re
from pathlib import Path

from robustedge.attacks import sanity
from robustedge.reports.flags import EXPLANATIONS

REPO = Path(__file__).resolve().parents[2]


def _documented_codes() -> set[str]:
    text = (REPO / "docs" / "flags.md").read_text()
    headings = re.findall(r"^## `([a-z_]+)`", text, flags=re.M)
    listed = re.findall(r"^- `([a-z_]+)` \(`(?:info|warning|error)`\)", text, flags=re.M)
    return set(headings) | set(listed)


def _emitted_by_the_service() -> set[str]:
    codes = set()
    for path in (REPO / "service").glob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'"code": "([a-z_]+)"', text))
        codes |= set(re.findall(r'_flag\(\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'sanity\.flag\(\s*"([a-z_]+)"', text))
    return codes


def test_docs_and_report_explain_the_same_codes():
    assert _documented_codes() == set(EXPLANATIONS)


def test_every_code_the_service_and_attack_suite_emit_is_explained():
    emitted = _emitted_by_the_service() | set(sanity.CODES)
    assert emitted, "no flag codes found: the pattern is stale"
    assert emitted <= set(EXPLANATIONS), emitted - set(EXPLANATIONS)
