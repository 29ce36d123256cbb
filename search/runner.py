"""The search loop: propose, build, score, keep the front, choose within the budgets."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .objective import AttackObjective, LatencyReference, clean_and_robust, size_of
from .pareto import pareto_front
from .space import Genome, SearchSpace

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
# How many of the best candidates so far a mutation may start from.
PARENTS = 3
# Share of proposals (after the anchors) that mutate a good candidate, not draw anew.
MUTATION_RATE = 0.6
# Consecutive proposals that were all seen before, after which the space is exhausted.
MAX_REPEATS = 200
# The search's latency is an in-process estimate, and the report times the chosen
# variant again with the full harness; two timings of the same model differ by a
# few percent here. A candidate counts as within a latency budget only with this
# relative margin to spare, so that the report's own measurement agrees.
LATENCY_MARGIN = 0.05


@dataclass(frozen=True)
class SearchSettings:
    """Objective, constraint, budgets and search budget, all resolved (no zeros meaning
    "default"; 0 for a ratio budget means no budget)."""

    objective: AttackObjective
    max_clean_drop: float
    max_size_ratio: float
    max_latency_ratio: float
    latency_batch_size: int
    size_metric: str
    max_evaluations: int
    max_seconds: float
    dimensions: frozenset[str]


@dataclass
class SearchData:
    """Samples the search may use: calibration/fine-tune samples and validation samples."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    input_range: tuple[float, float]


@dataclass
class SearchOutcome:
    """Every candidate (rows in the proto's SearchCandidate field names) and the choice."""

    candidates: list[dict[str, Any]]
    chosen: int | None
    chosen_path: Path | None
    base_clean_accuracy: float
    base_robust_accuracy: float
    evaluations: int
    reused: int
    seconds: float
    stopped_because: str
    extra: dict[str, Any] = field(default_factory=dict)


class CandidateCache:
    """Scored candidates of this search, on disk, so a resumed job does not redo them.

    One JSON line per candidate (keyed by its genome and everything the score depends
    on) and the built model beside it.
    """

    def __init__(self, folder: Path, context: dict[str, Any]) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._context = json.dumps(context, sort_keys=True)
        self._index = folder / "candidates.jsonl"
        self._rows: dict[str, dict[str, Any]] = {}
        if self._index.exists():
            for line in self._index.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if entry.get("context") == self._context:
                    self._rows[entry["key"]] = entry["row"]

    def model_path(self, key: str) -> Path:
        return self.folder / f"candidate-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._rows.get(key)
        if row is not None and row.get("ok") and not (self.folder / row["file"]).exists():
            return None  # the model file is gone; score it again
        return row

    def put(self, key: str, row: dict[str, Any]) -> None:
        self._rows[key] = row
        with self._index.open("a") as out:
            out.write(json.dumps({"context": self._context, "key": key, "row": row}) + "\n")


def run_search(
    base_model: Any,
    space: SearchSpace,
    data: SearchData,
    settings: SearchSettings,
    cache: CandidateCache,
    *,
    seed: int,
    work_dir: Path,
    progress: Progress = lambda fraction, message: None,
) -> SearchOutcome:
    """Evaluates candidates until the evaluation or time budget is used; chooses one."""
    started = time.perf_counter()
    objective = settings.objective
    base_clean, base_robust = clean_and_robust(
        base_model, objective, data.val_x, data.val_y, data.input_range
    )
    base_path = work_dir / "base.onnx"
    work_dir.mkdir(parents=True, exist_ok=True)
    base_path.write_bytes(base_model.SerializeToString())
    base_size = size_of(base_path, settings.size_metric)
    latency = LatencyReference(
        base_model, settings.latency_batch_size, tuple(data.val_x.shape[1:]), seed
    )
    floor = base_clean - settings.max_clean_drop
    rng = np.random.default_rng(seed)
    queue = space.anchors()
    seen = {space.plain().key()}  # the base model itself is not a candidate
    rows: list[dict[str, Any]] = []
    genomes: list[Genome] = []
    repeats = 0
    stopped = ""
    while True:
        if len(rows) >= settings.max_evaluations:
            stopped = f"evaluation budget ({settings.max_evaluations}) used"
            break
        if time.perf_counter() - started >= settings.max_seconds:
            stopped = f"time budget ({settings.max_seconds:g} s) used"
            break
        genome, origin = _propose(queue, rows, genomes, space, rng)
        if genome.key() in seen:
            repeats += 1
            if repeats > MAX_REPEATS:
                stopped = "search space exhausted"
                break
            continue
        repeats = 0
        seen.add(genome.key())
        name = f"c{len(rows) + 1:02d}"
        progress(len(rows) / settings.max_evaluations, f"{name} ({origin})")
        row = cache.get(genome.key())
        if row is not None:
            row = {**row, "name": name, "origin": origin, "reused": True, "seconds": 0.0}
        else:
            row = _evaluate(
                base_model, space, genome, data, settings, latency, base_size,
                cache.model_path(genome.key()), seed, work_dir / name,
            )  # fmt: skip
            row.update(name=name, origin=origin, reused=False)
            cache.put(genome.key(), row)
        # Deterministic admissibility (no latency): what mutations may start from.
        row["admissible"] = bool(
            row["ok"] and row["clean_accuracy"] >= floor and row.get("meets_size", True)
        )
        rows.append(row)
        genomes.append(genome)
    chosen = _mark(rows, settings, base_clean)
    return SearchOutcome(
        candidates=rows,
        chosen=chosen,
        chosen_path=cache.folder / rows[chosen]["file"] if chosen is not None else None,
        base_clean_accuracy=base_clean,
        base_robust_accuracy=base_robust,
        evaluations=len(rows),
        reused=sum(1 for row in rows if row["reused"]),
        seconds=time.perf_counter() - started,
        stopped_because=stopped,
    )


