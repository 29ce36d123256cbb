"""The units of an evaluation, as run inside a worker process.

Each ``run_*`` function takes the job's :class:`JobContext` and returns a JSON-able
dict whose keys are Report fields (``variants``, ``attacks``, ``latency``,
``flags``) holding rows in the proto's snake_case field names. The parent process
records that dict as the unit's result and assembles the report from the results.

Robust accuracy is always measured by running adversarial inputs through
onnxruntime on the target variant, never only on the torch replica.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustedge.service.plan import (
    BASE,
    Unit,
    search_variant,
    shard_bounds,
    transfer_sources,
    variant_names,
)
from robustedge.service.spec import objective_epsilon, struct_to_dict
from robustedge.service.validation import load_dataset
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

# Default bridge fidelity thresholds; quantized variants get one quantization step
# of slack through top-1 agreement rather than max abs diff (see issue 3).
DEFAULT_MAX_ABS_DIFF = 1e-4
DEFAULT_MIN_AGREEMENT = 0.99
SCORING_BATCH = 256


@dataclass
class JobContext:
    """Everything a unit needs; built once per worker process."""

    job_dir: Path
    model_path: Path
    dataset_path: Path
    spec: pb.EvaluationSpec
    # Results of finished units by key (earlier attempts included), for later units.
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    _sessions: dict[str, Any] = field(default_factory=dict)
    _bridges: dict[str, Any] = field(default_factory=dict)
    _data: dict[str, np.ndarray] = field(default_factory=dict)

    # -- paths ----------------------------------------------------------------------

    def variant_path(self, name: str) -> Path:
        return self.job_dir / "variants" / f"{name}.onnx"

    def transfer_sources(self, attack_index: int) -> list[str]:
        return transfer_sources(self.spec.attacks[attack_index], variant_names(self.spec))

    def adversarial_path(self, attack_index: int, source: str, eps_index: int) -> Path:
        return self.job_dir / "adversarial" / f"a{attack_index}-{source}-e{eps_index}.npy"

    def shard_path(self, attack_index: int, variant: str, eps_index: int, part: int) -> Path:
        """One sample slice's adversarial examples, until the merge unit joins them."""
        return self.job_dir / "shards" / f"a{attack_index}-{variant}-e{eps_index}-s{part}.npy"

    # -- data -----------------------------------------------------------------------

    def eval_data(self) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        if "x" not in self._data:
            with np.load(self.job_dir / "eval.npz") as archive:
                self._data.update({k: archive[k] for k in archive.files})
        low, high = self._data["input_range"]
        return self._data["x"], self._data["y"], (float(low), float(high))

    def holdout_data(self) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.job_dir / "holdout.npz") as archive:
            return archive["x"], archive["y"]

    # -- models ---------------------------------------------------------------------

    def session(self, variant: str) -> Any:
        if variant not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            self._sessions[variant] = ort.InferenceSession(
                str(self.variant_path(variant)), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[variant]

    def predict(self, variant: str, x: np.ndarray) -> np.ndarray:
        """Scores a batch on the variant's onnxruntime session (first output)."""
        session = self.session(variant)
        name = session.get_inputs()[0].name
        outputs = [
            session.run(None, {name: x[i : i + SCORING_BATCH]})[0]
            for i in range(0, len(x), SCORING_BATCH)
        ]
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def bridge(self, variant: str) -> Any:
        """The variant's torch replica, or the exception that prevented it (cached)."""
        if variant not in self._bridges:
            from robustedge.bridge import convert

            try:
                self._bridges[variant] = convert(str(self.variant_path(variant)))
            except Exception as exc:  # any conversion failure is reported, not raised
                log.warning("bridge failed for %s: %s", variant, exc)
                self._bridges[variant] = exc
        return self._bridges[variant]


def run_unit(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    runners: dict[str, Callable[[JobContext, Unit, Progress], dict[str, Any]]] = {
        "prepare": run_prepare,
        "variant": run_variant,
        "attack": run_attack,
        "merge": run_merge,
        "transfer": run_transfer,
        "latency": run_latency,
        "sensitivity": run_sensitivity,
        "search": run_search,
    }
    return runners[unit.kind](ctx, unit, progress)


# -- prepare ------------------------------------------------------------------------


def run_prepare(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Selects the evaluation samples (first N after a seeded shuffle); the rest is holdout."""
    x, y, input_range = load_dataset(ctx.dataset_path)
    order = np.random.default_rng(ctx.spec.seed).permutation(len(y))
    n = min(ctx.spec.samples or len(y), len(y))
    chosen, rest = order[:n], order[n:]
    ctx.job_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        ctx.job_dir / "eval.npz",
        x=x[chosen],
        y=y[chosen],
        input_range=np.array(input_range, dtype=np.float64),
    )
    np.savez(ctx.job_dir / "holdout.npz", x=x[rest], y=y[rest])
    flags = []
    if len(rest) == 0 and ctx.spec.variants:
        flags.append(
            _flag(
                "calibration_overlaps_evaluation",
                pb.FLAG_SEVERITY_WARNING,
                "All samples are evaluation samples, so quantization calibration and"
                " fine-tuning used them too; lower `samples` to keep a holdout split.",
            )
        )
    return {"samples": int(n), "holdout": len(rest), "flags": flags}


# -- variants -----------------------------------------------------------------------


def run_variant(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Builds a variant (base: the upload itself), then checks accuracy and bridge fidelity."""
    name = unit.variant
    path = ctx.variant_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    row: dict[str, Any] = {"name": name, "ok": True}
    if name == BASE:
        shutil.copyfile(ctx.model_path, path)
        facts: dict[str, Any] = {}
    elif name == search_variant(ctx.spec):
        chosen = _searched_candidate(ctx)
        if chosen is None:
            search = ctx.results.get("search", {}).get("search", {})
            why = search.get("stopped_because") or "the search did not run"
            row.update(
                ok=False,
                error=f"the search found no candidate within the budgets and the clean-"
                f"accuracy constraint ({why})",
                build_seconds=0.0,
            )
            return {"variants": [row]}
        shutil.copyfile(ctx.job_dir / SEARCH_DIR / CHOSEN_MODEL, path)
        row["steps"] = chosen["steps"]
        facts = {}
    else:
        spec = next(v for v in ctx.spec.variants if v.name == name)
        steps = [{"compressor": s.compressor, **struct_to_dict(s.params)} for s in spec.steps]
        row["steps"] = [json_step(s) for s in spec.steps]
        progress(0.05, f"compressing {name}")
        try:
            facts = _build_variant(ctx, steps, path)
        except Exception as exc:  # a failed variant must not fail the job
            log.exception("variant %s failed", name)
            row.update(ok=False, error=_reason(exc), build_seconds=time.perf_counter() - started)
            return {"variants": [row]}
        row["steps"] = facts.pop("resolved_steps", row["steps"])
    row["build_seconds"] = time.perf_counter() - started
    if "per_layer_sparsity" not in facts:  # compressed variants come with their facts
        facts = {**_model_facts(path), **facts}
    row.update(_variant_facts(path, facts))
    progress(0.5, f"checking {name}")
    x, y, _ = ctx.eval_data()
    predictions = ctx.predict(name, x).argmax(1)
    np.save(ctx.job_dir / "variants" / f"{name}.pred.npy", predictions)
    row["clean_accuracy"] = float((predictions == y).mean())
    row["fidelity"] = _fidelity(ctx, name, x)
    result: dict[str, Any] = {"variants": [row], "facts": _jsonable(facts)}
    result["flags"] = _variant_sanity(ctx, name, x, y)
    if not row["fidelity"].get("passed"):
        reason = row["fidelity"].get("error") or "outputs differ from onnxruntime"
        result["flags"] += [
            _flag(
                "fidelity_failed",
                pb.FLAG_SEVERITY_WARNING,
                f"The torch replica of {name} does not match onnxruntime ({reason});"
                " its white-box results are marked untrusted.",
                variant=name,
            )
        ]
    return result


def _build_model(
    ctx: JobContext, model: Any, steps: list[dict[str, Any]], work_dir: Path
) -> tuple[Any, Any]:
    """Builds ``steps`` on ``model`` with the holdout split as calibration and
    fine-tune data (the evaluation samples when there is no holdout)."""
    from robustedge.compressors import CompressionData, build_variant

    holdout_x, holdout_y = ctx.holdout_data()
    _, _, input_range = ctx.eval_data()
    if len(holdout_y) == 0:
        holdout_x, holdout_y, _ = ctx.eval_data()
    work_dir.mkdir(parents=True, exist_ok=True)
    data = CompressionData(
        calib_x=holdout_x,
        calib_y=holdout_y,
        train_x=holdout_x,
        train_y=holdout_y,
        input_name=model.graph.input[0].name,
        seed=int(ctx.spec.seed),
        work_dir=work_dir,
        input_range=input_range,
    )
    try:
        build = build_variant(model, steps, data)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return build.model, build


def _build_variant(ctx: JobContext, steps: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    import onnx

    model, build = _build_model(
        ctx, onnx.load(str(ctx.model_path)), steps, path.parent / f"{path.stem}.work"
    )
    onnx.save(model, str(path))
    facts = dict(build.facts)
    facts["resolved_steps"] = [
        {"compressor": s["compressor"], "params": {k: v for k, v in s.items() if k != "compressor"}}
        for s in build.steps
    ]
    return facts


def json_step(step: pb.CompressionStep) -> dict[str, Any]:
    return {"compressor": step.compressor, "params": struct_to_dict(step.params)}


def _model_facts(path: Path) -> dict[str, Any]:
    import onnx

    from robustedge.compressors import model_facts

    return dict(model_facts(onnx.load(str(path))))


def _variant_facts(path: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """VariantResult fields from the compressors' model facts and the file itself."""
    import hashlib

    from robustedge.latency import model_footprint

    footprint = model_footprint(path)
    row: dict[str, Any] = {
        "size_bytes": footprint["size_bytes"],
        "gzip_size_bytes": footprint["gzip_bytes"],
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "parameters": facts["parameters"],
        "initializer_bytes_by_dtype": footprint["initializer_bytes_by_dtype"],
        "layers": [
            {
                "name": name,
                "sparsity": sparsity,
                "unique_weights": facts["unique_weights_per_layer"].get(name, 0),
            }
            for name, sparsity in facts["per_layer_sparsity"].items()
        ],
    }
    if facts.get("prunable_parameters"):
        row["sparsity"] = facts["sparsity"]
    if facts.get("macs") is not None:
        row["macs"] = facts["macs"]
    return row


def _fidelity(ctx: JobContext, name: str, x: np.ndarray) -> dict[str, Any]:
    from robustedge.bridge import measure_fidelity

    max_diff = ctx.spec.fidelity.max_abs_diff or DEFAULT_MAX_ABS_DIFF
    min_agreement = ctx.spec.fidelity.min_top1_agreement or DEFAULT_MIN_AGREEMENT
    bridged = ctx.bridge(name)
    if isinstance(bridged, Exception):
        return {"passed": False, "error": _reason(bridged), "n": 0}
    measured = measure_fidelity(bridged, ctx.session(name), x)
    # Quantized graphs legitimately differ by up to a quantization step; their gate is
    # top-1 agreement, the float gate is max abs diff as well.
    quantized = _is_quantized(ctx.variant_path(name))
    passed = measured.top1_agreement >= min_agreement and (
        quantized or measured.max_abs_diff <= max_diff
    )
    return {
        "max_abs_diff": float(measured.max_abs_diff),
        "top1_agreement": float(measured.top1_agreement),
        "n": int(measured.n),
        "passed": bool(passed),
        "logits_from_pre_softmax": bool(bridged.pre_softmax),
    }


SANITY_SAMPLES = 128
# Folder of a job dir holding the files listed in Report.files.
KEPT_FILES = "files"


def _variant_sanity(ctx: JobContext, name: str, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """Checks that catch a falsely robust variant before any attack runs: outputs that
    are probabilities, outputs that change between identical runs, and vanishing input
    gradients (with the STE bridge, and under exact rounding for quantized graphs, to
    show what a rounding converter would have hidden)."""
    from robustedge.attacks import sanity
    from robustedge.bridge import convert, gradient_nonzero_fraction

    sample_x, sample_y = x[:SANITY_SAMPLES], y[:SANITY_SAMPLES]
    scores = ctx.predict(name, sample_x)
    found = sanity.check_softmax_outputs(name, scores)
    found += sanity.check_determinism(name, "", scores, ctx.predict(name, sample_x))
    bridged = ctx.bridge(name)
    if not isinstance(bridged, Exception):
        ste = gradient_nonzero_fraction(bridged, sample_x, sample_y)
        found += sanity.check_gradients(name, ste)
        if _is_quantized(ctx.variant_path(name)):
            exact = convert(str(ctx.variant_path(name)), gradient="exact")
            rounded = gradient_nonzero_fraction(exact, sample_x, sample_y)
            found.append(
                sanity.flag(
                    "gradient_masking_under_rounding",
                    "info",
                    f"With exact (rounding) semantics only {rounded:.1%} of {name}'s input-"
                    f"gradient entries are non-zero, against {ste:.1%} with the straight-"
                    "through estimator used here: an attack through a converter that rounds"
                    " would have reported robustness that gradient masking produces.",
                    variant=name,
                )
            )
    return [{**f, "severity": f"FLAG_SEVERITY_{f['severity'].upper()}"} for f in found]


def _is_quantized(path: Path) -> bool:
    import onnx

    quantized_ops = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul"}
    model = onnx.load(str(path), load_external_data=False)
    return any(node.op_type in quantized_ops for node in model.graph.node)


# -- attacks ------------------------------------------------------------------------


def run_attack(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """One attack shard: crafts examples on the variant (white-box via its bridge, or
    black-box via onnxruntime) for the unit's epsilons on its slice of the samples.

    With one slice (the default) it scores them on the variant's onnxruntime session and
    returns the report's rows. With several, it saves the slice's examples for the
    ``merge`` unit, which scores and summarizes the whole set at once."""
    from robustedge.attacks import AttackTarget, Need, get_attack

    spec = ctx.spec.attacks[unit.attack_index]
    attack = get_attack(spec.attack)
    x, y, input_range = ctx.eval_data()
    white_box = attack.needs == Need.GRADIENTS
    module = None
    if white_box:
        bridged = ctx.bridge(unit.variant)
        if isinstance(bridged, Exception):
            # One flag per attack x variant, from its first shard, however it is sharded.
            first = unit.part == 0 and unit.epsilons[:1] == (0,)
            flag = _flag(
                "white_box_skipped",
                pb.FLAG_SEVERITY_WARNING,
                f"{spec.attack} needs gradients but {unit.variant} could not be"
                f" converted to torch ({_reason(bridged)}); only transfer and"
                " black-box results are available for it.",
                variant=unit.variant,
                attack=spec.attack,
            )
            return {"attacks": [], "flags": [flag] if first else []}
        module = bridged.module
    params = struct_to_dict(spec.params)
    epsilons = [spec.epsilons[k] for k in unit.epsilons]
    batch_size = attack.resolve_params(params, epsilon=epsilons[0], norm=spec.norm)["batch_size"]
    start, stop = shard_bounds(len(y), int(batch_size), unit.part, unit.parts)
    target = AttackTarget(
        predict=lambda batch: ctx.predict(unit.variant, batch),
        module=module,
        num_classes=int(ctx.predict(unit.variant, x[:1]).shape[1]),
        input_shape=tuple(x.shape[1:]),
    )
    rows: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    shards: list[dict[str, Any]] = []
    for n, (k, eps) in enumerate(zip(unit.epsilons, epsilons, strict=True)):

        def report(fraction: float, n: int = n, eps: float = eps) -> None:
            progress((n + fraction) / len(epsilons), f"eps={eps:g}")

        started = time.perf_counter()
        run = attack.generate(
            target,
            x[start:stop],
            y[start:stop],
            epsilon=eps,
            norm=spec.norm,
            params=params,
            input_range=input_range,
            seed=int(ctx.spec.seed),
            progress=report,
            offset=start,
        )
        if unit.parts > 1:
            path = ctx.shard_path(unit.attack_index, unit.variant, k, unit.part)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, run.x_adv)
            shard = {"epsilon_index": k, "part": unit.part, "start": start, "stop": stop}
            shard["params"] = run.params
            if run.queries is not None:
                shard["queries"] = int(run.queries)
            shard["seconds"] = time.perf_counter() - started
            shards.append(_jsonable(shard))
            continue
        row, kept = _finish_attack(ctx, unit, k, run.x_adv, run.params, white_box)
        if run.queries is not None:
            row["queries"] = int(run.queries)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        files += kept
    if unit.parts > 1:
        return {"shards": shards}
    return {"attacks": rows, "files": files}


def run_merge(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Joins the sample slices of one attack x variant x epsilon into the report's row,
    computed over the whole set exactly as an unsliced shard computes it (medians and
    intervals need every sample; scoring in the same batches keeps dynamically quantized
    graphs' per-batch scales), with seconds and queries summed over the slices."""
    from robustedge.attacks import Need, get_attack

    spec = ctx.spec.attacks[unit.attack_index]
    (k,) = unit.epsilons
    # The unit depends on exactly the shards that ran its epsilon, in slice order.
    slices = [
        s
        for key in unit.depends
        for s in ctx.results[key].get("shards", [])
        if s["epsilon_index"] == k
    ]
    if not slices:  # the shards were skipped (no torch replica); their flag says why
        return {"attacks": []}
    x_adv = np.concatenate(
        [np.load(ctx.shard_path(unit.attack_index, unit.variant, k, s["part"])) for s in slices]
    )
    white_box = get_attack(spec.attack).needs == Need.GRADIENTS
    progress(0.5, f"eps={spec.epsilons[k]:g}")
    started = time.perf_counter()
    row, files = _finish_attack(ctx, unit, k, x_adv, slices[0]["params"], white_box)
    queries = [s["queries"] for s in slices if "queries" in s]
    if queries:
        row["queries"] = int(sum(queries))
    row["seconds"] = sum(float(s["seconds"]) for s in slices) + time.perf_counter() - started
    return {"attacks": [row], "files": files}


def _finish_attack(
    ctx: JobContext,
    unit: Unit,
    eps_index: int,
    x_adv: np.ndarray,
    params: dict[str, Any],
    white_box: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Scores one epsilon's examples for the whole set on the variant's onnxruntime
    session; writes them for transfer and as a kept file; returns (row, kept files)."""
    from robustedge.attacks import summarize

    spec = ctx.spec.attacks[unit.attack_index]
    eps = spec.epsilons[eps_index]
    x, y, _ = ctx.eval_data()
    clean = np.load(ctx.job_dir / "variants" / f"{unit.variant}.pred.npy")
    adversarial = ctx.predict(unit.variant, x_adv).argmax(1)
    if white_box and unit.variant in ctx.transfer_sources(unit.attack_index):
        path = ctx.adversarial_path(unit.attack_index, unit.variant, eps_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, x_adv)
    row = _attack_row(
        spec, eps, params, summarize(x, x_adv, y, clean, adversarial),
        mode="white_box" if white_box else "black_box",
        source=unit.variant, target=unit.variant,
        trusted=not white_box or _fidelity_passed(ctx, unit.variant),
    )  # fmt: skip
    files = []
    if ctx.spec.keep_adversarial:
        files.append(_keep_adversarial(ctx, unit, eps, x_adv, y, adversarial))
    return row, files


def _keep_adversarial(
    ctx: JobContext,
    unit: Unit,
    eps: float,
    x_adv: np.ndarray,
    y: np.ndarray,
    predicted: np.ndarray,
) -> dict[str, Any]:
    """Writes one attack's adversarial examples as a downloadable .npz; returns its entry."""
    import hashlib

    attack = ctx.spec.attacks[unit.attack_index].attack
    name = f"adversarial/{attack}-a{unit.attack_index}-{unit.variant}-eps{eps:g}.npz"
    path = ctx.job_dir / KEPT_FILES / name
    path.parent.mkdir(parents=True, exist_ok=True)
    # x_adv, the true labels, and what onnxruntime predicted for each adversarial input.
    np.savez_compressed(path, x=x_adv, y=y, predicted=predicted)
    content = path.read_bytes()
    return {
        "name": name,
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "description": f"{attack} eps={eps:g} on {unit.variant}: x (adversarial), y, predicted",
    }


def run_transfer(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Scores examples crafted white-box on the source variant against another variant."""
    from robustedge.attacks import summarize

    spec = ctx.spec.attacks[unit.attack_index]
    x, y, _ = ctx.eval_data()
    clean = np.load(ctx.job_dir / "variants" / f"{unit.variant}.pred.npy")
    rows = []
    for k, eps in enumerate(spec.epsilons):
        path = ctx.adversarial_path(unit.attack_index, unit.source, k)
        if not path.exists():
            continue  # the source attack was skipped; its flag says why
        started = time.perf_counter()
        x_adv = np.load(path)
        adversarial = ctx.predict(unit.variant, x_adv).argmax(1)
        row = _attack_row(
            spec, eps, {}, summarize(x, x_adv, y, clean, adversarial),
            mode="transfer", source=unit.source, target=unit.variant,
            trusted=_fidelity_passed(ctx, unit.source),
        )  # fmt: skip
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        progress((k + 1) / len(spec.epsilons), f"eps={eps:g}")
    return {"attacks": rows}


def _attack_row(
    spec: pb.AttackSpec,
    eps: float,
    params: dict[str, Any],
    metrics: dict[str, Any],
    *,
    mode: str,
    source: str,
    target: str,
    trusted: bool,
) -> dict[str, Any]:
    row = {
        "attack": spec.attack,
        "mode": mode,
        "norm": spec.norm,
        "epsilon": float(eps),
        "params": _jsonable(params),
        "source_variant": source,
        "target_variant": target,
        "trusted": trusted,
    }
    row.update({k: v for k, v in _jsonable(metrics).items() if v is not None})
    return row


def _fidelity_passed(ctx: JobContext, variant: str) -> bool:
    """Whether the variant's bridge passed its fidelity gate (from its finished unit)."""
    result = ctx.results.get(f"variant:{variant}", {})
    rows = result.get("variants") or [{}]
    return bool(rows[0].get("fidelity", {}).get("passed", False))


# -- layer sensitivity --------------------------------------------------------------


def run_sensitivity(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Changes each weight layer of the base model alone — prunes it (smallest-magnitude
    weights to zero) and/or quantizes it to int8 with every other layer kept in float —
    attacks that model white-box through its own bridge, scores it on onnxruntime, and
    reports the change against the unchanged base model, most damaging first. The same
    samples, attack, parameters and seed throughout."""
    import onnx

    from robustedge.compressors.onnx_graph import weight_layers
    from robustedge.search.objective import clean_and_robust

    attack, epsilon, sparsity = sensitivity_settings(ctx.spec)
    objective = _objective(ctx, attack, epsilon)
    methods = list(ctx.spec.sensitivity.methods) or ["prune", "quantize"]
    x, y, input_range = ctx.eval_data()
    base = onnx.load(str(ctx.variant_path(BASE)))
    layers = weight_layers(base)
    baseline = clean_and_robust(base, objective, x, y, input_range)
    rows: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    jobs = [(method, layer) for method in methods for layer in layers]
    for i, (method, layer) in enumerate(jobs):
        progress(i / max(len(jobs), 1), f"{method} {layer.initializer}")
        try:
            if method == "prune":
                changed, description = _prune_one_layer(base, layer.initializer, sparsity)
            else:
                others = [other.initializer for other in layers if other is not layer]
                changed, description = _quantize_one_layer(ctx, base, others)
            clean, robust = clean_and_robust(changed, objective, x, y, input_range)
        except Exception as exc:  # one layer that cannot be changed must not end the analysis
            log.warning("sensitivity %s of %s failed: %s", method, layer.initializer, exc)
            flags.append(
                _flag(
                    "sensitivity_layer_skipped",
                    pb.FLAG_SEVERITY_INFO,
                    f"Layer sensitivity could not {method} {layer.initializer} alone"
                    f" ({_reason(exc)}); the layer has no {method} row.",
                    variant=BASE,
                )
            )
            continue
        rows.append(
            {
                "layer": layer.initializer,
                "op_type": layer.op_type,
                "method": description,
                "clean_accuracy": clean,
                "robust_accuracy": robust,
                "robust_change": robust - baseline[1],
                "clean_change": clean - baseline[0],
                "attack": objective.attack,
                "epsilon": objective.epsilon,
            }
        )
    rows.sort(key=lambda row: row["robust_change"])
    return {"sensitivity": rows, "flags": flags}


def _prune_one_layer(base: Any, initializer: str, sparsity: float) -> tuple[Any, str]:
    import onnx
    from onnx import numpy_helper

    pruned = onnx.ModelProto()
    pruned.CopyFrom(base)
    tensor = next(t for t in pruned.graph.initializer if t.name == initializer)
    weights = numpy_helper.to_array(tensor).copy()
    threshold = np.quantile(np.abs(weights), sparsity)
    weights[np.abs(weights) <= threshold] = 0
    tensor.CopyFrom(numpy_helper.from_array(weights, tensor.name))
    return pruned, f"magnitude prune {sparsity:.0%} of this layer only"


def _quantize_one_layer(ctx: JobContext, base: Any, keep_float: list[str]) -> tuple[Any, str]:
    step: dict[str, Any] = {"compressor": "quantize", "approach": "static", "format": "qdq"}
    if keep_float:
        step["float_layers"] = keep_float
    model, _ = _build_model(ctx, base, [step], ctx.job_dir / "sensitivity.work")
    return model, "int8 static (INC) of this layer only"


def sensitivity_settings(spec: pb.EvaluationSpec) -> tuple[str, float, float]:
    """(attack, epsilon, sparsity) of the sensitivity analysis, defaults resolved."""
    settings = spec.sensitivity
    attack = settings.attack or "pgd"
    epsilon = objective_epsilon(spec, attack, settings.epsilon, 1.0)
    return attack, epsilon, float(settings.sparsity or 0.5)


def _objective(ctx: JobContext, attack: str, epsilon: float) -> Any:
    """The attack an analysis measures robustness with: the spec's parameters and norm
    for that attack when the spec runs it, else the attack's defaults."""
    from robustedge.search.objective import AttackObjective

    same = next((a for a in ctx.spec.attacks if a.attack == attack), None)
    return AttackObjective(
        attack=attack,
        epsilon=float(epsilon),
        norm=same.norm if same is not None and same.norm else "linf",
        params=struct_to_dict(same.params) if same is not None else {},
        seed=int(ctx.spec.seed),
    )


# -- robustness-aware search --------------------------------------------------------

SEARCH_DIR = "search"
CHOSEN_MODEL = "chosen.onnx"
# Fewest validation and training samples a search accepts: fewer make its scores noise.
MIN_SEARCH_SAMPLES = 20


def run_search(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    """Searches compression choices for the most robust variant within the budgets
    (robustedge.search); the choice is saved for the searched variant's unit."""
    import onnx
    from google.protobuf import json_format

    from robustedge.compressors.channel_surgery import prunable_channel_layers
    from robustedge.compressors.onnx_graph import weight_layers
    from robustedge.search import CandidateCache, SearchSettings, SearchSpace
    from robustedge.search import run_search as search
    from robustedge.search.runner import SearchData

    spec = ctx.spec.search
    objective = _objective(ctx, spec.attack, spec.epsilon)
    settings = SearchSettings(
        objective=objective,
        max_clean_drop=spec.max_clean_drop,
        max_size_ratio=spec.max_size_ratio,
        max_latency_ratio=spec.max_latency_ratio,
        latency_batch_size=int(spec.latency_batch_size),
        size_metric=spec.size_metric,
        max_evaluations=int(spec.max_evaluations),
        max_seconds=float(spec.max_seconds),
        dimensions=frozenset(spec.dimensions),
    )
    summary: dict[str, Any] = {
        **json_format.MessageToDict(spec, preserving_proto_field_name=True),
        "seed": int(ctx.spec.seed),
    }
    for key in ("enabled", "variant_name", "dimensions", "max_evaluations", "max_seconds"):
        summary.pop(key, None)
    holdout_x, holdout_y = ctx.holdout_data()
    _, _, input_range = ctx.eval_data()
    validation = int(spec.validation_samples) or min(500, len(holdout_y) // 2)
    if min(validation, len(holdout_y) - validation) < MIN_SEARCH_SAMPLES:
        summary["stopped_because"] = (
            f"not enough holdout samples ({len(holdout_y)}): the search needs at least"
            f" {MIN_SEARCH_SAMPLES} to score candidates and {MIN_SEARCH_SAMPLES} to calibrate"
            " and fine-tune them, none of them evaluation samples; lower `samples`"
        )
        return {"search": summary}
    order = np.random.default_rng(ctx.spec.seed).permutation(len(holdout_y))
    scored, tuned = order[:validation], order[validation:]
    data = SearchData(
        train_x=holdout_x[tuned],
        train_y=holdout_y[tuned],
        val_x=holdout_x[scored],
        val_y=holdout_y[scored],
        input_range=input_range,
    )
    base = onnx.load(str(ctx.model_path))
    space = SearchSpace(
        prunable=prunable_channel_layers(base),
        weights=[layer.initializer for layer in weight_layers(base)],
        epsilon=objective.epsilon,
        dimensions=settings.dimensions,
    )
    folder = ctx.job_dir / SEARCH_DIR
    cache = CandidateCache(folder, context={**summary, "validation": validation})
    outcome = search(
        base, space, data, settings, cache,
        seed=int(ctx.spec.seed), work_dir=folder / "work", progress=progress,
    )  # fmt: skip
    if outcome.chosen_path is not None:
        shutil.copyfile(outcome.chosen_path, folder / CHOSEN_MODEL)
    summary.update(
        variant=search_variant(ctx.spec) if outcome.chosen is not None else "",
        validation_samples=validation,
        evaluations=outcome.evaluations,
        reused=outcome.reused,
        seconds=outcome.seconds,
        stopped_because=outcome.stopped_because,
        base_clean_accuracy=outcome.base_clean_accuracy,
        base_robust_accuracy=outcome.base_robust_accuracy,
        candidates=_jsonable(outcome.candidates),
    )
    return {"search": summary}


def _searched_candidate(ctx: JobContext) -> dict[str, Any] | None:
    """The search's chosen candidate row, if it chose one and its model is on disk."""
    search = ctx.results.get("search", {}).get("search", {})
    chosen = [row for row in search.get("candidates", []) if row.get("chosen")]
    if not chosen or not (ctx.job_dir / SEARCH_DIR / CHOSEN_MODEL).exists():
        return None
    return chosen[0]


# -- latency ------------------------------------------------------------------------


def run_latency(ctx: JobContext, unit: Unit, progress: Progress) -> dict[str, Any]:
    from robustedge.latency import discover_runtimes, measure
    from robustedge.service.spec import latency_configs

    configs = latency_configs(ctx.spec.latency)
    x, _, _ = ctx.eval_data()
    progress(0.0, f"{len(configs)} configuration(s)")
    rows = measure(
        ctx.variant_path(unit.variant),
        configs,
        runtimes=discover_runtimes(),
        input_shape=list(x.shape[1:]),
        seed=int(ctx.spec.seed),
        raw_dir=ctx.job_dir / "latency" / unit.variant,
    )
    return {"latency": [{"variant": unit.variant, **_jsonable(row)} for row in rows]}


# -- helpers ------------------------------------------------------------------------


def _flag(code: str, severity: int, message: str, *, variant: str = "", attack: str = "") -> dict:
    return {
        "code": code,
        "severity": pb.FlagSeverity.Name(severity),
        "variant": variant,
        "attack": attack,
        "message": message,
    }


def _reason(exc: BaseException) -> str:
    """A one-line, path-free reason for a failure, safe to show a client."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    for marker in ("/", "\\"):
        if marker in text:
            # Drop anything that looks like a filesystem path.
            text = " ".join(w for w in text.split() if marker not in w)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return value.name
    return value
