"""The torch module a converted ONNX graph becomes: an interpreter over its nodes.

Each ONNX node is one ``Step``: a registered handler, the node's static facts and the
names of the tensors it reads and writes. ``run`` evaluates only the steps the
requested tensors depend on, dropping intermediates as soon as no later step reads
them. Weight-owning layers live in ``self.layers`` (an ``nn.ModuleDict`` of real
``nn.Conv2d``/``nn.Linear``), other constants are buffers, so ``.to()``,
``state_dict``, ``deepcopy`` and pickling work as for any module. Shapes are read from
the tensors at run time, which is what makes the batch dimension dynamic.

Why an interpreter rather than generated code (as onnx2fx emits a ``torch.fx`` graph):
the per-node Python overhead is microseconds against milliseconds of convolution, and
the interpreter lets a layer be swapped (INC's pruner and model slimming replace
modules by name) without regenerating anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from robustedge.bridge.errors import BridgeError
from robustedge.bridge.node import NodeInfo
from robustedge.bridge.registry import Handler, lookup

Tensor = torch.Tensor


@dataclass
class Step:
    """One node to evaluate. Inputs absorbed by ``layer`` are written as ""."""

    node: NodeInfo
    since_version: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    parametric: bool
    layer: str | None = None


class OnnxGraphModule(nn.Module):
    """A converted ONNX graph. ``forward(x)`` returns the logits as ``[N, C]``.

    ``run(feeds, targets)`` evaluates arbitrary graph tensors (the converter uses it
    for the graph's real outputs, with softmax, and the conformance tests for
    every output).
    """

    def __init__(
        self,
        steps: list[Step],
        constants: dict[str, Tensor],
        layers: dict[str, nn.Module],
        input_names: list[str],
        input_dtypes: list[torch.dtype],
        logits_name: str,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.steps = steps
        self.input_names = list(input_names)
        self.input_dtypes = list(input_dtypes)
        self.logits_name = logits_name
        # Buffers need attribute-safe names; remember which ONNX tensor each holds.
        self.constant_buffers: dict[str, str] = {}
        for index, (name, value) in enumerate(constants.items()):
            buffer_name = f"constant_{index}"
            self.register_buffer(buffer_name, value)
            self.constant_buffers[name] = buffer_name
        self._plans: dict[tuple[str, ...], tuple[list[int], list[list[str]]]] = {}
        self._handlers = self._resolve_handlers()

    def _resolve_handlers(self) -> list[Handler]:
        handlers = []
        for step in self.steps:
            spec = lookup(step.node.domain, step.node.op_type, step.since_version)
            if spec is None:  # pragma: no cover - the converter checked support
                raise BridgeError(f"no handler for {step.node.domain}::{step.node.op_type}")
            handlers.append(spec.handler)
        return handlers

    # Handlers are plain functions, some of them closures; they are looked up again
    # from the registry after unpickling instead of being pickled.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_handlers", None)
        state["_plans"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._handlers = self._resolve_handlers()

    def _plan(self, targets: tuple[str, ...]) -> tuple[list[int], list[list[str]]]:
        """Steps needed for ``targets`` in order, and what to free after each."""
        cached = self._plans.get(targets)
        if cached is not None:
            return cached
        producer = {out: i for i, step in enumerate(self.steps) for out in step.outputs if out}
        needed: set[int] = set()
        pending = [name for name in targets if name in producer]
        while pending:
            index = producer[pending.pop()]
            if index in needed:
                continue
            needed.add(index)
            pending.extend(name for name in self.steps[index].inputs if name in producer)
        order = sorted(needed)
        last_use: dict[str, int] = {}
        for position, index in enumerate(order):
            for name in self.steps[index].inputs:
                if name:
                    last_use[name] = position
        keep = set(targets)
        frees: list[list[str]] = [[] for _ in order]
        for name, position in last_use.items():
            if name not in keep:
                frees[position].append(name)
        plan = (order, frees)
        self._plans[targets] = plan
        return plan

    def run(self, feeds: dict[str, Tensor], targets: Sequence[str]) -> list[Tensor]:
        """Evaluates the graph tensors ``targets`` given the graph inputs ``feeds``."""
        order, frees = self._plan(tuple(targets))
        env: dict[str, Any] = dict(feeds)
        for position, index in enumerate(order):
            step = self.steps[index]
            args = [self._value(env, name) if name else None for name in step.inputs]
            handler = self._handlers[index]
            if step.parametric:
                layer = self.layers[step.layer] if step.layer is not None else None
                result = handler(step.node, args, layer)
            else:
                result = handler(step.node, args)
            if isinstance(result, Tensor):
                result = (result,)
            for name, value in zip(step.outputs, result, strict=False):
                if name:
                    env[name] = value
            for name in frees[position]:
                env.pop(name, None)
        return [self._value(env, name) for name in targets]

    def _value(self, env: dict[str, Any], name: str) -> Tensor:
        if name in env:
            return env[name]
        buffer_name = self.constant_buffers.get(name)
        if buffer_name is None:
            raise BridgeError(f"tensor {name!r} is neither a graph input nor computed")
        value: Tensor = getattr(self, buffer_name)
        return value

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[N, C]`` for a batch ``x`` shaped like the ONNX input."""
        x = x.to(self.input_dtypes[0])
        (logits,) = self.run({self.input_names[0]: x}, [self.logits_name])
        return logits.reshape(logits.shape[0], -1) if logits.dim() != 2 else logits
