"""Runs the demo evaluation against a running (containerised) server and checks the report.

    python containers/check_report.py --address 127.0.0.1:PORT \
        --reference demo-report/report.json --out test-artifacts/container [--edge]

Uses the host's client SDK exactly as examples/demo.py does (quick preset), writes the
report as JSON and HTML under --out, and compares it with the reference report of the
local demo (``make demo``): the same top-level fields, the same variants, the same
attack rows (attack, mode, epsilon, source and target variant), every field of the
reference's sections (model, dataset, variants, attacks, latency; newer extra fields
are noted), measured CPU latency rows, a succeeded job and every variant built.
Numbers are compared only for information (they may differ by a few samples between
CPUs and thread counts).
With --edge, latency rows of the OpenVINO execution provider must have been measured.
Exit 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))


def say(line: str = "", stream: Any = None) -> None:
    """One line of output (a script, not library code: no logging set-up needed)."""
    (stream or sys.stdout).write(line + "\n")


def _keys(rows: list[dict[str, Any]]) -> set[str]:
    return set().union(*(row.keys() for row in rows)) if rows else set()


def _attack_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row.get("attack"),
        row.get("mode"),
        round(float(row.get("epsilon", 0.0)), 6),
        row.get("source_variant"),
        row.get("target_variant"),
    )


def compare(
    report: dict[str, Any], reference: dict[str, Any], edge: bool, notes: list[str]
) -> list[str]:
    """Problems found; empty when the container's report matches the reference's shape."""
    problems: list[str] = []

    def same(what: str, got: set[Any], want: set[Any]) -> None:
        if got != want:
            problems.append(
                f"{what} differ: missing {sorted(want - got, key=str)},"
                f" unexpected {sorted(got - want, key=str)}"
            )

    same("top-level fields", set(report), set(reference))
    if report.get("job_state") != "succeeded":
        problems.append(f"job_state is {report.get('job_state')!r}: {report.get('error')}")
    variants, ref_variants = report.get("variants", []), reference.get("variants", [])
    same("variants", {v["name"] for v in variants}, {v["name"] for v in ref_variants})
    for v in variants:
        if not v.get("ok", False):
            problems.append(f"variant {v['name']} failed: {v.get('error')}")
    # Nested sections: every field of the reference must be there. Newer fields than a
    # reference made by older sources are noted, not failed (rerun `make demo`).
    for section in ("model", "dataset", "variants", "attacks", "latency"):
        got, want = report.get(section, {}), reference.get(section, {})
        got_keys = _keys(got) if isinstance(got, list) else set(got)
        want_keys = _keys(want) if isinstance(want, list) else set(want)
        if want_keys - got_keys:
            problems.append(f"{section} fields missing: {sorted(want_keys - got_keys)}")
        if got_keys - want_keys:
            notes.append(
                f"{section} has fields the reference lacks: {sorted(got_keys - want_keys)}"
            )
    same(
        "attack rows",
        {_attack_key(a) for a in report.get("attacks", [])},
        {_attack_key(a) for a in reference.get("attacks", [])},
    )
    measured = {
        (row["variant"], row["provider"])
        for row in report.get("latency", [])
        if not row.get("skipped_reason") and row.get("p50_ms", 0) > 0
    }
    ref_measured = {
        (row["variant"], row["provider"])
        for row in reference.get("latency", [])
        if not row.get("skipped_reason") and row.get("p50_ms", 0) > 0
    }
    cpu = {key for key in ref_measured if key[1] == "cpu"}
    if not cpu <= measured:
        problems.append(f"CPU latency rows missing: {sorted(cpu - measured)}")
    if edge:
        wanted = {(v["name"], "openvino") for v in ref_variants}
        if not wanted <= measured:
            skipped = {
                row["variant"]: row.get("skipped_reason")
                for row in report.get("latency", [])
                if row["provider"] == "openvino"
            }
            problems.append(
                f"OpenVINO latency rows missing: {sorted(wanted - measured)} (skipped: {skipped})"
            )
    return problems


def accuracy_differences(report: dict[str, Any], reference: dict[str, Any]) -> float:
    """Largest |robust accuracy difference| over matching attack rows (information)."""
    ref = {_attack_key(a): a["robust_accuracy"] for a in reference.get("attacks", [])}
    diffs = [
        abs(a["robust_accuracy"] - ref[_attack_key(a)])
        for a in report.get("attacks", [])
        if _attack_key(a) in ref
    ]
    return max(diffs, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--reference", type=Path, default=ROOT / "demo-report" / "report.json")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "container")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--edge", action="store_true", help="require OpenVINO latency rows")
    args = parser.parse_args()

    import digits

    from robustedge.client import Client, render

    example_dir = ROOT / "examples" / "data"
    model, dataset = example_dir / digits.MODEL_NAME, example_dir / digits.DATASET_NAME
    if not (model.exists() and dataset.exists()):
        digits.build(example_dir)
    started = time.perf_counter()
    with Client(args.address) as client:
        capabilities = client.capabilities() if hasattr(client, "capabilities") else None
        response = client.evaluate(model, dataset, preset=args.preset, progress=False, html=True)
    seconds = time.perf_counter() - started
    report = render.report_to_dict(response.report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    if response.documents:
        (args.out / "report.html").write_bytes(response.documents[0].content)
    if capabilities is not None:
        runtimes = [
            f"{r.name}: {', '.join(r.providers) or r.unavailable_reason}"
            for r in getattr(capabilities, "runtimes", [])
        ]
        say(f"server runtimes: {'; '.join(runtimes)}")
    say(f"evaluation through the container took {seconds:.1f} s; report in {args.out}/")
    say("\n".join(render.summary_lines(response.report)))

    reference = json.loads(args.reference.read_text())
    notes: list[str] = []
    problems = compare(report, reference, args.edge, notes)
    for note in notes:
        say(f"note: {note} (reference older than the sources? rerun `make demo`)")
    say(
        f"largest robust-accuracy difference to the local demo: "
        f"{accuracy_differences(report, reference):.3f} (information only)"
    )
    for problem in problems:
        say(f"MISMATCH: {problem}", sys.stderr)
    if problems:
        return 1
    say(
        f"report matches the local demo: {len(report)} top-level fields,"
        f" variants {[v['name'] for v in report['variants']]},"
        f" {len(report['attacks'])} attack rows, {len(report['latency'])} latency rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
