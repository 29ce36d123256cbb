"""Single-operator graphs checked against onnxruntime.

The onnx backend data covers the float operators torch exports; quantized operators
(QDQ, QOperator, dynamic) and a few newer float ones are checked here instead, each
as a one-node graph with seeded inputs, run by the bridge and by onnxruntime. The
tests run every check, and ``operators_doc`` lists the checked operators.

Integer outputs must match exactly unless the check states otherwise: onnxruntime's
vectorised kernels for element-wise QLinear operators use fixed-point or lookup-table
arithmetic that can land one step away on ties (``max_steps=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from robustedge.bridge.converter import convert
from robustedge.bridge.registry import DEFAULT_DOMAIN, MICROSOFT_DOMAIN, normalize_domain

Maker = Callable[[np.random.Generator], np.ndarray]


def floats(*shape: int, scale: float = 1.0) -> Maker:
    return lambda rng: (rng.normal(size=shape) * scale).astype(np.float32)


def positive(*shape: int) -> Maker:
    return lambda rng: rng.uniform(0.5, 2.0, size=shape).astype(np.float32)


def integers(dtype: Any, *shape: int) -> Maker:
    info = np.iinfo(dtype)
    return lambda rng: rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


def _uniform(low: float, high: float, *shape: int) -> Maker:
    return lambda rng: rng.uniform(low, high, size=shape).astype(np.float32)


def fixed(value: Any, dtype: Any) -> Maker:
    return lambda rng: np.array(value, dtype=dtype)


@dataclass
class Operand:
    """A node input: fed at run time (``runtime``) or stored as an initializer."""

    name: str
    make: Maker
    runtime: bool = False


@dataclass
class OpCheck:
    name: str
    op_type: str
    operands: list[Operand]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    opset: int = 17
    max_steps: int = 0  # integer outputs: largest allowed difference
    min_exact: float = 1.0  # integer outputs: fraction that must match exactly
    atol: float = 1e-5  # float outputs
    n_outputs: int = 1

    @property
    def key(self) -> str:
        return f"{normalize_domain(self.domain)}::{self.op_type}"

    def build(self, seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        values = {op.name: op.make(rng) for op in self.operands}
        feeds = {op.name: values[op.name] for op in self.operands if op.runtime}
        initializers = [
            numpy_helper.from_array(values[op.name], op.name)
            for op in self.operands
            if not op.runtime and op.name
        ]
        inputs = [
            helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)
            )
            for name, value in feeds.items()
        ]
        outputs = [f"out{i}" for i in range(self.n_outputs)]
        node = helper.make_node(
            self.op_type,
            [op.name for op in self.operands],
            outputs,
            domain=self.domain,
            **self.attrs,
        )
        graph = helper.make_graph(
            [node],
            self.name,
            inputs,
            [helper.make_empty_tensor_value_info(name) for name in outputs],
            initializers,
        )
        opsets = [helper.make_opsetid("", self.opset)]
        if normalize_domain(self.domain) != DEFAULT_DOMAIN:
            opsets.append(helper.make_opsetid(self.domain, 1))
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = 10 if self.opset >= 21 else 8
        return model, feeds


@dataclass
class CheckResult:
    check: OpCheck
    passed: bool
    detail: str = ""


def run_check(check: OpCheck) -> CheckResult:
    """Runs one check: bridge vs onnxruntime on every output."""
    import onnxruntime as ort

    try:
        model, feeds = check.build()
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        references = session.run(None, feeds)
        bridged = convert(model)
        with torch.no_grad():
            results = bridged.module.run(
                {name: torch.from_numpy(value) for name, value in feeds.items()},
                [output.name for output in model.graph.output],
            )
        for result, reference in zip(results, references, strict=True):
            reference = np.asarray(reference)
            ours = result.to(torch.float64).numpy()
            if ours.shape != reference.shape:
                raise AssertionError(f"shape {ours.shape} != {reference.shape}")
            if np.issubdtype(reference.dtype, np.integer):
                diff = np.abs(ours - reference.astype(np.float64))
                exact = float((diff == 0).mean()) if diff.size else 1.0
                if diff.size and (diff.max() > check.max_steps or exact < check.min_exact):
                    raise AssertionError(
                        f"max diff {diff.max():g} steps, {exact:.3f} exact "
                        f"(allowed {check.max_steps}, {check.min_exact})"
                    )
            else:
                np.testing.assert_allclose(ours, reference, atol=check.atol, rtol=1e-4)
    except Exception as error:
        return CheckResult(check, False, f"{type(error).__name__}: {error}".splitlines()[0][:300])
    return CheckResult(check, True)


def _q(prefix: str, scale: Any, zero: Any, dtype: Any) -> list[Operand]:
    zero_shape_like = np.asarray(scale).shape
    return [
        Operand(f"{prefix}_scale", fixed(scale, np.float32)),
        Operand(f"{prefix}_zero", fixed(np.broadcast_to(zero, zero_shape_like), dtype)),
    ]


def _quantized_checks() -> list[OpCheck]:
    checks: list[OpCheck] = []
    u8, i8 = np.uint8, np.int8
    # QuantizeLinear / DequantizeLinear: per tensor and per axis, int8 and uint8, opsets.
    for opset in (10, 13, 19, 21):
        for dtype, zero in ((u8, 120), (i8, -3)):
            axes: list[int | None] = [None] if opset < 13 else [None, 0, 1, -1]
            for axis in axes:
                n = 1 if axis is None else (2, 3, 4, 5)[axis]
                scale: Any = 0.05 if axis is None else np.linspace(0.02, 0.08, n)
                attrs = {} if axis is None else {"axis": axis}
                tag = f"{np.dtype(dtype).name}_opset{opset}_axis{axis}"
                checks.append(
                    OpCheck(
                        f"QuantizeLinear_{tag}",
                        "QuantizeLinear",
                        [
                            Operand("x", floats(2, 3, 4, 5, scale=4.0), True),
                            *_q("y", scale, zero, dtype),
                        ],
                        attrs,
                        opset=opset,
                    )
                )
                checks.append(
                    OpCheck(
                        f"DequantizeLinear_{tag}",
                        "DequantizeLinear",
                        [
                            Operand("x", integers(dtype, 2, 3, 4, 5), True),
                            *_q("x", scale, zero, dtype),
                        ],
                        attrs,
                        opset=opset,
                    )
                )
    for op_type in ("QuantizeLinear", "DequantizeLinear"):
        source = (
            floats(2, 4, 3, scale=4.0) if op_type == "QuantizeLinear" else integers(u8, 2, 4, 3)
        )
        checks.append(
            OpCheck(
                f"{op_type}_com_microsoft",
                op_type,
                [Operand("x", source, True), *_q("q", 0.05, 120, u8)],
                domain=MICROSOFT_DOMAIN,
            )
        )
    checks.append(
        OpCheck(
            "MatMulIntegerToFloat",
            "MatMulIntegerToFloat",
            [
                Operand("x", integers(u8, 5, 32), True),
                Operand("b", integers(i8, 32, 7)),
                Operand("a_scale", fixed(0.02, np.float32)),
                Operand("b_scale", fixed(np.linspace(0.01, 0.03, 7), np.float32)),
                Operand("a_zero", fixed(100, u8)),
                Operand("b_zero", fixed(np.zeros(7), i8)),
                Operand("bias", floats(7)),
            ],
            domain=MICROSOFT_DOMAIN,
            atol=1e-4,
        )
    )
    checks.append(
        OpCheck(
            "DynamicQuantizeMatMul",
            "DynamicQuantizeMatMul",
            [
                Operand("x", floats(5, 32), True),
                Operand("b", integers(i8, 32, 7)),
                Operand("b_scale", fixed(np.linspace(0.01, 0.03, 7), np.float32)),
                Operand("b_zero", fixed(np.zeros(7), i8)),
                Operand("bias", floats(7)),
            ],
            domain=MICROSOFT_DOMAIN,
            atol=1e-4,
        )
    )
    checks.append(
        OpCheck(
            "DynamicQuantizeLinear",
            "DynamicQuantizeLinear",
            [Operand("x", floats(4, 6), True)],
            n_outputs=3,
        )
    )
    for domain in ("", MICROSOFT_DOMAIN):
        for per_channel in (False, True):
            w_scale: Any = np.linspace(0.01, 0.05, 6) if per_channel else 0.02
            checks.append(
                OpCheck(
                    f"QLinearConv_{domain or 'onnx'}_{'channel' if per_channel else 'tensor'}",
                    "QLinearConv",
                    [
                        Operand("x", integers(u8, 2, 4, 7, 7), True),
                        *_q("x", 0.02, 110, u8),
                        Operand("w", integers(i8, 6, 2, 3, 3)),
                        *_q("w", w_scale, 0, i8),
                        *_q("y", 0.5, 128, u8),
                        Operand(
                            "b", lambda rng: rng.integers(-5000, 5000, size=6).astype(np.int32)
                        ),
                    ],
                    {"pads": [1, 0, 1, 2], "strides": [2, 1], "group": 2},
                    domain=domain,
                )
            )
    checks.append(
        OpCheck(
            "QLinearConv_int8_activations",
            "QLinearConv",
            [
                Operand("x", integers(i8, 1, 3, 6, 6), True),
                *_q("x", 0.03, -5, i8),
                Operand("w", integers(i8, 4, 3, 3, 3)),
                *_q("w", np.linspace(0.01, 0.02, 4), 0, i8),
                *_q("y", 0.4, 2, i8),
            ],
            {"pads": [1, 1, 1, 1]},
        )
    )
    checks.append(
        OpCheck(
            "QLinearMatMul_per_column",
            "QLinearMatMul",
            [
                Operand("x", integers(u8, 5, 16), True),
                *_q("a", 0.02, 100, u8),
                Operand("b", integers(i8, 16, 8)),
                *_q("b", np.linspace(0.01, 0.03, 8), 0, i8),
                *_q("y", 0.3, 120, u8),
            ],
        )
    )
    checks.append(
        OpCheck(
            "QGemm_transB_bias",
            "QGemm",
            [
                Operand("x", integers(u8, 5, 16), True),
                *_q("a", 0.02, 100, u8),
                Operand("b", integers(i8, 8, 16)),
                *_q("b", np.linspace(0.01, 0.03, 8), 0, i8),
                Operand("c", lambda rng: rng.integers(-900, 900, size=8).astype(np.int32)),
                *_q("y", 0.3, 120, u8),
            ],
            {"transB": 1, "alpha": 1.0},
            domain=MICROSOFT_DOMAIN,
        )
    )
    checks.append(
        OpCheck(
            "QGemm_float_output",
            "QGemm",
            [
                Operand("x", integers(u8, 5, 16), True),
                *_q("a", 0.02, 100, u8),
                Operand("b", integers(i8, 16, 8)),
                *_q("b", 0.02, 0, i8),
                Operand("c", lambda rng: rng.integers(-900, 900, size=8).astype(np.int32)),
            ],
            {"alpha": 1.0},
            domain=MICROSOFT_DOMAIN,
            atol=1e-4,
        )
    )
    for dtype, zero in ((u8, 128), (i8, 3)):
        # onnxruntime's QLinearMul kernel rounds differently from every float formula
        # tried (a fixed-point product): a few percent land one step away.
        for op_type, c_scale, min_exact in (("QLinearAdd", 0.07, 0.97), ("QLinearMul", 0.3, 0.93)):
            checks.append(
                OpCheck(
                    f"{op_type}_{np.dtype(dtype).name}",
                    op_type,
                    [
                        Operand("x", integers(dtype, 2, 3, 4, 4), True),
                        *_q("a", 0.05, zero, dtype),
                        Operand("b", integers(dtype, 3, 1, 1)),
                        *_q("b", 0.03, zero - 2, dtype),
                        *_q("c", c_scale, zero + 1, dtype),
                    ],
                    domain=MICROSOFT_DOMAIN,
                    max_steps=1,
                    min_exact=min_exact,
                )
            )
    unary: list[tuple[str, dict[str, Any]]] = [
        ("QLinearLeakyRelu", {"alpha": 0.1}),
        ("QLinearSigmoid", {}),
        ("QLinearGlobalAveragePool", {"channels_last": 0}),
        ("QLinearAveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("QLinearAveragePool", {"kernel_shape": [2, 2], "count_include_pad": 1}),
    ]
    for index, (op_type, attrs) in enumerate(unary):
        checks.append(
            OpCheck(
                f"{op_type}_{index}",
                op_type,
                [
                    Operand("x", integers(u8, 2, 3, 6, 6), True),
                    *_q("x", 0.05, 120, u8),
                    *_q("y", 0.02, 100, u8),
                ],
                attrs,
                domain=MICROSOFT_DOMAIN,
                max_steps=1,
                min_exact=0.97,
            )
        )
    checks.append(
        OpCheck(
            "QLinearSoftmax",
            "QLinearSoftmax",
            [
                Operand("x", integers(u8, 4, 10), True),
                *_q("x", 0.05, 120, u8),
                *_q("y", 1 / 256, 0, u8),
            ],
            {"axis": -1, "opset": 13},
            domain=MICROSOFT_DOMAIN,
            max_steps=1,
            min_exact=0.9,
        )
    )
    checks.append(
        OpCheck(
            "QLinearConcat",
            "QLinearConcat",
            [
                *_q("y", 0.04, 128, u8),
                Operand("x", integers(u8, 2, 3, 4), True),
                *_q("x", 0.05, 120, u8),
                Operand("o", integers(u8, 2, 5, 4)),
                *_q("o", 0.02, 90, u8),
            ],
            {"axis": 1},
            domain=MICROSOFT_DOMAIN,
            max_steps=1,
            min_exact=0.97,
        )
    )
    checks.append(
        OpCheck(
            "ConvInteger",
            "ConvInteger",
            [
                Operand("x", integers(u8, 2, 3, 6, 6), True),
                Operand("w", integers(u8, 4, 3, 3, 3)),
                Operand("x_zero", fixed(128, u8)),
                Operand("w_zero", fixed(120, u8)),
            ],
            {"pads": [1, 1, 1, 1]},
        )
    )
    checks.append(
        OpCheck(
            "MatMulInteger",
            "MatMulInteger",
            [
                Operand("x", integers(u8, 5, 32), True),
                Operand("b", integers(i8, 32, 7)),
                Operand("a_zero", fixed(100, u8)),
                Operand("b_zero", fixed(np.arange(7) - 3, i8)),
            ],
        )
    )
    checks += _matmul_nbits_checks()
    return checks


def _matmul_nbits_checks() -> list[OpCheck]:
    """Weight-only MatMulNBits with random packed bytes: every bit width onnxruntime's CPU
    kernel takes, zero points absent (default 2**(bits-1)), packed or float, and K = 80
    with 32-wide blocks, so 3 blocks per column and packed zero points padded per row.
    The A input is 3-D and a bias is added."""
    k, n, block = 80, 12, 32
    blocks = -(-k // block)
    checks = []
    for bits in (2, 4, 8):
        zero_bytes = -(-blocks * bits // 8)
        zero_points: dict[str, list[Operand]] = {
            "nozero": [],
            "packed": [Operand("zero", integers(np.uint8, n * zero_bytes))],
            "float": [Operand("zero", _uniform(0, 2**bits - 1, n * blocks))],
        }
        if bits == 8:  # onnxruntime 1.31's CPU kernel refuses float zero points at 8 bits
            del zero_points["float"]
        for tag, zero in zero_points.items():
            checks.append(
                OpCheck(
                    f"MatMulNBits_{bits}bit_{tag}",
                    "MatMulNBits",
                    [
                        Operand("x", floats(2, 5, k), True),
                        Operand("b", integers(np.uint8, n, blocks, block * bits // 8)),
                        Operand("scales", _uniform(0.01, 0.1, n, blocks)),
                        *(zero or [Operand("", fixed(0, np.uint8))]),
                        Operand("", fixed(0, np.int32)),  # no g_idx
                        Operand("bias", floats(n)),
                    ],
                    {"K": k, "N": n, "bits": bits, "block_size": block},
                    domain=MICROSOFT_DOMAIN,
                    atol=1e-4,
                )
            )
    return checks


def _float_checks() -> list[OpCheck]:
    x4 = Operand("x", floats(2, 3, 5, 5), True)
    return [
        OpCheck("HardSigmoid", "HardSigmoid", [x4], {"alpha": 0.3, "beta": 0.4}),
        OpCheck("HardSwish", "HardSwish", [x4], opset=14),
        OpCheck("Erf", "Erf", [x4]),
        OpCheck("Gelu", "Gelu", [x4], opset=20),
        OpCheck("Gelu_tanh", "Gelu", [x4], {"approximate": "tanh"}, opset=20),
        OpCheck("Mish", "Mish", [x4], opset=18),
        OpCheck("Celu", "Celu", [x4], {"alpha": 0.7}),
        OpCheck(
            "Clip_inputs",
            "Clip",
            [x4, Operand("lo", fixed(-0.5, np.float32)), Operand("hi", fixed(0.7, np.float32))],
        ),
        OpCheck("GlobalMaxPool", "GlobalMaxPool", [x4]),
        OpCheck(
            "InstanceNormalization",
            "InstanceNormalization",
            [x4, Operand("s", floats(3)), Operand("b", floats(3))],
        ),
        OpCheck(
            "LayerNormalization",
            "LayerNormalization",
            [x4, Operand("s", floats(5, 5)), Operand("b", floats(5, 5))],
            {"axis": -2},
        ),
        OpCheck("LRN", "LRN", [x4], {"size": 5, "alpha": 0.01, "beta": 0.6, "bias": 1.5}),
        OpCheck(
            "MaxPool_same_upper_dilated",
            "MaxPool",
            [x4],
            {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
        ),
        OpCheck(
            "AveragePool_asymmetric_pads",
            "AveragePool",
            [x4],
            {"kernel_shape": [3, 2], "pads": [0, 1, 2, 0], "strides": [1, 2]},
        ),
        OpCheck(
            "AveragePool_ceil",
            "AveragePool",
            [x4],
            {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
        ),
        OpCheck(
            "Conv_same_lower",
            "Conv",
            [x4, Operand("w", floats(4, 3, 2, 2))],
            {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        ),
        OpCheck(
            "ConvTranspose_pads",
            "ConvTranspose",
            [x4, Operand("w", floats(3, 2, 3, 3)), Operand("b", floats(2))],
            {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 1]},
        ),
        OpCheck(
            "Resize_nearest",
            "Resize",
            [
                x4,
                Operand("", fixed([], np.float32)),
                Operand("scales", fixed([1, 1, 2, 2], np.float32)),
            ],
            {
                "mode": "nearest",
                "coordinate_transformation_mode": "asymmetric",
                "nearest_mode": "floor",
            },
            opset=13,
        ),
        OpCheck(
            "Resize_linear",
            "Resize",
            [
                x4,
                Operand("", fixed([], np.float32)),
                Operand("", fixed([], np.float32)),
                Operand("sizes", fixed([2, 3, 9, 7], np.int64)),
            ],
            {"mode": "linear"},
            opset=13,
        ),
        OpCheck(
            "Split_num_outputs", "Split", [x4], {"axis": 2, "num_outputs": 2}, opset=18, n_outputs=2
        ),
        OpCheck(
            "Slice_negative_step",
            "Slice",
            [
                x4,
                Operand("st", fixed([-1, 4], np.int64)),
                Operand("en", fixed([-6, 0], np.int64)),
                Operand("ax", fixed([3, 2], np.int64)),
                Operand("sp", fixed([-2, -1], np.int64)),
            ],
        ),
        OpCheck(
            "Expand",
            "Expand",
            [Operand("x", floats(3, 1), True), Operand("shape", fixed([2, 1, 4], np.int64))],
        ),
        OpCheck(
            "Where",
            "Where",
            [
                Operand("c", lambda rng: rng.random((3, 4)) > 0.5, True),
                Operand("a", floats(3, 4)),
                Operand("b", floats(4)),
            ],
        ),
        OpCheck(
            "ReduceMean_axes_input",
            "ReduceMean",
            [x4, Operand("axes", fixed([1, -1], np.int64))],
            opset=18,
        ),
        OpCheck(
            "ReduceLogSumExp", "ReduceLogSumExp", [x4], {"axes": [2, 3], "keepdims": 0}, opset=13
        ),
        OpCheck(
            "ArgMax_last_index",
            "ArgMax",
            [Operand("x", fixed([[1, 3, 3], [2, 2, 0]], np.float32), True)],
            {"axis": 1, "select_last_index": 1},
        ),
        OpCheck(
            "DepthToSpace_CRD",
            "DepthToSpace",
            [Operand("x", floats(1, 8, 2, 3), True)],
            {"blocksize": 2, "mode": "CRD"},
        ),
        OpCheck(
            "SpaceToDepth",
            "SpaceToDepth",
            [Operand("x", floats(1, 2, 4, 6), True)],
            {"blocksize": 2},
        ),
        OpCheck(
            "Pad_reflect",
            "Pad",
            [x4, Operand("pads", fixed([0, 0, 1, 2, 0, 0, 2, 1], np.int64))],
            {"mode": "reflect"},
        ),
        OpCheck(
            "Pad_edge_axes",
            "Pad",
            [
                x4,
                Operand("pads", fixed([1, 2, 2, 1], np.int64)),
                Operand("", fixed([], np.float32)),
                Operand("axes", fixed([2, 3], np.int64)),
            ],
            {"mode": "edge"},
            opset=19,
        ),
        OpCheck(
            "Gemm_transA_scalar_C",
            "Gemm",
            [
                Operand("x", floats(4, 3), True),
                Operand("b", floats(4, 5)),
                Operand("c", fixed(0.5, np.float32)),
            ],
            {"transA": 1, "alpha": 0.5, "beta": 2.0},
        ),
        OpCheck(
            "Tile",
            "Tile",
            [Operand("x", floats(2, 3), True), Operand("r", fixed([2, 1], np.int64))],
        ),
        OpCheck("Softplus", "Softplus", [x4]),
        OpCheck("Selu", "Selu", [x4]),
        OpCheck("PRelu_broadcast", "PRelu", [x4, Operand("slope", floats(3, 1, 1))]),
        OpCheck("Sum_variadic", "Sum", [x4, Operand("y", floats(5)), Operand("z", floats(1, 5))]),
    ]


def all_checks() -> list[OpCheck]:
    return _quantized_checks() + _float_checks()
