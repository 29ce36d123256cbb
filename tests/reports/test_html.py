"""The self-contained HTML report: structure, offline-ness and a real browser render."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from report_fixture import build_report

from robustedge.reports import render_html
from robustedge.v1 import evaluation_pb2 as pb

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("ROBUSTEDGE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def page() -> str:
    """The fixture report's page, rendered once (matplotlib takes about a second)."""
    return render_html(build_report())


# -- offline: no external reference of any kind --------------------------------------

_EXTERNAL = [
    (re.compile(r"(?i)\b(?:https?|ftp|wss?):"), "absolute URL"),
    (
        re.compile(r"""(?i)\b(?:src|href|xlink:href|action|poster)\s*=\s*["']?\s*//"""),
        "protocol-relative URL",
    ),
    (re.compile(r"(?i)@import"), "CSS @import"),
    (re.compile(r"""(?i)url\(\s*(?!["']?\s*#)"""), "CSS url() not pointing into the page"),
    (
        re.compile(r"(?i)<\s*(?:script|link|img|iframe|object|embed|image|base)\b"),
        "element that loads",
    ),
    (re.compile(r"""(?i)\bsrc\s*="""), "src attribute"),
    (re.compile(r"""(?i)\bhref\s*=\s*(?!["']?#)"""), "link that leaves the page"),
]


def external_references(document: str) -> list[str]:
    """Every construct in ``document`` that could make a browser fetch something."""
    found = []
    for pattern, what in _EXTERNAL:
        for match in pattern.finditer(document):
            start = max(0, match.start() - 30)
            found.append(f"{what}: ...{document[start : match.end() + 30]}...")
    return found


def test_page_references_no_external_url(page: str) -> None:
    assert external_references(page) == []


@pytest.mark.parametrize(
    "snippet",
    [
        '<a href="https://example.org/x">x</a>',
        '<img src="//cdn.example.org/a.png">',
        "<style>@import 'fonts.css';</style>",
        "<style>body { background: url(bg.png) }</style>",
        '<script src="app.js"></script>',
        '<link rel="stylesheet" href="style.css">',
        '<svg><use xlink:href="sprite.svg#a"/></svg>',
    ],
)
def test_the_external_check_catches(snippet: str) -> None:
    assert external_references(snippet), snippet


def test_internal_references_are_allowed() -> None:
    assert external_references('<a href="#model">m</a><path clip-path="url(#c1-p1)"/>') == []


# -- structure ----------------------------------------------------------------------


class _Structure(HTMLParser):
    """Collects ids and checks that non-void elements are closed in order."""

    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "hr",
        "img",
        "input",
        "link",
        "area",
        "base",
        "col",
        "source",
        "wbr",
    }
    # Inline SVG elements written as <x/> are self-closing.

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value for name, value in attrs if name == "id" and value]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value for name, value in attrs if name == "id" and value]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def test_page_is_well_formed_with_unique_ids(page: str) -> None:
    structure = _Structure()
    structure.feed(page)
    assert structure.errors == []
    assert structure.stack == []
    duplicates = {i for i in structure.ids if structure.ids.count(i) > 1}
    assert duplicates == set()


def test_page_has_every_section(page: str) -> None:
    for anchor in ("summary", "model", "variants", "robustness", "transfer", "sensitivity",
                   "latency", "tradeoff", "search", "flags", "environment"):  # fmt: skip
        assert f'<section id="{anchor}">' in page
        assert f'href="#{anchor}"' in page


def test_page_has_the_charts(page: str) -> None:
    titles = re.findall(r'<svg\b[^>]*aria-label="([^"]*)"', page)
    assert titles == [
        "Robust accuracy under fgsm (linf)",
        "Robust accuracy under pgd (linf)",
        "Transfer matrix, fgsm (linf)",
        "Transfer matrix, pgd (linf)",
        "Latency per provider (bar: p50; whiskers: fastest run to p99)",
        "Accuracy–latency–size trade-off (cpu, batch 1, 1 thread(s))",
    ]
    # Matplotlib's own XML prologue and metadata are gone.
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page


def test_model_card_and_unset_values(page: str) -> None:
    assert "190,848" in page  # MACs
    assert "20,586" in page  # parameters
    assert "[N, 1, 8, 8]" in page  # input shape
    # int8's sparsity was not computed: a dash with the reason, never a number.
    variants = page[page.index('<section id="variants">') :]
    int8_row = re.search(r"<tr><td><b>int8</b>.*?</tr>", variants)
    assert int8_row is not None
    assert 'title="not computed">—<' in int8_row.group(0)


def test_unset_macs_is_a_dash_with_a_note() -> None:
    report = build_report()
    report.model.ClearField("macs")
    page = render_html(report)
    assert 'title="not computed for this model">—<' in page


def test_robustness_table_has_changes_and_largest(page: str) -> None:
    assert '<span class="largest neg">-0.050</span><span class="change">int8</span>' in page
    assert "0.620 †" in page  # base's white-box result in a transfer row


def test_gates_and_flags(page: str) -> None:
    assert page.count('<span class="badge pass">pass</span>') == 2
    assert '<span class="badge fail">fail</span>' in page
    assert '<span class="badge error">error</span>' in page
    assert "calibration_overlaps_evaluation" in page
    assert "Why it matters:" in page


def test_environment(page: str) -> None:
    assert "Intel(R) Xeon(R) Platinum 8480+" in page
    assert "<code>1.31.1</code>" in page


