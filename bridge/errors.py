"""Errors raised by the bridge.

The service distinguishes two failure kinds: a model whose graph uses operators the
bridge cannot express (white-box attacks are skipped, transfer and black-box attacks
still run) and everything else that goes wrong while converting.
"""

from __future__ import annotations


class BridgeError(Exception):
    """A model could not be turned into a differentiable torch module."""


class UnsupportedOpsError(BridgeError):
    """The graph contains operators the bridge has no implementation for.

    ``ops`` lists every unsupported operator exactly once as ``"domain::OpType"``
    (the default ONNX domain is written ``ai.onnx``), sorted, so that a user sees the
    whole gap at once instead of fixing one operator per attempt.
    """

    def __init__(self, ops: list[str]) -> None:
        self.ops = sorted(set(ops))
        super().__init__(f"{len(self.ops)} unsupported ONNX operator(s): {', '.join(self.ops)}")
