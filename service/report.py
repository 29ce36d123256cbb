"""Assembles the Report message from the recorded results of a job's units.

Units return rows in the proto's field names; this module only orders them,
adds the flags that need the whole picture (sanity checks across attacks and
variants), evaluates the gates and describes the environment.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from google.protobuf import json_format

from robustedge.service.environment import environment
from robustedge.service.plan import BASE, Unit, variant_names
from robustedge.service.store import UnitRecord
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger(__name__)


def _parse(row: dict[str, Any], message: Any) -> Any:
    return json_format.ParseDict(row, message, ignore_unknown_fields=True)


def assemble(
    job: pb.Job,
    model: pb.ModelInfo,
    dataset: pb.DatasetInfo,
    plan: list[Unit],
    units: dict[str, UnitRecord],
    extra_flags: list[dict[str, Any]] | None = None,
) -> pb.Report:
    report = pb.Report(
        job_id=job.id,
        job_state=job.state,
        model=model,
        dataset=dataset,
        spec=job.spec,
        environment=environment(),
        error=job.error,
    )
    report.created_at.GetCurrentTime()
    if job.HasField("started_at"):
        report.seconds = time.time() - job.started_at.ToDatetime().timestamp()
    prepare = units.get("prepare")
    if prepare and prepare.ok:
        report.samples = int(prepare.result.get("samples", 0))

    flags: list[dict[str, Any]] = list(extra_flags or [])
    variants_seen = set()
    for unit in plan:
        record = units.get(unit.key)
        if record is None:
            continue
        if not record.ok:
            if unit.kind == "variant":
                report.variants.add(name=unit.variant, ok=False, error=record.error)
                variants_seen.add(unit.variant)
            elif not record.error.startswith("skipped"):
                flags.append(
                    {
                        "code": "unit_failed",
                        "severity": "FLAG_SEVERITY_ERROR",
                        "variant": unit.variant,
                        "message": f"{unit.stage} failed: {record.error}",
                    }
                )
            continue
        for row in record.result.get("variants", []):
            _parse(row, report.variants.add())
            variants_seen.add(row["name"])
        for row in record.result.get("attacks", []):
            message = _parse({k: v for k, v in row.items() if k != "mode"}, report.attacks.add())
            # Units write the short name the JSON report uses ("white_box").
            message.mode = pb.AttackMode.Value(f"ATTACK_MODE_{row['mode'].upper()}")
        for row in record.result.get("latency", []):
            _parse(row, report.latency.add())
        for row in record.result.get("files", []):
            _parse(row, report.files.add())
        for row in record.result.get("sensitivity", []):
            _parse(row, report.sensitivity.add())
        if "search" in record.result:
            _parse(record.result["search"], report.search)
        flags.extend(record.result.get("flags", []))

    flags.extend(_sanity_flags(report))
    for flag in flags:
        _parse(flag, report.flags.add())
    _order_variants(report, job.spec)
    base = next((v for v in report.variants if v.name == BASE), None)
    if base is not None and base.HasField("macs"):
        report.model.macs = base.macs
    if report.HasField("search"):
        compare_search(report)
    report.gates.extend(_gates(report, list(job.spec.gates)))
    return report


def compare_search(report: pb.Report) -> None:
    """Puts the searched variant beside the plain preset variants of the same report,
    all measured on the evaluation samples, and writes the verdict."""
    from robustedge.service.comparison import comparison_rows, verdict

    search = report.search
    del search.comparison[:]
    for row in comparison_rows(report):
        search.comparison.add(**row)
    search.verdict = verdict(report)


def _order_variants(report: pb.Report, spec: pb.EvaluationSpec) -> None:
    order = {name: i for i, name in enumerate(variant_names(spec))}
    rows = sorted(report.variants, key=lambda v: order.get(v.name, len(order)))
    copies = [pb.VariantResult() for _ in rows]
    for copy, row in zip(copies, rows, strict=True):
        copy.CopyFrom(row)
    del report.variants[:]
    report.variants.extend(copies)


def _sanity_flags(report: pb.Report) -> list[dict[str, Any]]:
    """Cross-result checks from the attack suite (e.g. robust accuracy rising with epsilon)."""
    try:
        from robustedge.attacks import sanity
    except ImportError:
        return []
    from robustedge.client.render import report_to_dict

    as_dict = report_to_dict(report)
    try:
        found = sanity.check_report(as_dict)
    except Exception:  # a sanity check must never lose the report
        log.exception("sanity checks failed")
        return []
    return [
        {**flag, "severity": f"FLAG_SEVERITY_{str(flag.get('severity', 'warning')).upper()}"}
        for flag in found
    ]


def _gates(report: pb.Report, expressions: list[str]) -> list[pb.GateResult]:
    if not expressions:
        return []
    from robustedge.client.gates import evaluate_gates

    return list(evaluate_gates(report, expressions))


def base_failed(plan: list[Unit], units: dict[str, UnitRecord]) -> str:
    """The reason the job cannot produce a meaningful report, or '' if it can."""
    for key in ("prepare", f"variant:{BASE}"):
        record = units.get(key)
        if record is not None and not record.ok:
            return record.error
        if record is not None and key != "prepare":
            rows = record.result.get("variants", [{}])
            if rows and not rows[0].get("ok", True):
                return str(rows[0].get("error", "the base model failed"))
    return ""
