"""The robustness-aware search in the HTML page, the Markdown comment and the
terminal summary (issue 11's report section), and two-method layer sensitivity."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
from report_fixture import PRUNE_50, QUANTIZE_LAYER, build_report, build_search_report
from test_html import (
    _chart_texts,
    _chromium_or_skip,
    _Structure,
    external_references,
    screenshot_of,
)

from robustedge.client import render
from robustedge.reports import render_html
from robustedge.v1 import evaluation_pb2 as pb

GOLDEN = Path(__file__).resolve().parent / "golden"
CHART_TITLE = "Search: robust accuracy under pgd (eps 0.05) against latency and size"


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(build_search_report())


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def _rows(fragment: str, table_class: str = "") -> list[list[str]]:
    """Text of each body row's cells in the first table after ``table_class``."""
    start = fragment.index(f'<table class="{table_class}">') if table_class else 0
    body = fragment[fragment.index("<tbody>", start) : fragment.index("</tbody>", start)]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell))
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    ]


# -- HTML ---------------------------------------------------------------------------


def test_search_section_is_in_the_page_and_the_nav(page: str) -> None:
    assert '<section id="search">' in page
    assert 'href="#search"' in page
    assert external_references(page) == []
    structure = _Structure()
    structure.feed(page)
    assert structure.errors == [] and structure.stack == []
    assert len(structure.ids) == len(set(structure.ids))


def test_verdict_chosen_variant_and_budgets(page: str) -> None:
    section = _section(page, "search")
    assert '<p class="verdict">searched keeps 0.393 robust accuracy' in section
    assert "Chosen variant: <b>searched</b>" in section
    assert "<code>prune channel 0.2 r8 → quantize static</code>" in section
    facts = html.unescape(re.sub(r"<[^>]+>", " ", section[section.index('<dl class="facts">') :]))
    for text in (
        "robust accuracy under pgd at ε = 0.05",
        "at most 0.020 below base",
        "≤ 0.50× of base (file bytes)",
        "≤ 0.80× of base's CPU p50 at batch 128",
        "9 (1 reused) in 184.3 s",
        "evaluation budget (9) used",
        "clean 0.950, robust 0.342",
    ):
        assert text in facts, text


def test_comparison_table_highlights_the_chosen_variant(page: str) -> None:
    section = _section(page, "search")
    rows = _rows(section[section.index("Against the plain presets") :])
    assert [row[0] for row in rows] == ["int8-static", "int8-dynamic", "channel-l2-30", "searched"]
    assert rows[0][1:] == ["int8", "0.950", "0.300", "0.33×", "0.63×", "✓"]
    assert rows[1][-1] == "✗"
    assert '<tr class="chosen"><td><b>searched</b></td>' in section


def test_comparison_without_latency_says_not_measured() -> None:
    report = build_search_report()
    report.search.comparison[1].latency_ratio = 0.0
    section = _section(render_html(report), "search")
    assert _rows(section[section.index("Against the plain presets") :])[1][5] == "not measured"
    assert "Not plotted (failed or latency not measured): c06, int8-dynamic." in section


def test_candidates_table(page: str) -> None:
    rows = _rows(_section(page, "search"), "candidates")
    assert [row[0] for row in rows] == [f"c0{i}" for i in range(1, 10)]
    header = ["Candidate", "Origin", "Steps", "Clean acc.", "Robust acc.", "Size ratio",
              "Latency ratio", "Within budgets", "Front", "Chosen", "Reused", "Error"]  # fmt: skip
    assert all(len(row) == len(header) for row in rows)
    chosen = rows[4]
    assert chosen[1:10] == ["mutation of c01", "prune channel 0.2 r8 → quantize static", "0.945",
                            "0.408", "0.27×", "0.55×", "✓", "●", "chosen"]  # fmt: skip
    failed = rows[5]
    assert failed[2] == "prune channel 0.3 r8 +ft 200 steps → quantize static"
    assert failed[3:7] == ["—"] * 4 and failed[7] == "failed"
    assert failed[-1].startswith("RuntimeError: fine-tuning diverged")
    assert rows[1][2] == "prune channel 0.3"  # round_to 1 and criterion l2 are defaults
    assert rows[3][2] == "cluster 16 → quantize static"
    assert rows[6][2] == "prune channel 0.1/0.4/0.25 r16 → quantize dynamic 1 layer kept float"
    assert rows[7][10] == "reused"
    assert rows[2][7] == "✗" and rows[2][8] == ""  # over the clean-drop limit, off the front


