"""The HTML report: one self-contained page a person reads to pick a variant.

Self-contained means it works offline and from an e-mail attachment: the CSS is
inlined, the charts are inline SVG drawn server-side with matplotlib, and the
page names no external URL (no CDN, fonts, scripts or images). Numbers come
only from the :class:`Report` message; an unset field is shown as "—" with a
tooltip and never filled in.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources

from robustedge.client.render import (
    SEARCH_COMPARISON_COLUMNS,
    UNSET,
    RobustnessRow,
    chosen_candidate,
    enum_name,
    format_bytes,
    format_change,
    format_epsilon,
    format_fraction,
    format_ms,
    format_params,
    format_ratio,
    format_throughput,
    latency_order,
    latency_speedups,
    mode_name,
    optional_value,
    reference_latency,
    report_to_dict,
    robustness_table,
    search_facts,
    search_steps_text,
    sensitivity_groups,
    steps_text,
    variant_summaries,
)
from robustedge.reports import charts
from robustedge.reports.flags import explain
from robustedge.reports.svg import variant_colors
from robustedge.reports.tradeoff import tradeoff
from robustedge.v1 import evaluation_pb2 as pb

__all__ = ["render_html"]


def _css() -> str:
    return resources.files("robustedge.reports").joinpath("report.css").read_text("utf-8")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _unset(reason: str = "not measured") -> str:
    return f'<span class="unset" title="{_e(reason)}">{UNSET}</span>'


def _cell_text(text: str, reason: str = "not measured") -> str:
    """Escapes ``text``; the UNSET marker becomes a dash with a tooltip."""
    return _unset(reason) if text == UNSET else _e(text)


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (),
    row_classes: Sequence[str] | None = None, css: str = "",
) -> str:  # fmt: skip
    """An HTML table; cells are already-escaped HTML. ``numeric``: right-aligned columns."""
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    )
    class_attribute = f' class="{_e(css)}"' if css else ""
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="scroll"><table{class_attribute}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _facts(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    )


def _figure(chart: charts.Chart, css: str, caption: str = "") -> str:
    caption_html = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    # Never scale a chart far beyond its drawn size: a one-panel chart stretched
    # to the page width gets giant fonts. viewBox is in points (1/72 in).
    style = ""
    box = re.search(r'viewBox="0 0 ([0-9.]+) ', chart.svg)
    if box:
        style = f' style="max-width: {float(box.group(1)) * 96 / 72 * 1.1 + 14:.0f}px"'
    return f'<figure class="{css}"{style}>{chart.svg}{caption_html}</figure>'


def _change_html(change: float | None, css: str = "change") -> str:
    """A signed change on its own line, red for a loss and green for a gain."""
    if change is None:
        return ""
    text = format_change(change)
    sign = "neg" if text.startswith("-") else ("pos" if text.startswith("+") else "")
    return f'<span class="{css} {sign}">{_e(text)}</span>'


def _shape(shape: Iterable[int]) -> str:
    return "[" + ", ".join("N" if d < 0 else str(d) for d in shape) + "]"


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def _header(report: pb.Report, sections: list[tuple[str, str]]) -> str:
    state = enum_name(pb.JobState.DESCRIPTOR, report.job_state)
    parts = [f'job <span class="mono">{_e(report.job_id or UNSET)}</span>']
    parts.append(f'<span class="badge {_e(state)}">{_e(state)}</span>')
    if report.HasField("created_at"):
        stamp = report.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M UTC")
        parts.append(_e(stamp))
    if report.seconds:
        parts.append(f"{report.seconds:.1f} s")
    parts.append(f"{report.samples} evaluation samples")
    nav = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title in sections)
    return f"<header><h1>RobustEdge report</h1><p>{' · '.join(parts)}</p><nav>{nav}</nav></header>"


def _summary(report: pb.Report) -> str:
    out = ['<section id="summary"><h2>Summary</h2>']
    if report.error:
        out.append(f'<div class="flag error"><p><b>Job error:</b> {_e(report.error)}</p></div>')
    if report.gates:
        passed = sum(1 for gate in report.gates if gate.passed)
        out.append(f"<p>{passed} of {len(report.gates)} gates passed.</p>")
        out.append(_gates_table(report))
    else:
        out.append('<p class="note">No gates were set for this evaluation.</p>')
    out.append(_glance(report))
    out.append("</section>")
    return "".join(out)


def _glance(report: pb.Report) -> str:
    """Each compressed variant against base: the numbers a decision starts from."""
    summaries = variant_summaries(report)
    if not summaries:
        return ""
    reference = reference_latency(report)
    where = (
        f"{reference.provider}, batch {reference.batch_size}, {reference.threads} thread(s)"
        if reference is not None
        else "not measured"
    )
    rows = []
    for summary in summaries:
        rows.append(
            [
                f"<b>{_e(summary.name)}</b>",
                _unset() if summary.size_ratio is None else _e(f"{summary.size_ratio:.2f}×"),
                _unset() if summary.speedup is None else _e(f"{summary.speedup:.2f}×"),
                _change_html(summary.clean_change, "value") or _unset(),
                (_change_html(summary.worst_robust_change, "value") or _unset())
                + (
                    f'<span class="change">{_e(summary.worst_robust_row)}</span>'
                    if summary.worst_robust_row
                    else ""
                ),
            ]
        )
    table = _table(
        ["Variant", "Smaller", "Faster", "Clean accuracy change", "Worst robust accuracy change"],
        rows,
        numeric=[1, 2, 3, 4],
    )
    return (
        f'<h3>At a glance</h3><p class="note">Each variant against <code>base</code>; '
        f"latency on {_e(where)}.</p>{table}"
    )


def _gates_table(report: pb.Report) -> str:
    rows = []
    for gate in report.gates:
        if gate.passed:
            status = "pass"
        elif gate.HasField("value"):
            status = "fail"
        else:
            status = "error"
        value = f"{gate.value:.6g}" if gate.HasField("value") else _unset("not evaluated")
        rows.append(
            [
                f'<span class="badge {status}">{status}</span>',
                f"<code>{_e(gate.expression)}</code>",
                value,
                _e(gate.error),
            ]
        )
    return _table(["Result", "Gate", "Measured", "Note"], rows, numeric=[2])


def _model_card(report: pb.Report) -> str:
    model, dataset = report.model, report.dataset
    macs = optional_value(model, "macs")
    inputs = "<br>".join(
        f"<code>{_e(t.name)}</code> {_e(t.elem_type)} {_e(_shape(t.shape))}" for t in model.inputs
    )
    outputs = "<br>".join(
        f"<code>{_e(t.name)}</code> {_e(t.elem_type)} {_e(_shape(t.shape))}" for t in model.outputs
    )
    model_facts = [
        ("sha256", f'<span class="mono">{_e(model.sha256)}</span>' if model.sha256 else _unset()),
        ("inputs", inputs or _unset("not recorded")),
        ("outputs", outputs or _unset("not recorded")),
        ("classes", _e(model.num_classes) if model.num_classes else _unset("not recorded")),
        ("opset", _e(model.opset) if model.opset else _unset("not recorded")),
        ("IR version", _e(model.ir_version) if model.ir_version else _unset("not recorded")),
        ("producer", _e(model.producer) if model.producer else _unset("not recorded")),
        ("parameters", f"{model.parameters:,}"),
        (
            "MACs per sample",
            f"{macs:,}" if macs is not None else _unset("not computed for this model"),
        ),
        ("size", _cell_text(format_bytes(model.size_bytes), "not recorded")),
    ]
    sample_shape = _shape(dataset.sample_shape) if dataset.sample_shape else UNSET
    dataset_facts = [
        (
            "sha256",
            f'<span class="mono">{_e(dataset.sha256)}</span>' if dataset.sha256 else _unset(),
        ),
        ("samples", f"{dataset.samples:,} uploaded, {report.samples:,} evaluated"),
        ("sample shape", _cell_text(sample_shape, "not recorded")),
        ("classes present", _e(dataset.classes)),
        ("labels", f"{dataset.label_min} … {dataset.label_max}"),
        ("input range", f"[{dataset.input_min:g}, {dataset.input_max:g}]"),
    ]
    return (
        '<section id="model"><h2>Model card</h2><div class="cards">'
        f'<div class="card"><h3>Model</h3>{_facts(model_facts)}</div>'
        f'<div class="card"><h3>Evaluation set</h3>{_facts(dataset_facts)}</div>'
        "</div></section>"
    )


def _variants(report: pb.Report) -> str:
    rows, classes = [], []
    for variant in report.variants:
        fidelity = variant.fidelity
        if not variant.ok:
            status = f'<span class="badge failed">failed</span> {_e(variant.error)}'
        elif fidelity.error:
            status = f'<span class="badge warning">no bridge</span> {_e(fidelity.error)}'
        elif fidelity.n and not fidelity.passed:
            status = '<span class="badge warning">fidelity failed</span>'
        else:
            status = '<span class="badge pass">ok</span>'
        parameters = optional_value(variant, "parameters")
        max_diff = optional_value(fidelity, "max_abs_diff")
        rows.append(
            [
                f"<b>{_e(variant.name)}</b>",
                _e(steps_text(variant)),
                status,
                _cell_text(format_bytes(variant.size_bytes), "not recorded"),
                _cell_text(format_bytes(optional_value(variant, "gzip_size_bytes"))),
                f"{parameters:,}" if parameters is not None else _unset("not counted"),
                _cell_text(format_fraction(optional_value(variant, "sparsity")), "not computed"),
                _cell_text(format_fraction(optional_value(variant, "clean_accuracy"))),
                _cell_text(format_fraction(optional_value(fidelity, "top1_agreement"))),
                _unset() if max_diff is None else _e(f"{max_diff:.2e}"),
                _e(f"{variant.build_seconds:.1f} s" if variant.build_seconds >= 0.05 else "< 0.1 s")
                if variant.build_seconds
                else _unset("not recorded (base is the upload itself)"),
            ]
        )
        classes.append("" if variant.ok else "failed")
    table = _table(
        ["Variant", "Steps", "Status", "Size", "gzip size", "Parameters", "Sparsity",
         "Clean acc.", "Top-1 agreement", "Max abs diff", "Build"],
        rows,
        numeric=[3, 4, 5, 6, 7, 8, 9, 10],
        row_classes=classes,
    )  # fmt: skip
    return (
        '<section id="variants"><h2>Variants</h2>'
        '<p class="note">Clean accuracy is measured by onnxruntime on each variant. '
        "Fidelity compares the torch replica used for white-box gradients with "
        "onnxruntime on the evaluation samples.</p>"
        f"{table}</section>"
    )


def _robust_cell(row: RobustnessRow, variant: str) -> str:
    result = row.cells.get(variant)
    if result is None:
        if variant == "base" and row.baseline_from_white_box and row.baseline is not None:
            return (
                f'<span title="base\'s white-box result: crafted on base, scored on base">'
                f"{format_fraction(row.baseline)} †</span>"
            )
        return _unset("not run")
    text = (
        f'<span title="Wilson 95% CI {result.ci_low:.3f}–{result.ci_high:.3f}, '
        f'n={result.n}">{format_fraction(result.robust_accuracy)}</span>'
    )
    if variant != "base":
        text += _change_html(row.change(variant))
    if not result.trusted:
        text += ' <span title="untrusted: bridge fidelity failed">*</span>'
    return text


def _robustness(report: pb.Report, colors: dict[str, str]) -> str:
    out = ['<section id="robustness"><h2>Robustness</h2>']
    table = robustness_table(report)
    if not table.rows:
        out.append('<p class="note">No attack results in this report.</p></section>')
        return "".join(out)
    out.append(
        '<p class="note">Robust accuracy of each target variant, scored by onnxruntime, '
        "with the change against <code>base</code> below it; the last column is the "
        "largest change in the row and the variant it belongs to. Hover a value for its "
        "Wilson 95% interval.</p>"
    )
    rows = []
    for row in table.rows:
        largest = row.largest_change()
        cells = [_e(row.label), _e(format_epsilon(row.epsilon))]
        cells += [_robust_cell(row, variant) for variant in table.variants]
        cells.append(
            _change_html(largest[1], "largest") + f'<span class="change">{_e(largest[0])}</span>'
            if largest
            else _unset("no compressed variant in this row")
        )
        rows.append(cells)
    numeric = list(range(2, 3 + len(table.variants)))
    out.append(
        _table(["Attack", "ε", *table.variants, "Largest change"], rows, numeric, css="robustness")
    )
    notes = []
    if any(row.baseline_from_white_box for row in table.rows):
        notes.append(
            "† base's white-box result: examples crafted on base and scored on base are the "
            "white-box attack itself."
        )
    if any(not result.trusted for result in report.attacks):
        notes.append(
            "* untrusted: the bridge of the source variant failed its fidelity check; see Flags."
        )
    out += [f'<p class="note">{_e(note)}</p>' for note in notes]

    out.append(_attack_parameters(report))
    out.append("<h3>Robustness curves</h3>")
    curves = charts.robustness_curves(report, colors)
    out.append('<div class="charts">')
    out += [
        _figure(chart, "half", "Bands: Wilson 95% interval of robust accuracy.") for chart in curves
    ]
    out.append("</div></section>")
    return "".join(out)


def _attack_parameters(report: pb.Report) -> str:
    seen: dict[tuple[str, str, int], pb.AttackResult] = {}
    for result in report.attacks:
        seen.setdefault((result.attack, result.norm, result.mode), result)
    if not seen:
        return ""
    rows = []
    for (attack, norm, mode), result in seen.items():
        params = format_params(result.params) if result.HasField("params") else ""
        rows.append(
            [
                _e(attack),
                _e(norm) if norm else _unset("the attack's default"),
                _e(mode_name(mode)),
                f"<code>{_e(params)}</code>" if params else _unset("none recorded"),
                _e(result.n),
            ]
        )
    return "<h3>Attack parameters</h3>" + _table(
        ["Attack", "Norm", "Mode", "Resolved parameters", "Samples"], rows, numeric=[4]
    )


def _transfer(report: pb.Report) -> str:
    out = ['<section id="transfer"><h2>Transfer matrix</h2>']
    heatmaps = charts.transfer_heatmaps(report)
    if not heatmaps:
        out.append('<p class="note">No transfer results in this report.</p></section>')
        return "".join(out)
    out.append(
        '<p class="note">Robust accuracy of the target (column) on adversarial examples '
        "crafted on the source (row). The diagonal is the white-box result on the source "
        "itself; “—” marks a pair that was not run.</p>"
    )
    out += [_figure(chart, "wide") for chart in heatmaps]
    out.append("</section>")
    return "".join(out)


def _sensitivity(report: pb.Report) -> str:
    out = ['<section id="sensitivity"><h2>Layer sensitivity</h2>']
    if not report.sensitivity:
        out.append(
            '<p class="note">Not run (enable it with <code>sensitivity: {}</code> in the spec).'
            "</p></section>"
        )
        return "".join(out)
    groups = sensitivity_groups(report)
    if len(groups) == 1:
        out.append(
            '<p class="note">Each prunable layer of the base model alone was pruned and the '
            "model attacked again (same samples, attack and seed); layers whose pruning costs "
            "the most robustness come first. Keep those in full precision when compressing.</p>"
        )
    else:
        methods = ", ".join(f"“{_e(method)}”" for method in groups)
        out.append(
            '<p class="note">Each prunable layer of the base model alone was changed by each '
            f"method ({methods}) and the model attacked again (same samples, attack and seed); "
            "one panel and one table per method, layers that lose the most robustness first. "
            "Keep those in full precision when compressing.</p>"
        )
    out += [_figure(chart, "wide") for chart in charts.sensitivity_bars(report)]
    headers = ["Layer", "Op", "Change", "Clean acc.", "Δ clean", "Robust acc.", "Δ robust"]
    for method, method_rows in groups.items():
        if len(groups) > 1:
            out.append(f"<h3>{_e(method or 'unnamed method')}</h3>")
        rows = [
            [
                _e(row.layer),
                _e(row.op_type),
                _e(row.method),
                _e(format_fraction(row.clean_accuracy)),
                _change_html(row.clean_change),
                _e(format_fraction(row.robust_accuracy)),
                _change_html(row.robust_change),
            ]
            for row in method_rows
        ]
        out.append(_table(headers, rows, numeric=[3, 4, 5, 6]))
    out.append("</section>")
    return "".join(out)


def _check(value: bool) -> str:
    return '<span class="pos">✓</span>' if value else '<span class="neg">✗</span>'


def _search(report: pb.Report, colors: dict[str, str]) -> str:
    out = ['<section id="search"><h2>Robustness-aware search</h2>']
    if not report.HasField("search"):
        out.append(
            '<p class="note">Not run (enable it with <code>search: {}</code> in the spec, or '
            "<code>--preset robust-search</code>): the search builds compressed candidates, "
            "scores their robust accuracy on a validation split and keeps the best one within "
            "size and latency budgets.</p></section>"
        )
        return "".join(out)
    search = report.search
    if search.verdict:
        out.append(f'<p class="verdict">{_e(search.verdict)}</p>')
    chosen = chosen_candidate(search)
    if search.variant:
        detail = (
            f" — candidate <b>{_e(chosen.name)}</b>: <code>{_e(search_steps_text(chosen.steps))}"
            "</code>"
            if chosen is not None
            else ""
        )
        out.append(f"<p>Chosen variant: <b>{_e(search.variant)}</b>{detail}.</p>")
    else:
        out.append(
            '<div class="flag"><p><b>No candidate met the budgets.</b> None of the '
            f"{len(search.candidates)} candidates kept the clean accuracy within "
            f"{search.max_clean_drop:.3f} of base and met every size and latency budget, "
            "so no searched variant was added to the report.</p></div>"
        )
    base = [
        (
            "base on the validation split",
            f"clean {format_fraction(search.base_clean_accuracy)}, robust "
            f"{format_fraction(search.base_robust_accuracy)}",
        ),
    ]
    out.append(
        _facts(
            [(label, _cell_text(value)) for label, value in search_facts(search)]
            + [(label, _e(value)) for label, value in base]
        )
    )
    chart = charts.search_chart(report, colors)
    unplaced = [c.name for c in search.candidates if not c.ok or c.latency_ratio <= 0]
    unplaced += [r.variant for r in search.comparison if r.latency_ratio <= 0]
    caption = (
        "Candidates were scored on the validation split "
        f"({search.validation_samples:,} holdout samples); the comparison variants "
        f"on the {report.samples:,} evaluation samples, so the two are not exactly "
        "comparable. Marker area is proportional to the size ratio; outlined points are on "
        "the Pareto front over robust accuracy, latency and size."
    )
    if unplaced:
        caption += f" Not plotted (failed or latency not measured): {', '.join(unplaced)}."
    out += [_figure(c, "wide", caption) for c in chart]
    if search.comparison:
        out.append(
            "<h3>Against the plain presets</h3>"
            '<p class="note">The chosen variant beside the plain preset variants of this '
            "report, measured on the evaluation samples under the search's objective and "
            "budgets.</p>"
        )
        rows, classes = [], []
        for row in search.comparison:
            name = f"<b>{_e(row.variant)}</b>" if row.variant == search.variant else _e(row.variant)
            rows.append(
                [
                    name,
                    _e(row.preset) if row.preset else _unset("not recorded"),
                    _e(format_fraction(row.clean_accuracy)),
                    _e(format_fraction(row.robust_accuracy)),
                    _cell_text(format_ratio(row.size_ratio), "not recorded"),
                    _e(format_ratio(row.latency_ratio))
                    if row.latency_ratio > 0
                    else '<span class="unset" title="latency not measured at the budget\'s '
                    'batch size">not measured</span>',
                    _check(row.within_budgets),
                ]
            )
            classes.append("chosen" if search.variant and row.variant == search.variant else "")
        out.append(
            _table(
                list(SEARCH_COMPARISON_COLUMNS),
                rows,
                numeric=[2, 3, 4, 5],
                row_classes=classes,
            )
        )
    out.append(_candidates_table(search))
    out.append("</section>")
    return "".join(out)


def _full_steps(steps: Iterable[pb.CompressionStep]) -> str:
    """Every parameter of the steps (the tooltip of the compact form)."""
    return steps_text(pb.VariantResult(name="candidate", steps=steps))


def _candidates_table(search: pb.SearchResult) -> str:
    if not search.candidates:
        return '<p class="note">The search evaluated no candidate.</p>'
    rows, classes = [], []
    for c in search.candidates:
        if c.ok:
            numbers = [
                _e(format_fraction(c.clean_accuracy)),
                _e(format_fraction(c.robust_accuracy)),
                _cell_text(format_ratio(c.size_ratio), "not recorded"),
                _cell_text(format_ratio(c.latency_ratio)),
            ]
            flags = [
                _check(c.within_budgets),
                "●" if c.on_front else "",
                "<b>chosen</b>" if c.chosen else "",
            ]
        else:
            failed = _unset("the candidate failed")
            numbers = [failed] * 4
            flags = ['<span class="badge failed">failed</span>', "", ""]
        rows.append(
            [
                f"<b>{_e(c.name)}</b>",
                _e(c.origin) if c.origin else _unset("not recorded"),
                f'<code title="{_e(_full_steps(c.steps))}">{_e(search_steps_text(c.steps))}</code>',
                *numbers,
                *flags,
                "reused" if c.reused else "",
                _e(c.error),
            ]
        )
        classes.append("chosen" if c.chosen else ("failed" if not c.ok else ""))
    table = _table(
        [
            "Candidate",
            "Origin",
            "Steps",
            "Clean acc.",
            "Robust acc.",
            "Size ratio",
            "Latency ratio",
            "Within budgets",
            "Front",
            "Chosen",
            "Reused",
            "Error",
        ],
        rows,
        numeric=[3, 4, 5, 6],
        row_classes=classes,
        css="candidates",
    )
    return (
        "<h3>Candidates</h3>"
        '<p class="note">Every candidate in evaluation order, scored on the validation split; '
        "ratios are to base. “Front”: not dominated in robust accuracy, latency and size by "
        "another candidate that keeps the clean accuracy.</p>" + table
    )


def _latency(report: pb.Report, colors: dict[str, str]) -> str:
    out = ['<section id="latency"><h2>Latency</h2>']
    if not report.latency:
        out.append('<p class="note">Latency was not measured.</p></section>')
        return "".join(out)
    out += [_figure(chart, "wide") for chart in charts.latency_bars(report, colors)]
    speedups = latency_speedups(report)
    rows = []
    for index in latency_order(report):
        row = report.latency[index]
        if row.skipped_reason:
            skipped = _unset(f"skipped: {row.skipped_reason}")
            rows.append(
                [_e(row.variant), _e(row.provider), _e(row.batch_size), _e(row.threads)]
                + [skipped] * 7
                + [_e(f"skipped: {row.skipped_reason}")]
            )
            continue
        speedup = speedups.get(index)
        peak = optional_value(row, "peak_rss_bytes")
        rows.append(
            [
                _e(row.variant),
                _e(row.provider),
                _e(row.batch_size),
                _e(row.threads),
                _cell_text(format_ms(row.p50_ms), "not recorded"),
                _cell_text(format_ms(row.p90_ms), "not recorded"),
                _cell_text(format_ms(row.p99_ms), "not recorded"),
                _mean_std(row),
                _cell_text(format_throughput(row.throughput), "not recorded"),
                _unset("no base measurement on this configuration")
                if speedup is None
                else _e(f"{speedup:.2f}×"),
                _cell_text(format_bytes(peak), "not recorded"),
                _e(f"{row.iterations} runs after {row.warmup} warm-up")
                if row.iterations
                else _unset("not recorded"),
            ]
        )
    out.append(
        _table(
            [
                "Variant",
                "Provider",
                "Batch",
                "Threads",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "Mean ± std ms",
                "Samples/s",
                "Speed-up vs base",
                "Peak RSS",
                "Runs",
            ],
            rows,
            numeric=[2, 3, 4, 5, 6, 7, 8, 9, 10],
        )
    )
    out.append("</section>")
    return "".join(out)


def _mean_std(row: pb.LatencyResult) -> str:
    if row.mean_ms <= 0:
        return _unset("not recorded")
    std = f" ± {format_ms(row.std_ms)}" if row.std_ms > 0 else ""
    return _e(format_ms(row.mean_ms) + std)


def _tradeoff(report: pb.Report, colors: dict[str, str]) -> str:
    data = tradeoff(report)
    out = ['<section id="tradeoff"><h2>Trade-off</h2>']
    chart = charts.tradeoff_chart(data, colors)
    if not chart:
        out.append(
            '<p class="note">Not enough measurements for a trade-off chart: it needs the '
            "clean accuracy, size and latency of at least one variant.</p></section>"
        )
        return "".join(out)
    out.append(
        '<p class="note">Marker area is proportional to the ONNX file size. Circled points '
        "are on the Pareto front over accuracy (higher), latency (lower) and size (smaller): "
        "no other variant is at least as good on all three.</p>"
    )
    out += [_figure(c, "wide") for c in chart]
    front = [_e(name) for name in data.clean_front]
    facts = [("Pareto front, clean accuracy", ", ".join(front))]
    if data.epsilon is not None:
        facts.append(
            (
                f"Pareto front, worst-case robust accuracy at ε = {data.epsilon:.4g}",
                ", ".join(_e(name) for name in data.robust_front),
            )
        )
    facts += [(f"not plotted: {name}", _e(reason)) for name, reason in data.omitted.items()]
    out.append(_facts(facts))
    out.append("</section>")
    return "".join(out)


def _flags(report: pb.Report) -> str:
    out = ['<section id="flags"><h2>Flags</h2>']
    if not report.flags:
        out.append('<p class="note">No sanity flags were raised.</p></section>')
        return "".join(out)
    for flag in report.flags:
        severity = enum_name(pb.FlagSeverity.DESCRIPTOR, flag.severity)
        where = ", ".join(
            f"{label} <code>{_e(value)}</code>"
            for label, value in (("variant", flag.variant), ("attack", flag.attack))
            if value
        )
        explanation = explain(flag.code)
        out.append(
            f'<div class="flag {_e(severity)}"><p><span class="badge {_e(severity)}">'
            f"{_e(severity)}</span> <code>{_e(flag.code)}</code>"
            + (f" — {where}" if where else "")
            + f"</p><p>{_e(flag.message)}</p>"
            + (
                f'<p class="note">Why it matters: {_e(explanation)}</p>'
                if explanation
                else '<p class="note">No further explanation is documented for this code.</p>'
            )
            + "</div>"
        )
    out.append("</section>")
    return "".join(out)


def _environment(report: pb.Report) -> str:
    env = report.environment
    facts = [
        ("CPU", _e(env.cpu) if env.cpu else _unset("not recorded")),
        ("CPU count", _e(env.cpu_count) if env.cpu_count else _unset("not recorded")),
        ("Platform", _e(env.platform) if env.platform else _unset("not recorded")),
        ("Python", _e(env.python) if env.python else _unset("not recorded")),
    ]
    rows = [
        [_e(name), f"<code>{_e(version)}</code>"] for name, version in sorted(env.versions.items())
    ]
    versions = (
        _table(["Library", "Version"], rows)
        if rows
        else '<p class="note">No library versions were recorded.</p>'
    )
    return (
        '<section id="environment"><h2>Environment</h2><div class="cards">'
        f'<div class="card"><h3>Machine</h3>{_facts(facts)}</div>'
        f'<div class="card"><h3>Library versions</h3>{versions}</div>'
        f"</div>{_spec(report)}</section>"
    )


def _spec(report: pb.Report) -> str:
    """The resolved spec the job ran, collapsed: what to pass to reproduce it."""
    if not report.HasField("spec"):
        return '<p class="note">The resolved spec was not recorded.</p>'
    spec = report_to_dict(report).get("spec", {})
    text = json.dumps(spec, indent=2, ensure_ascii=False)
    return (
        "<details><summary>Resolved spec (seed, samples, variants, attacks, latency, "
        f'gates)</summary><pre class="mono">{_e(text)}</pre></details>'
    )


_SECTIONS = [
    ("summary", "Summary"),
    ("model", "Model card"),
    ("variants", "Variants"),
    ("robustness", "Robustness"),
    ("transfer", "Transfer matrix"),
    ("sensitivity", "Layer sensitivity"),
    ("latency", "Latency"),
    ("tradeoff", "Trade-off"),
    ("search", "Search"),
    ("flags", "Flags"),
    ("environment", "Environment"),
]


def render_html(report: pb.Report) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG charts)."""
    colors = variant_colors(
        [variant.name for variant in report.variants]
        + [row.target_variant for row in report.attacks]
        + [row.variant for row in report.latency]
        + [row.variant for row in report.search.comparison]
    )
    body = [
        _summary(report),
        _model_card(report),
        _variants(report),
        _robustness(report, colors),
        _transfer(report),
        _sensitivity(report),
        _latency(report, colors),
        _tradeoff(report, colors),
        _search(report, colors),
        _flags(report),
        _environment(report),
    ]
    title = f"RobustEdge report — {report.job_id}" if report.job_id else "RobustEdge report"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_css()}</style></head><body>"
        + _header(report, _SECTIONS)
        + "<main>"
        + "".join(body)
        + "</main><footer><p>“—” marks a value the report does not contain: it was not "
        "measured, not computed or not recorded. RobustEdge never fills in a number it did "
        "not measure; hover a dash for the reason.</p></footer></body></html>\n"
    )
