"""The bridge's operator registry: which ONNX operators it implements, and how.

Every implementation is registered under ``(domain, op_type, since_version)``; the
converter picks, for each node, the newest implementation whose ``since_version`` does
not exceed the model's opset for that domain (the same rule ONNX uses to pick an
operator schema). Each entry also states its gradient semantics, which
``docs/operators.md`` publishes:

- ``exact``: autograd differentiates the float computation exactly;
- ``ste``: forward is onnxruntime's integer arithmetic, backward is the clamped
  straight-through estimator (or zero gradients when converting with
  ``gradient="exact"``);
- ``none``: the output carries no gradient (shapes, indices, comparisons).

The registry is owned by this project (not onnx2fx's process-global one) so that our
overrides never change the behaviour of other code that imports onnx2fx, and so that
duplicates are refused instead of silently replacing an implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_DOMAIN = "ai.onnx"
MICROSOFT_DOMAIN = "com.microsoft"

# Opsets of the default domain the bridge claims to support (issue 3: 7 to 21).
MIN_OPSET = 7
MAX_OPSET = 21

Handler = Callable[..., Any]
#: ``prepare(node, inputs, constants) -> inputs``: runs once at conversion time and may
#: replace constant inputs by a precomputed constant it stores in ``constants``.
Preparer = Callable[..., list[str]]


@dataclass(frozen=True)
class OpSpec:
    """One registered implementation of an ONNX operator."""

    domain: str
    op_type: str
    since_version: int
    handler: Handler
    gradient: str  # "exact", "ste" or "none"
    # True when the handler takes a torch layer (nn.Conv2d / nn.Linear) that owns
    # the node's constant weight; see converter.py.
    parametric: bool = False
    # Work done once at conversion time on the node's constant inputs (see Preparer).
    prepare: Preparer | None = None

    @property
    def key(self) -> str:
        return f"{self.domain}::{self.op_type}"


_REGISTRY: dict[tuple[str, str], list[OpSpec]] = {}


def normalize_domain(domain: str) -> str:
    """ONNX writes the default domain as either "" or "ai.onnx"."""
    return DEFAULT_DOMAIN if domain in ("", DEFAULT_DOMAIN) else domain


def register(
    op_type: str,
    *,
    domains: tuple[str, ...] = (DEFAULT_DOMAIN,),
    since: int = 1,
    gradient: str = "exact",
    parametric: bool = False,
    prepare: Preparer | None = None,
) -> Callable[[Handler], Handler]:
    """Decorator registering ``handler(node, inputs[, layer])`` for an operator.

    Raises ValueError when the same (domain, op_type, since) is registered twice.
    """
    if gradient not in ("exact", "ste", "none"):
        raise ValueError(f"unknown gradient semantics {gradient!r}")

    def decorator(handler: Handler) -> Handler:
        for domain in domains:
            key = (normalize_domain(domain), op_type)
            specs = _REGISTRY.setdefault(key, [])
            if any(spec.since_version == since for spec in specs):
                raise ValueError(f"{key[0]}::{op_type} since {since} is already registered")
            specs.append(OpSpec(key[0], op_type, since, handler, gradient, parametric, prepare))
            specs.sort(key=lambda spec: spec.since_version)
        return handler

    return decorator


def lookup(domain: str, op_type: str, opset: int) -> OpSpec | None:
    """The implementation for a node of ``op_type`` in a model importing ``opset``."""
    specs = _REGISTRY.get((normalize_domain(domain), op_type), [])
    chosen = None
    for spec in specs:
        if spec.since_version <= opset:
            chosen = spec
    return chosen


def all_specs() -> list[OpSpec]:
    """Every registered implementation, sorted by domain, op type and version."""
    _ensure_loaded()
    return sorted(
        (spec for specs in _REGISTRY.values() for spec in specs),
        key=lambda spec: (spec.domain, spec.op_type, spec.since_version),
    )


def _ensure_loaded() -> None:
    # The op modules register themselves on import; importing them here keeps
    # `lookup` usable from any entry point without import-order surprises.
    from robustedge.bridge import ops_elementwise, ops_nn, ops_quantized, ops_tensor  # noqa: F401