def test_text_is_escaped() -> None:
    report = build_report()
    report.job_id = "<script>alert(1)</script>"
    report.flags[0].message = "x < y & <b>bold</b>"
    page = render_html(report)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "x &lt; y &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_sparse_report_renders_with_notes() -> None:
    report = pb.Report(job_id="j1", job_state=pb.JOB_STATE_FAILED, error="bridge crashed")
    base = report.variants.add(name="base", ok=True, size_bytes=1000)
    base.clean_accuracy = 0.9
    report.variants.add(name="int8", ok=False, error="QuantizationError: no calibration data")
    page = render_html(report)
    assert "No attack results in this report." in page
    assert "No transfer results in this report." in page
    assert "Latency was not measured." in page
    assert "Not enough measurements for a trade-off chart" in page
    assert "QuantizationError: no calibration data" in page
    assert "bridge crashed" in page
    assert "<svg" not in page
    assert external_references(page) == []


def test_untrusted_and_black_box_results_render() -> None:
    report = build_report()
    for row in report.attacks:
        if row.target_variant == "int8":
            row.trusted = False
    square = report.attacks.add(attack="square", mode=pb.ATTACK_MODE_BLACK_BOX, norm="linf",
                                epsilon=0.1, source_variant="int8", target_variant="int8", n=300,
                                robust_accuracy=0.3, trusted=True)  # fmt: skip
    square.queries = 1000
    page = render_html(report)
    assert "untrusted: the bridge of the source variant failed its fidelity check" in page
    assert "int8 (black-box)" in page
    assert "Robust accuracy under square (linf)" in page


# -- a real browser -----------------------------------------------------------------


def _chromium_or_skip() -> str:
    if os.environ.get("ROBUSTEDGE_SKIP_BROWSER") == "1":
        pytest.skip("ROBUSTEDGE_SKIP_BROWSER=1")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) "
            "or set ROBUSTEDGE_SKIP_BROWSER=1 to skip the browser test"
        )
    return CHROMIUM


def screenshot_of(chromium: str, page: str, name: str, *, height: int, profile: Path) -> Any:
    """Writes ``page`` to test-artifacts/NAME.html, screenshots it 1280 px wide in
    headless Chromium to NAME.png, and returns the RGB pixels."""
    ARTIFACTS.mkdir(exist_ok=True)
    html_path = ARTIFACTS / f"{name}.html"
    html_path.write_text(page, encoding="utf-8")
    screenshot = ARTIFACTS / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--window-size=1280,{height}", f"--screenshot={screenshot}", html_path.as_uri(),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.is_file(), f"no screenshot; chromium said:\n{completed.stderr[-2000:]}"
    image_module = pytest.importorskip("matplotlib.image")
    return image_module.imread(str(screenshot))[..., :3]


def test_html_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    """Renders the page offline in headless Chromium and keeps the screenshot in
    test-artifacts/report.png (with the page beside it) for a person to look at."""
    chromium = _chromium_or_skip()
    pixels = screenshot_of(chromium, page, "report", height=5200, profile=tmp_path / "profile")
    assert pixels.shape[:2] == (5200, 1280)
    # The inline CSS applied: the header band is the page's dark navy (#14202e).
    header = pixels[20, 640]
    assert abs(header - [0x14 / 255, 0x20 / 255, 0x2E / 255]).max() < 0.02, header
    # The inline SVG charts were drawn: the palette's blue (#0072B2, int8) covers
    # a good number of pixels (lines, bars, markers).
    blue = (abs(pixels - [0x00 / 255, 0x72 / 255, 0xB2 / 255]).max(axis=-1) < 0.03).sum()
    assert blue > 2000, blue


def test_resolved_spec_is_included(page: str) -> None:
    details = re.search(r"<details><summary>Resolved spec.*?<pre[^>]*>(.*?)</pre>", page, re.S)
    assert details is not None
    assert "&quot;approach&quot;: &quot;static&quot;" in details.group(1)
    assert "&quot;seed&quot;: 0" in details.group(1)


def test_rendering_is_deterministic_and_thread_safe(page: str) -> None:
    """Two threads rendering at once get the page a single render gives: the
    matplotlib settings are process-global and must not leak between renders."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        pages = list(pool.map(lambda _: render_html(build_report()), range(2)))
    assert pages[0] == page
    assert pages[1] == page


def _chart_texts(page: str, title: str) -> list[str]:
    """The text elements of the chart whose accessible title is ``title``."""
    start = page.index(f'aria-label="{title}"')
    svg = page[start : page.index("</svg>", start)]
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_charts_show_the_report_numbers(page: str) -> None:
    curves = _chart_texts(page, "Robust accuracy under pgd (linf)")
    assert {"base", "int8", "pruned", "int8 (transfer from base)"} <= set(curves)
    heatmap = _chart_texts(page, "Transfer matrix, pgd (linf)")
    # Row base at eps=8/255: white-box diagonal 0.51, transfers 0.55 and 0.58.
    assert {"0.51", "0.55", "0.58", "0.06", "0.09", "0.12"} <= set(heatmap)
    latency = _chart_texts(page, "Latency per provider (bar: p50; whiskers: fastest run to p99)")
    assert {"cpu", "openvino", "skipped"} <= set(latency)
    trade = _chart_texts(page, "Accuracy–latency–size trade-off (cpu, batch 1, 1 thread(s))")
    expected = {"int8 (26.8 KiB)", "base (81.3 KiB)", "Worst-case robust accuracy, ε = 0.03137"}
    assert expected <= set(trade)
