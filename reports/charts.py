"""The report's charts, drawn with matplotlib and returned as inline SVG.

Each function takes the report (and the variant colours, so that a variant has
the same colour in every chart) and returns a list of ``Chart``: an empty list
when the report has nothing to draw, so the page can say so instead of showing
an empty frame.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustedge.client.render import format_bytes, mode_name, sensitivity_groups
from robustedge.reports.svg import figure_to_svg, new_figure
from robustedge.reports.tradeoff import Tradeoff
from robustedge.v1 import evaluation_pb2 as pb

__all__ = [
    "Chart",
    "latency_bars",
    "robustness_curves",
    "search_chart",
    "sensitivity_bars",
    "tradeoff_chart",
    "transfer_heatmaps",
]


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str


def _attack_key(row: pb.AttackResult) -> tuple[str, str]:
    return (row.attack, row.norm)


def _attack_title(attack: str, norm: str) -> str:
    return f"{attack} ({norm})" if norm else attack


def robustness_curves(report: pb.Report, colors: dict[str, str]) -> list[Chart]:
    """Robust accuracy against epsilon: one chart per attack, one line per
    variant (solid: white-box or black-box on the variant itself; dashed:
    transferred from another variant), with the Wilson 95% band."""
    groups: dict[tuple[str, str], list[pb.AttackResult]] = defaultdict(list)
    for row in report.attacks:
        groups[_attack_key(row)].append(row)
    charts = []
    for index, ((attack, norm), rows) in enumerate(groups.items()):
        lines: dict[tuple[int, str, str], list[pb.AttackResult]] = defaultdict(list)
        for row in rows:
            lines[(row.mode, row.source_variant, row.target_variant)].append(row)
        title = f"Robust accuracy under {_attack_title(attack, norm)}"
        with new_figure(5.2, 3.4, chart_id=f"curve{index}") as figure:
            axes = figure.add_subplot()
            for (mode, source, target), points in sorted(
                lines.items(), key=lambda item: (item[0][0], _order(colors, item[0][2]))
            ):
                points.sort(key=lambda row: row.epsilon)
                eps = [row.epsilon for row in points]
                accuracy = [row.robust_accuracy for row in points]
                color = colors.get(target, "#777777")
                transfer = mode == pb.ATTACK_MODE_TRANSFER
                label = target if not transfer else f"{target} (transfer from {source})"
                if mode == pb.ATTACK_MODE_BLACK_BOX:
                    label = f"{target} (black-box)"
                untrusted = any(not row.trusted for row in points)
                if untrusted:
                    label += " — untrusted"
                axes.plot(
                    eps,
                    accuracy,
                    color=color,
                    linestyle="--" if transfer else (":" if untrusted else "-"),
                    marker="s" if transfer else "o",
                    markersize=4,
                    linewidth=1.6,
                    label=label,
                )
                # Bands only where an interval was recorded (ci_high > 0).
                if all(row.ci_high > 0 for row in points):
                    axes.fill_between(
                        eps,
                        [row.ci_low for row in points],
                        [row.ci_high for row in points],
                        color=color,
                        alpha=0.08 if transfer else 0.15,
                        linewidth=0,
                    )
            axes.set_xlabel("ε (perturbation budget, input units)")
            axes.set_ylabel("robust accuracy")
            axes.set_ylim(0, 1.02)
            axes.set_title(title)
            # "best" keeps the legend off the lines whichever way the curves run.
            axes.legend(loc="best")
            svg = figure_to_svg(figure, chart_id=f"curve{index}", title=title)
        charts.append(Chart(title, svg))
    return charts


def _order(colors: dict[str, str], name: str) -> int:
    names = list(colors)
    return names.index(name) if name in names else len(names)


def transfer_heatmaps(report: pb.Report) -> list[Chart]:
    """Source × target robust accuracy, one chart per attack with one panel per
    epsilon. Off-diagonal cells are transfer results; the diagonal is the
    white-box result (examples crafted on the target itself)."""
    transfer = [row for row in report.attacks if row.mode == pb.ATTACK_MODE_TRANSFER]
    if not transfer:
        return []
    variant_order = [variant.name for variant in report.variants]
    charts = []
    for index, key in enumerate(dict.fromkeys(_attack_key(row) for row in transfer)):
        rows = [row for row in transfer if _attack_key(row) == key]
        sources = _ordered({row.source_variant for row in rows}, variant_order)
        targets = _ordered({row.target_variant for row in rows} | set(sources), variant_order)
        epsilons = sorted({row.epsilon for row in rows})
        title = f"Transfer matrix, {_attack_title(*key)}"
        width = min(11.0, 1.2 + len(epsilons) * (0.75 * len(targets) + 0.9))
        height = 1.2 + 0.45 * len(sources) + 0.6
        with new_figure(width, height, chart_id=f"transfer{index}") as figure:
            panels = figure.subplots(1, len(epsilons), squeeze=False)[0]
            image = None
            for axes, epsilon in zip(panels, epsilons, strict=True):
                matrix = np.full((len(sources), len(targets)), np.nan)
                for row in report.attacks:
                    if _attack_key(row) != key or not math.isclose(row.epsilon, epsilon):
                        continue
                    diagonal = (
                        row.mode == pb.ATTACK_MODE_WHITE_BOX
                        and row.source_variant in ("", row.target_variant)
                        and row.target_variant in sources
                    )
                    if diagonal:
                        i = sources.index(row.target_variant)
                    elif row.mode == pb.ATTACK_MODE_TRANSFER and row.source_variant in sources:
                        i = sources.index(row.source_variant)
                    else:
                        continue
                    if row.target_variant in targets:
                        matrix[i, targets.index(row.target_variant)] = row.robust_accuracy
                # Vector cells (pcolormesh), not imshow: imshow embeds a raster image.
                image = axes.pcolormesh(
                    np.arange(len(targets) + 1) - 0.5,
                    np.arange(len(sources) + 1) - 0.5,
                    np.ma.masked_invalid(matrix),
                    vmin=0.0,
                    vmax=1.0,
                    cmap="viridis",
                    edgecolors="face",
                    linewidth=0.3,
                )
                axes.set_facecolor("#eeeeee")  # cells that were not run
                axes.invert_yaxis()
                axes.grid(False)
                axes.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
                axes.set_yticks(range(len(sources)), sources)
                axes.set_title(f"ε = {epsilon:.4g}")
                for i in range(len(sources)):
                    for j in range(len(targets)):
                        value = matrix[i, j]
                        text = "—" if np.isnan(value) else f"{value:.2f}"
                        if np.isnan(value):
                            color = "#555555"
                        else:
                            color = "white" if value < 0.6 else "black"
                        axes.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
            panels[0].set_ylabel("crafted on (source)")
            figure.suptitle(_attack_title(*key), fontsize=10, fontweight="bold")
            figure.supxlabel("scored on (target)", fontsize=9)
            if image is not None:
                colorbar = figure.colorbar(
                    image, ax=list(panels), label="robust accuracy", shrink=0.9
                )
                # Matplotlib rasterizes long colour bars into an embedded PNG; keep
                # the page vector-only (a few hundred small rectangles).
                if colorbar.solids is not None:
                    colorbar.solids.set_rasterized(False)
                    # Without edges the 256 strips show hairline gaps in browsers.
                    colorbar.solids.set_edgecolor("face")
            svg = figure_to_svg(figure, chart_id=f"transfer{index}", title=title)
        charts.append(Chart(title, svg))
    return charts


def _ordered(names: set[str], order: list[str]) -> list[str]:
    return sorted(
        names, key=lambda name: (order.index(name) if name in order else len(order), name)
    )


def latency_bars(report: pb.Report, colors: dict[str, str]) -> list[Chart]:
    """Median latency per variant, one panel per provider; the whiskers span
    the fastest run to the 99th percentile. Skipped measurements are labelled."""
    if not report.latency:
        return []
    providers = list(dict.fromkeys(row.provider for row in report.latency))
    variants = _ordered({row.variant for row in report.latency}, list(colors))
    title = "Latency per provider (bar: p50; whiskers: fastest run to p99)"
    with new_figure(min(11.0, 1.5 + 3.3 * len(providers)), 3.2, chart_id="latency") as figure:
        panels = figure.subplots(1, len(providers), squeeze=False)[0]
        for axes, provider in zip(panels, providers, strict=True):
            rows = [row for row in report.latency if row.provider == provider]
            configs = list(dict.fromkeys((row.batch_size, row.threads) for row in rows))
            width = 0.8 / max(1, len(variants))
            top = max((row.p99_ms for row in rows if not row.skipped_reason), default=1.0)
            for v, variant in enumerate(variants):
                for c, config in enumerate(configs):
                    row = next(
                        (
                            r
                            for r in rows
                            if r.variant == variant and (r.batch_size, r.threads) == config
                        ),
                        None,
                    )
                    x = c + (v - (len(variants) - 1) / 2) * width
                    if row is None:
                        continue
                    if row.skipped_reason:
                        axes.text(x, top * 0.04, "skipped", rotation=90, ha="center", va="bottom",
                                  fontsize=7, color="#777777")  # fmt: skip
                        continue
                    low = row.p50_ms - row.min_ms if row.min_ms > 0 else 0.0
                    axes.bar(
                        x,
                        row.p50_ms,
                        width=width * 0.92,
                        color=colors.get(variant, "#777777"),
                        yerr=[[low], [max(0.0, row.p99_ms - row.p50_ms)]],
                        capsize=3,
                        error_kw={"elinewidth": 1, "ecolor": "#333333"},
                        label=variant if c == 0 else None,
                    )
            axes.set_xticks(range(len(configs)), [f"batch {b}, {t} thr." for b, t in configs])
            # Fixed limits keep every variant's slot visible, "skipped" labels included.
            axes.set_xlim(-0.5, len(configs) - 0.5)
            axes.set_title(provider)
            axes.set_ylabel("milliseconds")
            axes.grid(axis="x", visible=False)
        handles, labels = [], []
        for axes in panels:
            for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        figure.legend(handles, labels, loc="outside right upper")
        svg = figure_to_svg(figure, chart_id="latency", title=title)
    return [Chart(title, svg)]


def sensitivity_bars(report: pb.Report) -> list[Chart]:
    """Change in robust accuracy when one layer alone is changed, most damaging
    first; one panel per method (prune, quantize) sharing the layer axis."""
    rows = list(report.sensitivity)
    if not rows:
        return []
    first = rows[0]
    groups = sensitivity_groups(report)
    if len(groups) == 1:
        title = (
            f"Layer sensitivity: robust accuracy change under {first.attack} "
            f"(eps {first.epsilon:.4g}) when only that layer is pruned"
        )
    else:
        title = (
            f"Layer sensitivity: robust accuracy change under {first.attack} "
            f"(eps {first.epsilon:.4g}) when only that layer is changed, per method"
        )
    # Layers in the order of their worst change over every method.
    worst: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row.layer, row.op_type)
        worst[key] = min(worst.get(key, row.robust_change), row.robust_change)
    layers = sorted(worst, key=lambda key: worst[key])
    limit = max((abs(row.robust_change) for row in rows), default=0.0) or 0.05
    height = 1.3 + 0.32 * len(layers)
    width = 7.5 if len(groups) == 1 else min(11.0, 2.6 + 3.6 * len(groups))
    with new_figure(width, height, chart_id="sensitivity") as figure:
        panels = figure.subplots(1, len(groups), squeeze=False, sharey=True)[0]
        positions = list(range(len(layers)))
        for axes, (method, method_rows) in zip(panels, groups.items(), strict=True):
            by_layer = {(row.layer, row.op_type): row.robust_change for row in method_rows}
            changes = [by_layer.get(key, 0.0) for key in layers]
            colors = ["#b2182b" if change < 0 else "#2166ac" for change in changes]
            axes.barh(positions, changes, color=colors)
            for position, key in zip(positions, layers, strict=True):
                if key not in by_layer:
                    axes.text(
                        0, position, " not measured", va="center", fontsize=7, color="#777777"
                    )
            axes.axvline(0.0, color="#333333", linewidth=0.8)
            axes.set_xlim(-limit * 1.15, limit * 1.15)
            axes.grid(axis="y", visible=False)
            if len(groups) > 1:
                axes.set_title(method or "unnamed method")
        panels[0].set_yticks(positions, [f"{layer} ({op})" for layer, op in layers])
        panels[0].invert_yaxis()  # most damaging layer on top
        if len(groups) == 1:
            panels[0].set_xlabel("robust accuracy change against the unchanged base model")
        else:
            figure.supxlabel("robust accuracy change against the unchanged base model", fontsize=9)
        svg = figure_to_svg(figure, chart_id="sensitivity", title=title)
    return [Chart(title, svg)]


# Markers of the comparison variants in the search chart, one per row.
_COMPARISON_MARKERS = ("D", "^", "v", "P", "X", "s", "<", ">", "h", "p")


def search_chart(report: pb.Report, colors: dict[str, str]) -> list[Chart]:
    """The search's candidates: robust accuracy against latency ratio, marker
    area proportional to size ratio. Pareto-front candidates are outlined and
    joined, the chosen one is starred, candidates that broke a constraint are
    grey, and the comparison variants (measured on the evaluation samples) are
    labelled markers of their own. Failed candidates and points without a
    latency measurement cannot be placed and are left out (the tables list them)."""
    if not report.HasField("search"):
        return []
    search = report.search
    candidates = [c for c in search.candidates if c.ok and c.latency_ratio > 0]
    comparison = [row for row in search.comparison if row.latency_ratio > 0]
    if not candidates and not comparison:
        return []
    title = (
        f"Search: robust accuracy under {search.attack} (eps {search.epsilon:.4g}) "
        "against latency and size"
    )

    def area(size_ratio: float) -> float:
        return 25 + 260 * min(max(size_ratio, 0.0), 1.5)

    with new_figure(7.6, 4.4, chart_id="search") as figure:
        axes = figure.add_subplot()
        xs = [c.latency_ratio for c in candidates] + [r.latency_ratio for r in comparison] + [1.0]
        ys = [c.robust_accuracy for c in candidates] + [r.robust_accuracy for r in comparison]
        ys.append(search.base_robust_accuracy)
        off = [c for c in candidates if not c.within_budgets]
        kept = [c for c in candidates if c.within_budgets and not c.on_front]
        front = [c for c in candidates if c.on_front]

        def scatter(group: list[pb.SearchCandidate], **style: Any) -> None:
            """One marker per candidate: latency ratio, robust accuracy, area by size."""
            if group:
                axes.scatter(
                    [c.latency_ratio for c in group],
                    [c.robust_accuracy for c in group],
                    s=[area(c.size_ratio) for c in group],
                    **style,
                )

        scatter(off, color="#bbbbbb", alpha=0.6, edgecolors="#999999", linewidths=0.6,
                zorder=2, label="candidate outside a budget or the clean-drop limit")  # fmt: skip
        scatter(kept, color="#56B4E9", alpha=0.45, edgecolors="none", zorder=3,
                label="candidate within budgets")  # fmt: skip
        front_colors = ["#0072B2" if c.within_budgets else "#bbbbbb" for c in front]
        scatter(front, color=front_colors, alpha=0.9, edgecolors="black", linewidths=1.3,
                zorder=4, label="on the Pareto front")  # fmt: skip
        if front:
            ordered = sorted(front, key=lambda c: (c.latency_ratio, c.robust_accuracy))
            if len(ordered) > 1:
                axes.plot(
                    [c.latency_ratio for c in ordered],
                    [c.robust_accuracy for c in ordered],
                    linestyle="-",
                    color="black",
                    linewidth=0.9,
                    zorder=3,
                )
            for c in front:
                if not c.chosen:
                    axes.annotate(
                        c.name,
                        (c.latency_ratio, c.robust_accuracy),
                        textcoords="offset points",
                        xytext=(math.sqrt(area(c.size_ratio)) / 2 + 3, -2),
                        fontsize=7,
                        color="#333333",
                        zorder=6,
                    )
        for c in candidates:
            if c.chosen:
                axes.scatter(
                    [c.latency_ratio],
                    [c.robust_accuracy],
                    marker="*",
                    s=260,
                    color="#E69F00",
                    edgecolors="black",
                    linewidths=1.0,
                    zorder=7,
                    label=f"chosen: {c.name} → {search.variant or 'not kept'}",
                )
                axes.annotate(
                    f"chosen ({c.name})",
                    (c.latency_ratio, c.robust_accuracy),
                    textcoords="offset points",
                    xytext=(10, 6),
                    fontsize=8,
                    fontweight="bold",
                    zorder=8,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
        # The base model on the validation split: the point every ratio is against.
        axes.scatter(
            [1.0],
            [search.base_robust_accuracy],
            marker="o",
            s=area(1.0),
            facecolors="none",
            edgecolors="#222222",
            linewidths=1.2,
            zorder=4,
            label="base (validation split)",
        )
        for index, row in enumerate(comparison):
            marker = _COMPARISON_MARKERS[index % len(_COMPARISON_MARKERS)]
            color = colors.get(row.variant, "#555555")
            preset = f", {row.preset}" if row.preset else ""
            axes.scatter(
                [row.latency_ratio],
                [row.robust_accuracy],
                marker=marker,
                s=80,
                color=color,
                edgecolors="#222222",
                linewidths=0.7,
                zorder=5,
                label=f"{row.variant}{preset} (evaluation samples)",
            )
            axes.annotate(
                row.variant,
                (row.latency_ratio, row.robust_accuracy),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7.5,
                color=color,
                zorder=6,
            )
        if search.max_latency_ratio > 0:
            axes.axvline(
                search.max_latency_ratio,
                color="#cf222e",
                linestyle="--",
                linewidth=1.0,
                zorder=1,
                label=f"latency budget ≤ {search.max_latency_ratio:.2f}×",
            )
            xs.append(search.max_latency_ratio)
        span = max(xs) - min(xs)
        pad = span * 0.12 if span > 0 else 0.1
        axes.set_xlim(max(0.0, min(xs) - pad), max(xs) + pad * 1.5)
        low, high = min(ys), max(ys)
        ypad = (high - low) * 0.15 if high > low else 0.05
        axes.set_ylim(max(0.0, low - ypad), min(1.02, high + ypad * 1.5))
        axes.set_xlabel("CPU p50 latency / base's (lower is better)")
        axes.set_ylabel("robust accuracy")
        axes.set_title("Candidates (marker area ∝ size / base)")
        axes.annotate(
            "base",
            (1.0, search.base_robust_accuracy),
            textcoords="offset points",
            xytext=(0, -16),
            ha="center",
            fontsize=7.5,
            color="#222222",
        )
        figure.legend(loc="outside right upper", fontsize=7, markerscale=0.6)
        svg = figure_to_svg(figure, chart_id="search", title=title)
    return [Chart(title, svg)]


def tradeoff_chart(data: Tradeoff, colors: dict[str, str]) -> list[Chart]:
    """Accuracy against latency, marker area proportional to file size, Pareto
    front circled and joined; clean accuracy left, worst-case robust right."""
    if not data.points or data.config is None:
        return []
    # (axis label, panel title, values, front) per panel.
    panels_spec: list[tuple[str, str, list[float], list[str]]] = [
        (
            "clean accuracy",
            "Clean accuracy",
            [p.clean_accuracy for p in data.points],
            data.clean_front,
        )
    ]
    if data.epsilon is not None:
        panels_spec.append(
            (
                "robust accuracy",
                f"Worst-case robust accuracy, ε = {data.epsilon:.4g}",
                [p.robust_accuracy or 0.0 for p in data.points],
                data.robust_front,
            )
        )
    title = f"Accuracy–latency–size trade-off ({data.config})"
    largest = max(p.size_bytes for p in data.points)
    with new_figure(4.2 * len(panels_spec) + 0.4, 3.4, chart_id="tradeoff") as figure:
        panels = figure.subplots(1, len(panels_spec), squeeze=False)[0]
        for axes, (label, panel_title, accuracy, front) in zip(panels, panels_spec, strict=True):
            latency = [p.latency_ms for p in data.points]
            for point, y in zip(data.points, accuracy, strict=True):
                on_front = point.variant in front
                area = 40 + 360 * point.size_bytes / largest
                axes.scatter(
                    point.latency_ms, y, s=area, color=colors.get(point.variant, "#777777"),
                    alpha=0.9 if on_front else 0.35, edgecolors="black" if on_front else "none",
                    linewidths=1.4, zorder=3,
                )  # fmt: skip
                # Label to the right of the marker edge (area in pt², radius in pt).
                # The size in the label, since marker areas are hard to read; a
                # white box keeps the front's line from striking through the text.
                axes.annotate(
                    f"{point.variant} ({format_bytes(point.size_bytes)})",
                    (point.latency_ms, y), textcoords="offset points",
                    xytext=(math.sqrt(area) / 2 + 4, 0), va="center", fontsize=8, zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )  # fmt: skip
            front_points = sorted(
                (p.latency_ms, y)
                for p, y in zip(data.points, accuracy, strict=True)
                if p.variant in front
            )
            if len(front_points) > 1:
                xs, ys = zip(*front_points, strict=True)
                axes.plot(xs, ys, linestyle="--", color="black", linewidth=0.9, zorder=2,
                          label="Pareto front")  # fmt: skip
                axes.legend(loc="lower right")
            span = max(latency) - min(latency)
            pad = span * 0.25 if span > 0 else max(latency) * 0.2
            # Extra room on the right for the labels of the slowest variants.
            axes.set_xlim(max(0.0, min(latency) - pad), max(latency) + 2.2 * pad)
            low = min(accuracy)
            axes.set_ylim(max(0.0, low - 0.1), min(1.01, max(accuracy) + 0.08))
            axes.set_xlabel("p50 latency (ms), lower is better")
            axes.set_ylabel(label)
            axes.set_title(panel_title)
        svg = figure_to_svg(figure, chart_id="tradeoff", title=title)
    return [Chart(title, svg)]


def mode_label(mode: int) -> str:
    """``white-box`` / ``transfer`` / ``black-box`` for captions."""
    return mode_name(mode).replace("_", "-")