def test_chart_shows_candidates_comparison_and_budget(page: str) -> None:
    section = _section(page, "search")
    assert f'aria-label="{CHART_TITLE}"' in section
    texts = set(_chart_texts(page, CHART_TITLE))
    assert {"chosen (c05)", "c01", "c02", "c07", "base"} <= texts
    assert {"int8-static", "int8-dynamic", "channel-l2-30", "searched"} <= texts
    assert "latency budget ≤ 0.80×" in texts
    assert "chosen: c05 → searched" in texts
    assert "int8-static, int8 (evaluation samples)" in texts
    caption = section[section.index("<figcaption>") : section.index("</figcaption>")]
    assert "Candidates were scored on the validation split (120 holdout samples)" in caption
    assert "the comparison variants on the 300 evaluation samples" in caption
    assert "c06" in caption  # the failed candidate cannot be placed


def test_no_latency_budget_draws_no_budget_line() -> None:
    report = build_search_report()
    report.search.max_latency_ratio = 0.0
    page = render_html(report)
    assert not any("latency budget" in text for text in _chart_texts(page, CHART_TITLE))
    assert "no budget" in _section(page, "search")


def test_no_candidate_met_the_budgets() -> None:
    report = build_search_report()
    report.search.variant = ""
    report.search.verdict = "No candidate met the budgets; the plain int8-static is within them."
    for candidate in report.search.candidates:
        candidate.chosen = False
    del report.search.comparison[3]
    page = render_html(report)
    section = _section(page, "search")
    assert "<b>No candidate met the budgets.</b>" in section
    assert "Chosen variant" not in section
    assert 'class="chosen"' not in section
    assert "chosen (" not in " ".join(_chart_texts(page, CHART_TITLE))
    markdown = render.to_markdown(report)
    assert "No candidate met the clean-accuracy constraint and the budgets" in markdown
    lines = render.summary_lines(report)
    assert "search: no candidate met the clean-accuracy constraint and the budgets" in lines


def test_search_not_run_says_how_to_enable_it() -> None:
    section = _section(render_html(build_report()), "search")
    assert "<code>search: {}</code>" in section
    assert "<code>--preset robust-search</code>" in section
    assert "<svg" not in section


def test_search_without_candidates_or_comparison_renders() -> None:
    report = build_report()
    report.search.attack, report.search.epsilon = "pgd", 0.05
    report.search.stopped_because = "time budget (600 s) used"
    section = _section(render_html(report), "search")
    assert "No candidate met the budgets" in section
    assert "The search evaluated no candidate." in section
    assert "<svg" not in section
    assert "### Robustness-aware search" in render.to_markdown(report)


def test_sensitivity_groups_rows_by_method(page: str) -> None:
    section = _section(page, "sensitivity")
    assert f"<h3>{PRUNE_50}</h3>" in section and f"<h3>{QUANTIZE_LAYER}</h3>" in section
    first = section[section.index(f"<h3>{PRUNE_50}</h3>") : section.index(f"<h3>{QUANTIZE_LAYER}")]
    assert {row[2] for row in _rows(first)} == {PRUNE_50}
    title = (
        "Layer sensitivity: robust accuracy change under pgd (eps 0.05) when only that layer "
        "is changed, per method"
    )
    texts = _chart_texts(page, title)
    assert PRUNE_50 in texts and QUANTIZE_LAYER in texts
    # The layer axis is ordered by each layer's worst change over both methods.
    layers = [text for text in texts if text.endswith(("(Conv)", "(Gemm)"))]
    assert layers == ["conv2.weight (Conv)", "fc1.weight (Gemm)", "conv1.weight (Conv)",
                      "fc2.weight (Gemm)"]  # fmt: skip


