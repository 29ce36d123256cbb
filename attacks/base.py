"""The contract every attack implements: what it needs, its parameters, what it returns.

An attack only *generates* adversarial inputs. Scoring them is the caller's job, and
the caller always scores on onnxruntime (``AttackTarget.predict``), the artifact that
ships, never on the torch replica.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Norms by canonical name. Aliases are accepted at the boundary (spec files, CLI).
NORM_ALIASES: dict[str, str] = {
    "linf": "linf",
    "inf": "linf",
    "l_inf": "linf",
    "l-inf": "linf",
    "l2": "l2",
    "2": "l2",
    "l_2": "l2",
}


class Need(enum.Enum):
    """What an attack needs from the model under attack."""

    GRADIENTS = "gradients"  # a differentiable torch replica (the bridge module)
    SCORES = "scores"  # scores/logits from onnxruntime only (score-based black box)
    DECISIONS = "decisions"  # the predicted label from onnxruntime only (decision-based)


class AttackConfigError(ValueError):
    """A parameter is missing its type or range; ``field`` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AttackUnsupportedError(Exception):
    """The target cannot provide what the attack needs (e.g. no differentiable module)."""


class AttackTimeoutError(TimeoutError):
    """The attack ran past its ``time_budget_s``; no partial result is returned."""


