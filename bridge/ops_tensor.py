"""Shape, layout, indexing and reduction operators.

Shape-valued inputs (Reshape's shape, Slice's starts, ...) arrive as int64 tensors;
they are read with ``.tolist()`` at run time, which is what lets a converted module
accept any batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robustedge.bridge.dtypes import torch_dtype
from robustedge.bridge.errors import BridgeError
from robustedge.bridge.node import NodeInfo
from robustedge.bridge.registry import register

Tensor = torch.Tensor


def _ints(value: Tensor | list[int] | None) -> list[int]:
    if value is None:
        return []
    if isinstance(value, Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    return [int(v) for v in value]


@register("Constant", gradient="none")
def constant(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if key in node.attrs:
            return torch.as_tensor(np.array(node.attrs[key]))
    raise BridgeError(f"Constant node {node.name!r} has no supported value attribute")


@register("ConstantOfShape", gradient="none")
def constant_of_shape(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    value = node.attr("value")
    fill = torch.as_tensor(np.array(value).reshape(-1)) if value is not None else None
    dtype = fill.dtype if fill is not None else torch.float32
    out = torch.zeros(_ints(xs[0]), dtype=dtype)
    if fill is not None:
        out.fill_(fill[0])
    return out


@register("Shape", gradient="none")
def shape(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    dims = list(xs[0].shape)
    start, end = node.attr("start", 0), node.attr("end", None)
    return torch.tensor(dims[start:end], dtype=torch.int64)


@register("Size", gradient="none")
def size(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return torch.tensor(xs[0].numel(), dtype=torch.int64)


@register("Cast")
def cast(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    dtype = torch_dtype(node.attr("to"))
    x = xs[0]
    if x.is_floating_point() and not dtype.is_floating_point and dtype != torch.bool:
        # C casts truncate toward zero; torch's `.to` does too, but make it explicit.
        x = torch.trunc(x)
    return x.to(dtype)


@register("Reshape", since=5)
def reshape(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x, target = xs[0], _ints(xs[1])
    if not node.attr("allowzero", 0):
        # 0 copies the input's dimension (unless allowzero), -1 is inferred.
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(target)


@register("Reshape", since=1)
def reshape_v1(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x, target = xs[0], _ints(node.attr("shape"))
    return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(target)])


@register("Flatten")
def flatten(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    axis = node.attr("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis
    outer = int(np.prod(x.shape[:axis])) if axis else 1
    return x.reshape(outer, -1) if x.numel() else x.reshape(outer, int(np.prod(x.shape[axis:])))


@register("Transpose")
def transpose(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    perm = node.attr("perm") or list(range(x.dim()))[::-1]
    return x.permute(*perm)


def _squeeze(x: Tensor, axes: list[int]) -> Tensor:
    if not axes:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    axes = sorted((a + x.dim()) % x.dim() for a in axes)
    for axis in reversed(axes):
        x = x.squeeze(axis)
    return x


def _unsqueeze(x: Tensor, axes: list[int]) -> Tensor:
    rank = x.dim() + len(axes)
    for axis in sorted((a + rank) % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


@register("Squeeze", since=1)
def squeeze_v1(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _squeeze(xs[0], _ints(node.attr("axes")))


@register("Squeeze", since=13)
def squeeze_v13(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    assert xs[0] is not None
    return _squeeze(xs[0], _ints(xs[1] if len(xs) > 1 else None))


@register("Unsqueeze", since=1)
def unsqueeze_v1(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _unsqueeze(xs[0], _ints(node.attr("axes")))


@register("Unsqueeze", since=13)
def unsqueeze_v13(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _unsqueeze(xs[0], _ints(xs[1]))


@register("Concat")
def concat(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    parts = [x for x in xs if x is not None]
    return torch.cat(parts, dim=node.attr("axis", 0))


def _split(x: Tensor, axis: int, sizes: list[int], count: int) -> tuple[Tensor, ...]:
    if not sizes:
        length = x.shape[axis]
        chunk = -(-length // count)  # ceil: the last chunk may be smaller (opset 18)
        sizes = [min(chunk, length - i * chunk) for i in range(count)]
    return tuple(torch.split(x, sizes, dim=axis))


@register("Split", since=1)
def split_v1(node: NodeInfo, xs: list[Tensor]) -> tuple[Tensor, ...]:
    return _split(xs[0], node.attr("axis", 0), _ints(node.attr("split")), node.attr("_n_outputs"))


@register("Split", since=13)
def split_v13(node: NodeInfo, xs: list[Tensor | None]) -> tuple[Tensor, ...]:
    assert xs[0] is not None
    sizes = _ints(xs[1] if len(xs) > 1 else None)
    count = node.attr("num_outputs", node.attr("_n_outputs"))
    return _split(xs[0], node.attr("axis", 0), sizes, count)


def _slice(
    x: Tensor, starts: list[int], ends: list[int], axes: list[int], steps: list[int]
) -> Tensor:
    if not axes:
        axes = list(range(len(starts)))
    if not steps:
        steps = [1] * len(starts)
    index: list[Any] = [slice(None)] * x.dim()
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis + x.dim() if axis < 0 else axis
        length = x.shape[axis]
        if step > 0:
            s = max(0, min(length, start + length if start < 0 else start))
            e = max(0, min(length, end + length if end < 0 else end))
            index[axis] = slice(s, max(s, e), step)
        else:
            # Negative steps: torch slicing cannot go backwards, so slice the
            # mirrored range and flip.
            s = max(-1, min(length - 1, start + length if start < 0 else start))
            e = max(-1, min(length - 1, end + length if end < 0 else end))
            picked = list(range(s, e, step))
            index[axis] = torch.tensor(picked, dtype=torch.long) if picked else slice(0, 0)
            flips.append(axis)
    out = x
    for axis, item in enumerate(index):
        if isinstance(item, Tensor):
            out = out.index_select(axis, item)
        elif item != slice(None):
            idx: list[Any] = [slice(None)] * axis + [item]
            out = out[tuple(idx)]
    return out


@register("Slice", since=1)
def slice_v1(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _slice(
        xs[0], _ints(node.attr("starts")), _ints(node.attr("ends")), _ints(node.attr("axes")), []
    )


@register("Slice", since=10)
def slice_v10(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x = xs[0]
    assert x is not None
    axes = _ints(xs[3]) if len(xs) > 3 else []
    steps = _ints(xs[4]) if len(xs) > 4 else []
    return _slice(x, _ints(xs[1]), _ints(xs[2]), axes, steps)


@register("Gather")
def gather(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x, indices = xs
    axis = node.attr("axis", 0)
    axis = axis + x.dim() if axis < 0 else axis
    indices = indices.long()
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    flat = x.index_select(axis, indices.reshape(-1))
    return flat.reshape(list(x.shape[:axis]) + list(indices.shape) + list(x.shape[axis + 1 :]))


@register("GatherElements")
def gather_elements(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x, indices = xs
    axis = node.attr("axis", 0)
    indices = indices.long()
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    return torch.gather(x, axis, indices)


@register("Expand")
def expand(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    # ONNX Expand broadcasts both ways (a 1 in the target keeps the input's size).
    x, target = xs[0], _ints(xs[1])
    out_shape = torch.broadcast_shapes(tuple(x.shape), tuple(target))
    return x.expand(out_shape)


@register("Tile")
def tile(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return xs[0].repeat(*_ints(xs[1]))


@register("Range", gradient="none")
def onnx_range(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    start, limit, delta = xs
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)


@register("Dropout")
def dropout(node: NodeInfo, xs: list[Tensor | None]) -> tuple[Tensor, Tensor]:
    # Inference semantics (what onnxruntime does): identity, mask of ones.
    x = xs[0]
    assert x is not None
    return x, torch.ones_like(x, dtype=torch.bool)


@register("DepthToSpace")
def depth_to_space(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    b = node.attr("blocksize")
    n, c, h, w = x.shape
    if node.attr("mode", "DCR") == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (b * b), h * b, w * b)


@register("SpaceToDepth")
def space_to_depth(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    x = xs[0]
    b = node.attr("blocksize")
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


# --- Pad -------------------------------------------------------------------------


def _pad(
    x: Tensor, pads: list[int], mode: str, value: float, axes: list[int] | None = None
) -> Tensor:
    rank = x.dim()
    if axes:
        full = [0] * (2 * rank)
        for i, axis in enumerate(axes):
            axis = axis + rank if axis < 0 else axis
            full[axis] = pads[i]
            full[axis + rank] = pads[i + len(axes)]
        pads = full
    # ONNX: [x1_begin, x2_begin, ..., x1_end, ...]; F.pad: last axis first.
    torch_pads: list[int] = []
    for axis in reversed(range(rank)):
        torch_pads += [pads[axis], pads[axis + rank]]
    while len(torch_pads) > 2 and torch_pads[-2:] == [0, 0]:
        torch_pads = torch_pads[:-2]
    if mode == "constant":
        return F.pad(x, torch_pads, mode="constant", value=value)
    torch_mode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode]
    return F.pad(x, torch_pads, mode=torch_mode)


@register("Pad", since=2)
def pad_v2(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    pads = _ints(node.attr("pads") if "pads" in node.attrs else node.attr("paddings"))
    return _pad(xs[0], pads, node.attr("mode", "constant"), node.attr("value", 0.0))


@register("Pad", since=11)
def pad_v11(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
    x = xs[0]
    assert x is not None
    value = xs[2] if len(xs) > 2 and xs[2] is not None else None
    axes = _ints(xs[3]) if len(xs) > 3 else None
    fill = float(value.reshape(-1)[0].item()) if value is not None and value.numel() else 0.0
    return _pad(x, _ints(xs[1]), node.attr("mode", "constant"), fill, axes)


# --- Reductions ------------------------------------------------------------------


def _reduce(node: NodeInfo, x: Tensor, axes: list[int], fn: str) -> Tensor:
    keepdims = bool(node.attr("keepdims", 1))
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.dim()))
    dims = tuple(sorted((a + x.dim()) % x.dim() for a in axes))
    if fn == "sum":
        return x.sum(dim=dims, keepdim=keepdims)
    if fn == "mean":
        return x.mean(dim=dims, keepdim=keepdims)
    if fn == "max":
        return x.amax(dim=dims, keepdim=keepdims)
    if fn == "min":
        return x.amin(dim=dims, keepdim=keepdims)
    if fn == "prod":
        out = x
        for d in reversed(dims):
            out = out.prod(dim=d, keepdim=keepdims)
        return out
    if fn == "l1":
        return x.abs().sum(dim=dims, keepdim=keepdims)
    if fn == "l2":
        return x.square().sum(dim=dims, keepdim=keepdims).sqrt()
    if fn == "sumsquare":
        return x.square().sum(dim=dims, keepdim=keepdims)
    if fn == "logsumexp":
        return torch.logsumexp(x, dim=dims, keepdim=keepdims)
    if fn == "logsum":
        return x.sum(dim=dims, keepdim=keepdims).log()
    raise BridgeError(f"unknown reduction {fn}")


def _register_reduction(op_type: str, fn: str, inputs_since: int) -> None:
    def with_attribute(node: NodeInfo, xs: list[Tensor]) -> Tensor:
        return _reduce(node, xs[0], _ints(node.attr("axes")), fn)

    def with_input(node: NodeInfo, xs: list[Tensor | None]) -> Tensor:
        x = xs[0]
        assert x is not None
        return _reduce(node, x, _ints(xs[1] if len(xs) > 1 else None), fn)

    with_attribute.__name__ = f"onnx_{op_type.lower()}_axes_attribute"
    with_input.__name__ = f"onnx_{op_type.lower()}_axes_input"
    register(op_type, since=1)(with_attribute)
    register(op_type, since=inputs_since)(with_input)


# ReduceSum took its axes as an input from opset 13, the others from opset 18.
for _op, _fn in {
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceL1": "l1",
    "ReduceL2": "l2",
    "ReduceSumSquare": "sumsquare",
    "ReduceLogSumExp": "logsumexp",
    "ReduceLogSum": "logsum",
}.items():
    _register_reduction(_op, _fn, 18)
_register_reduction("ReduceSum", "sum", 13)


def _arg_reduce(node: NodeInfo, x: Tensor, largest: bool) -> Tensor:
    axis = node.attr("axis", 0)
    keepdims = bool(node.attr("keepdims", 1))
    if node.attr("select_last_index", 0):
        flipped = x.flip(axis)
        index = (
            flipped.argmax(axis, keepdim=keepdims)
            if largest
            else flipped.argmin(axis, keepdim=keepdims)
        )
        return x.shape[axis] - 1 - index
    return x.argmax(axis, keepdim=keepdims) if largest else x.argmin(axis, keepdim=keepdims)


@register("ArgMax", gradient="none")
def arg_max(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _arg_reduce(node, xs[0], largest=True)


@register("ArgMin", gradient="none")
def arg_min(node: NodeInfo, xs: list[Tensor]) -> Tensor:
    return _arg_reduce(node, xs[0], largest=False)