def test_single_method_sensitivity_keeps_one_table() -> None:
    report = build_search_report()
    kept = [row for row in report.sensitivity if row.method == PRUNE_50]
    del report.sensitivity[:]
    report.sensitivity.extend(kept)
    page = render_html(report)
    section = _section(page, "sensitivity")
    assert "<h3>" not in section and section.count("<table") == 1
    assert "when only that layer is pruned" in page
    markdown = render.to_markdown(report)
    assert "when only one layer of the base model is pruned" in markdown
    assert f"**{PRUNE_50}**" not in markdown


# -- Markdown and terminal ----------------------------------------------------------


def test_markdown_golden_with_search() -> None:
    actual = render.to_markdown(build_search_report())
    path = GOLDEN / "report_search.md"
    if os.environ.get("ROBUSTEDGE_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), (
        "report_search.md differs; regenerate with ROBUSTEDGE_UPDATE_GOLDEN=1 and review"
    )


def test_markdown_search_part(search_report: pb.Report) -> None:
    text = render.to_markdown(search_report)
    part = text[text.index("### Robustness-aware search") : text.index("### Latency")]
    assert "**searched keeps 0.393 robust accuracy" in part
    assert (
        "Chosen variant: `searched` (candidate c05: prune channel 0.2 r8 → quantize static)" in part
    )
    assert "latency: ≤ 0.80× of base's CPU p50 at batch 128" in part
    assert "| **searched** | searched | 0.947 | 0.393 | 0.27× | 0.56× | ✓ |" in part
    assert "| int8-dynamic | int8 | 0.951 | 0.310 | 0.30× | 0.93× | ✗ |" in part
    assert "scored on 120 validation samples; the comparison on the 300 evaluation" in part
    assert f"**{PRUNE_50}**" in text and f"**{QUANTIZE_LAYER}**" in text


def test_markdown_without_search_has_no_search_part(report: pb.Report) -> None:
    assert "Robustness-aware search" not in render.to_markdown(report)
    assert not any(line.startswith("search:") for line in render.summary_lines(report))


def test_summary_lines_with_search(search_report: pb.Report) -> None:
    lines = render.summary_lines(search_report)
    start = next(i for i, line in enumerate(lines) if line.startswith("search:"))
    part = lines[start : start + 3]
    assert part[0] == (
        "search: chose searched (c05: prune channel 0.2 r8 → quantize static), robust accuracy "
        "0.408 vs base 0.342 under pgd eps=0.05 (validation), size 0.27×, latency 0.55× of base"
    )
    assert part[1] == (
        "  9 candidates (1 reused) in 184.3 s, clean drop <= 0.020, size <= 0.50x, "
        "latency <= 0.80x at batch 128; stopped: evaluation budget (9) used"
    )
    assert part[2].startswith("  searched keeps 0.393")
    assert not lines[start + 3].startswith("  ")  # the search part is three lines


# -- a real browser -----------------------------------------------------------------


def test_search_section_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    """Renders the page's head (inline CSS) with the search and sensitivity sections
    only, and keeps the screenshot in test-artifacts/report_search.png."""
    chromium = _chromium_or_skip()
    head = page[: page.index("<main>") + len("<main>")]
    sections = f"<section{_section(page, 'search')[8:]}</section>"
    sections += f"<section{_section(page, 'sensitivity')[8:]}</section>"
    page = head + sections + "</main></body></html>\n"
    profile = tmp_path / "profile"
    pixels = screenshot_of(chromium, page, "report_search", height=3000, profile=profile)
    assert pixels.shape[:2] == (3000, 1280)

    def count(color: str) -> int:
        rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        return int((abs(pixels - rgb).max(axis=-1) < 0.03).sum())

    assert count("#E69F00") > 100  # the chosen candidate's star
    assert count("#fff4d6") > 2000  # the highlighted chosen rows
    assert count("#b2182b") > 2000  # sensitivity bars