def _propose(
    queue: list[tuple[Genome, str]],
    rows: list[dict[str, Any]],
    genomes: list[Genome],
    space: SearchSpace,
    rng: np.random.Generator,
) -> tuple[Genome, str]:
    """Anchors first; then mutations of the best candidates so far, or fresh draws.

    "Best" uses only deterministic scores (robust accuracy, then size, among the
    candidates that meet the clean-accuracy constraint and the size budget), never
    latency, so the same seed proposes the same candidates.
    """
    if queue:
        return queue.pop(0)
    ranked = sorted(
        (i for i, row in enumerate(rows) if row["admissible"]),
        key=lambda i: (-rows[i]["robust_accuracy"], rows[i]["size_ratio"], i),
    )[:PARENTS]
    if ranked and rng.random() < MUTATION_RATE:
        parent = ranked[int(rng.integers(len(ranked)))]
        return space.mutate(genomes[parent], rng), f"mutation of {rows[parent]['name']}"
    return space.random(rng), "random"


def _evaluate(
    base_model: Any,
    space: SearchSpace,
    genome: Genome,
    data: SearchData,
    settings: SearchSettings,
    latency: LatencyReference,
    base_size: int,
    model_path: Path,
    seed: int,
    work_dir: Path,
) -> dict[str, Any]:
    """Builds one candidate and scores it; a failure is a row, not an exception."""
    import onnx

    from robustedge.compressors import CompressionData, build_variant

    steps = space.steps(genome)
    row: dict[str, Any] = {"steps": [_step_row(step) for step in steps], "ok": False}
    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        build = build_variant(
            base_model,
            steps,
            CompressionData(
                calib_x=data.train_x,
                calib_y=data.train_y,
                train_x=data.train_x,
                train_y=data.train_y,
                input_name=base_model.graph.input[0].name,
                seed=seed,
                work_dir=work_dir,
                input_range=data.input_range,
            ),
        )
        onnx.save(build.model, str(model_path))
        clean, robust = clean_and_robust(
            build.model, settings.objective, data.val_x, data.val_y, data.input_range
        )
        latency_ms, latency_ratio = latency.measure(build.model)
        size = size_of(model_path, settings.size_metric)
    except Exception as exc:  # one bad candidate must not end the search
        log.warning("search candidate failed: %s", exc)
        row.update(error=_reason(exc), seconds=time.perf_counter() - started)
        return row
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    size_ratio = size / base_size
    row.update(
        ok=True,
        steps=[_step_row(step) for step in build.steps],
        clean_accuracy=clean,
        robust_accuracy=robust,
        size_bytes=size,
        size_ratio=size_ratio,
        latency_ms=latency_ms,
        latency_ratio=latency_ratio,
        meets_size=not settings.max_size_ratio or size_ratio <= settings.max_size_ratio,
        file=model_path.name,
        seconds=time.perf_counter() - started,
    )
    return row


def _mark(rows: list[dict[str, Any]], settings: SearchSettings, base_clean: float) -> int | None:
    """Sets within_budgets, on_front and chosen on every row; returns the chosen index."""
    floor = base_clean - settings.max_clean_drop
    admissible = [i for i, row in enumerate(rows) if row["ok"] and row["clean_accuracy"] >= floor]
    points = [
        (rows[i]["robust_accuracy"], -rows[i]["latency_ratio"], -rows[i]["size_ratio"])
        for i in admissible
    ]
    front = {admissible[k] for k in pareto_front(points)}
    for i, row in enumerate(rows):
        row["on_front"] = i in front
        row["within_budgets"] = i in admissible and within_budgets(
            row["size_ratio"], row["latency_ratio"], settings
        )
        row["chosen"] = False
    feasible = [i for i, row in enumerate(rows) if row["within_budgets"]]
    if not feasible:
        return None
    chosen = min(
        feasible,
        key=lambda i: (
            -rows[i]["robust_accuracy"],
            rows[i]["size_ratio"],
            rows[i]["latency_ratio"],
            i,
        ),
    )
    rows[chosen]["chosen"] = True
    return chosen


def within_budgets(size_ratio: float, latency_ratio: float, settings: SearchSettings) -> bool:
    """Whether both ratios meet their budgets (a budget of 0 is no budget); latency
    with LATENCY_MARGIN to spare."""
    latency_limit = settings.max_latency_ratio * (1 - LATENCY_MARGIN)
    return (not settings.max_size_ratio or size_ratio <= settings.max_size_ratio) and (
        not settings.max_latency_ratio or 0 < latency_ratio <= latency_limit
    )


def _step_row(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "compressor": step["compressor"],
        "params": {k: v for k, v in step.items() if k != "compressor"},
    }


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    words = [w for w in text.split() if "/" not in w and "\\" not in w]
    return f"{type(exc).__name__}: {' '.join(words)}" if words else type(exc).__name__