class UnknownAttackError(KeyError):
    """No attack is registered under this name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


@dataclass
class AttackTarget:
    """The model under attack, as the service holds it."""

    predict: Callable[[np.ndarray], np.ndarray]  # onnxruntime scores/logits [N, C]
    module: torch.nn.Module | None  # differentiable replica returning logits, or None
    num_classes: int
    input_shape: tuple[int, ...]  # one sample, without batch


@dataclass
class AttackRun:
    """What an attack produced."""

    x_adv: np.ndarray  # float32, same shape as x, inside input_range, within epsilon
    queries: int | None  # single-sample model evaluations (black-box attacks), else None
    params: dict[str, Any] = field(default_factory=dict)  # every resolved parameter used


#: A default may depend on epsilon, norm and the parameters resolved before it.
DefaultFn = Callable[[Mapping[str, Any], float, str], Any]


@dataclass(frozen=True)
class Param:
    """One tunable parameter: its type, default and valid range."""

    name: str
    kind: type  # int, float, bool or str
    default: Any  # a value, or a DefaultFn computed from epsilon/norm/earlier parameters
    doc: str = ""
    low: float | None = None  # inclusive lower bound (numbers)
    high: float | None = None  # inclusive upper bound (numbers)
    low_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # None is a valid value (e.g. "no time budget")

    def resolve(self, given: Any, resolved: Mapping[str, Any], epsilon: float, norm: str) -> Any:
        value = given
        if value is None and not self.optional:
            value = (
                self.default(resolved, epsilon, norm) if callable(self.default) else self.default
            )
        if value is None:
            if self.optional:
                return None
            raise AttackConfigError(self.name, "a value is required")
        return self._check(value)

    def _check(self, value: Any) -> Any:
        name = self.name
        if self.kind is bool:
            if not isinstance(value, bool | np.bool_):
                raise AttackConfigError(name, f"expected true or false, got {value!r}")
            return bool(value)
        if self.kind is int:
            # Spec files may carry 10.0; a fractional count is an error, not a silent floor.
            if isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating
            ):
                raise AttackConfigError(name, f"expected an integer, got {value!r}")
            if float(value) != int(value):
                raise AttackConfigError(name, f"expected an integer, got {value!r}")
            value = int(value)
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating
            ):
                raise AttackConfigError(name, f"expected a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise AttackConfigError(name, f"must be finite, got {value!r}")
        elif self.kind is str and not isinstance(value, str):
            raise AttackConfigError(name, f"expected a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise AttackConfigError(name, f"must be one of {list(self.choices)}, got {value!r}")
        if self.low is not None and (
            value < self.low or (self.low_exclusive and value == self.low)
        ):
            op = ">" if self.low_exclusive else ">="
            raise AttackConfigError(name, f"must be {op} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise AttackConfigError(name, f"must be <= {self.high}, got {value!r}")
        return value


def step_size_param(default: Any) -> Param:
    """The ``step_size`` parameter the iterative gradient attacks share (input units, > 0)."""
    return Param(
        "step_size", float, default, "step length (input units)", low=0.0, low_exclusive=True
    )


#: Parameters every attack accepts.
COMMON_PARAMS: tuple[Param, ...] = (
    Param("batch_size", int, 256, "samples per batch (progress is reported per batch)", low=1),
    Param(
        "time_budget_s",
        float,
        None,
        "wall-clock budget in seconds; exceeding it raises AttackTimeoutError",
        low=0.0,
        low_exclusive=True,
        optional=True,
    ),
)


def canonical_norm(norm: str) -> str:
    """Maps a norm as written in a spec ("linf", "inf", "L2", ...) to "linf" or "l2"."""
    key = str(norm).strip().lower()
    if key not in NORM_ALIASES:
        raise AttackConfigError("norm", f"unknown norm {norm!r}; use 'linf' or 'l2'")
    return NORM_ALIASES[key]


@dataclass
class RunContext:
    """Everything an attack implementation gets once inputs and parameters are checked."""

    target: AttackTarget
    x: np.ndarray  # float32 [N, *input_shape]
    y: np.ndarray  # int64 [N]
    epsilon: float
    norm: str  # canonical
    params: dict[str, Any]
    lo: float
    hi: float
    seed: int
    progress: Callable[[float], None] | None
    # Index of x[0] in the whole evaluation set: an attack shard runs a slice of it.
    offset: int = 0
    started: float = field(default_factory=time.perf_counter)

    def report(self, fraction: float) -> None:
        """Emits progress (clamped to [0, 1]) and enforces the time budget."""
        budget = self.params.get("time_budget_s")
        if budget is not None and time.perf_counter() - self.started > budget:
            raise AttackTimeoutError(
                f"attack exceeded its time budget of {budget:g} s "
                f"({fraction:.0%} done); raise time_budget_s or lower the work"
            )
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0))

    def batches(self) -> list[slice]:
        size = int(self.params["batch_size"])
        return [slice(s, min(s + size, len(self.x))) for s in range(0, len(self.x), size)]

    def batch_seed(self, batch: slice) -> int:
        """The seed of one batch's random draws: from ``seed`` and the batch's position in
        the whole evaluation set, never from the batches before it. A slice of the set
        that starts on a batch boundary (``offset``) therefore draws, batch for batch,
        what the unsliced run draws, and gives the same adversarial examples."""
        entropy = [self.seed % 2**64, self.offset + (batch.start or 0)]
        # 63 bits: torch.Generator.manual_seed and numpy both take it.
        return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]) >> 1


class Attack:
    """Base class. Subclasses set the class variables and implement ``_run``."""

    name: ClassVar[str]
    needs: ClassVar[Need]
    norms: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]] = ()
    #: Minimal-perturbation attacks (CW, DeepFool) may run unbounded (epsilon = inf).
    allows_unbounded: ClassVar[bool] = False
    #: Whether AttackRun.queries is counted (black-box attacks, and ensembles with one).
    counts_queries: ClassVar[bool] = False
    #: Whether ``_run`` ignores epsilon (minimal-perturbation attacks; see _run_or_reuse).
    epsilon_independent: ClassVar[bool] = False
    #: Whether a sample's result depends only on its own batch (``batch_size`` samples at
    #: a fixed position) and the seed, so that slices of whole batches can run apart (the
    #: service's sample shards). False for attacks that couple the whole set (universal).
    sample_separable: ClassVar[bool] = True
    _last_run: tuple[AttackTarget, tuple[Any, ...], np.ndarray, int | None] | None = None

    def all_parameters(self) -> tuple[Param, ...]:
        return (*self.parameters, *COMMON_PARAMS)

    def resolve_params(
        self, params: Mapping[str, Any], *, epsilon: float, norm: str
    ) -> dict[str, Any]:
        """Fills defaults and checks types and ranges; raises AttackConfigError(field)."""
        canonical = canonical_norm(norm)
        if canonical not in self.norms:
            raise AttackConfigError(
                "norm", f"{self.name} supports {list(self.norms)}, not {norm!r}"
            )
        self._check_epsilon(epsilon)
        known = {p.name for p in self.all_parameters()}
        for key in params:
            if key not in known:
                raise AttackConfigError(
                    key, f"unknown parameter for {self.name}; known: {sorted(known)}"
                )
        resolved: dict[str, Any] = {}
        for param in self.all_parameters():
            resolved[param.name] = param.resolve(
                params.get(param.name), resolved, epsilon, canonical
            )
        self._check_params(resolved, epsilon, canonical)
        return resolved

    def _check_epsilon(self, epsilon: float) -> None:
        if isinstance(epsilon, bool) or not isinstance(
            epsilon, int | float | np.integer | np.floating
        ):
            raise AttackConfigError("epsilon", f"expected a number, got {epsilon!r}")
        if math.isnan(epsilon) or epsilon <= 0:
            raise AttackConfigError("epsilon", f"must be > 0, got {epsilon!r}")
        if math.isinf(epsilon) and not self.allows_unbounded:
            raise AttackConfigError("epsilon", f"{self.name} needs a finite epsilon")

    def _check_params(self, params: dict[str, Any], epsilon: float, norm: str) -> None:
        """Hook for checks that involve several parameters."""

    def check_target(self, target: AttackTarget) -> None:
        """Raises AttackUnsupportedError when the target cannot serve this attack."""
        if self.needs is Need.GRADIENTS and target.module is None:
            raise AttackUnsupportedError(
                f"{self.name} is a white-box attack and needs gradients, but this model has "
                "no differentiable torch replica (the ONNX-to-torch bridge failed for it); "
                "use a transfer or black-box attack instead"
            )

    def generate(
        self,
        target: AttackTarget,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epsilon: float,
        norm: str,
        params: Mapping[str, Any],
        input_range: tuple[float, float],
        seed: int,
        progress: Callable[[float], None] | None = None,
        offset: int = 0,
    ) -> AttackRun:
        """Crafts adversarial examples for (x, y); deterministic given ``seed``.

        ``offset`` is the index of ``x[0]`` in the whole evaluation set when (x, y) is a
        slice of it; see :meth:`RunContext.batch_seed`."""
        resolved = self.resolve_params(params, epsilon=epsilon, norm=norm)
        canonical = canonical_norm(norm)
        self.check_target(target)
        x, y, lo, hi = _check_inputs(target, x, y, input_range)
        ctx = RunContext(
            target, x, y, float(epsilon), canonical, resolved, lo, hi, int(seed), progress,
            offset=int(offset),
        )  # fmt: skip
        if len(x) == 0:
            return AttackRun(
                x.copy(), 0 if self.counts_queries else None, {**resolved, "seed": seed}
            )
        x_adv, queries = self._run_or_reuse(ctx)
        # The contract (inside the range, within epsilon) is enforced here once, so that
        # float rounding in any implementation can never leak an out-of-budget example.
        x_adv = project(x, np.asarray(x_adv, dtype=np.float32), float(epsilon), canonical, lo, hi)
        ctx.report(1.0)
        return AttackRun(x_adv, queries, {**resolved, "seed": int(seed)})

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        raise NotImplementedError

    def _run_or_reuse(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        """Runs the attack, or reuses the previous run of an epsilon-independent attack.

        Minimal-perturbation attacks (CW, DeepFool, HopSkipJump) find the smallest
        adversarial perturbation without looking at epsilon; a sweep over epsilons
        projects the same result onto each ball. Recomputing it per epsilon would
        multiply the most expensive attacks' cost by the number of epsilons, so the last
        unprojected result is kept per instance, for the same target object, inputs,
        norm, range, parameters and seed.
        """
        if not self.epsilon_independent:
            return self._run(ctx)
        key = (
            ctx.norm,
            ctx.lo,
            ctx.hi,
            ctx.seed,
            ctx.offset,
            tuple(sorted((k, v) for k, v in ctx.params.items() if k != "time_budget_s")),
            hashlib.sha256(ctx.x.tobytes()).hexdigest(),
            ctx.x.shape,
            hashlib.sha256(ctx.y.tobytes()).hexdigest(),
        )
        cached = self._last_run
        if cached is not None and cached[0] is ctx.target and cached[1] == key:
            log.debug("%s: reusing the epsilon-independent result", self.name)
            return cached[2].copy(), cached[3]
        x_adv, queries = self._run(ctx)
        self._last_run = (ctx.target, key, np.asarray(x_adv, dtype=np.float32).copy(), queries)
        return x_adv, queries


def _check_inputs(
    target: AttackTarget, x: np.ndarray, y: np.ndarray, input_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, float, float]:
    try:
        lo, hi = (float(v) for v in input_range)
    except (TypeError, ValueError) as exc:
        raise AttackConfigError("input_range", f"expected [min, max], got {input_range!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise AttackConfigError("input_range", f"expected finite min < max, got {input_range!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y)
    if tuple(x.shape[1:]) != tuple(target.input_shape):
        raise ValueError(
            f"inputs have sample shape {tuple(x.shape[1:])}, the model expects "
            f"{tuple(target.input_shape)}"
        )
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if not np.isfinite(x).all():
        raise ValueError("inputs contain NaN or infinite values")
    if len(y) and (y.min() < 0 or y.max() >= target.num_classes):
        raise ValueError(f"labels must lie in [0, {target.num_classes}), got {y.min()}..{y.max()}")
    if len(x) and (x.min() < lo - 1e-6 or x.max() > hi + 1e-6):
        raise ValueError(
            f"inputs lie in [{x.min():g}, {x.max():g}], outside input_range [{lo:g}, {hi:g}]"
        )
    return x, y, lo, hi


def project(
    x: np.ndarray, x_adv: np.ndarray, epsilon: float, norm: str, lo: float, hi: float
) -> np.ndarray:
    """Projects x_adv onto the epsilon-ball around x (in ``norm``) and the input range.

    For L2 the ball projection comes first and the range clip second; the clip only
    moves coordinates towards x (x itself is inside the range), so the L2 bound holds.
    """
    x = x.astype(np.float32, copy=False)
    delta = x_adv.astype(np.float32) - x
    if math.isfinite(epsilon):
        if norm == "linf":
            delta = np.clip(delta, -epsilon, epsilon)
        else:
            flat = delta.reshape(len(delta), -1)
            norms = np.linalg.norm(flat.astype(np.float64), axis=1)
            # A hair below 1 so that float32 rounding cannot push a norm above epsilon.
            scale = np.minimum(1.0, epsilon / np.maximum(norms, 1e-12)) * (1 - 1e-6)
            scale = np.where(norms > epsilon * (1 - 1e-6), scale, 1.0)
            delta = (flat * scale[:, None]).reshape(delta.shape).astype(np.float32)
    return np.clip(x + delta, lo, hi).astype(np.float32)
