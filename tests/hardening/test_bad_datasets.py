"""Hostile and broken datasets: zip bombs, pickles, lying headers, bad values and shapes.
Each is refused with INVALID_ARGUMENT naming the problem; the server keeps serving.
The hardened server runs with ``--max-dataset-mb 64``."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import grpc
import numpy as np
from builders import (
    chunks_for,
    fake_npy_header,
    npy_bytes,
    npz_bytes,
    tiny_dataset_arrays,
    tiny_model,
    upload,
    zip_bytes,
)

from robustedge.client import messages as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
OK = grpc.StatusCode.OK


def _good(**overrides: object) -> bytes:
    arrays: dict[str, object] = dict(tiny_dataset_arrays())
    arrays.update(overrides)
    return npz_bytes(**{k: v for k, v in arrays.items() if v is not None})


def _with_nan() -> bytes:
    x = tiny_dataset_arrays()["x"].copy()
    x[3, 0, 2, 2] = np.nan
    return _good(x=x)


def _with_inf() -> bytes:
    x = tiny_dataset_arrays()["x"].copy()
    x[0, 0, 0, 0] = np.inf
    return _good(x=x, input_range=np.array([0.0, 1e30]))


def _zip_bomb() -> bytes:
    """80 MiB of zeros deflated to about 80 KiB: past the 64 MiB declared-size limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as entry:
            entry.write(npy_bytes(np.zeros((1, 1, 8, 8), np.float32))[:128])
            block = bytes(1 << 20)
            for _ in range(80):
                entry.write(block)
        archive.writestr("y.npy", npy_bytes(np.zeros(1, np.int64)))
    return buffer.getvalue()


def _lying_header() -> bytes:
    """x.npy declares 10^12 floats but its entry holds 64 bytes: numpy would allocate 4 TB."""
    return zip_bytes(
        {"x.npy": fake_npy_header((10**12, 1, 8, 8)), "y.npy": npy_bytes(np.zeros(4, np.int64))}
    )


def _too_many_entries() -> bytes:
    arrays = dict(tiny_dataset_arrays())
    arrays.update({f"extra{i}": np.zeros(1) for i in range(20)})
    return npz_bytes(**arrays)


def _foreign_entry() -> bytes:
    arrays = tiny_dataset_arrays()
    return zip_bytes(
        {
            "x.npy": npy_bytes(arrays["x"]),
            "y.npy": npy_bytes(arrays["y"]),
            "payload.pkl": b"\x80\x04K\x01.",
        }
    )


def _object_array() -> bytes:
    x = np.empty(4, dtype=object)
    x[:] = [{"a": 1}, [2], "three", None]
    return npz_bytes(x=x, y=np.zeros(4, np.int64))


def _truncated() -> bytes:
    data = _good()
    return data[: len(data) // 2]


def _cases() -> list[tuple[str, Callable[[], bytes]]]:
    arrays = tiny_dataset_arrays()
    x, y = arrays["x"], arrays["y"]
    return [
        ("not a zip", lambda: b"\0" * 100),
        ("empty file", lambda: b""),
        ("a bare .npy", lambda: npy_bytes(x)),
        ("truncated archive", _truncated),
        ("zip bomb (80 MiB declared)", _zip_bomb),
        ("array header larger than its entry", _lying_header),
        ("too many entries", _too_many_entries),
        ("non-array entry", _foreign_entry),
        ("object array (pickle)", _object_array),
        ("NaN in x", _with_nan),
        ("Inf in x", _with_inf),
        ("no samples", lambda: _good(x=x[:0], y=y[:0])),
        ("empty samples", lambda: _good(x=np.zeros((20, 0), np.float32))),
        ("integer x", lambda: _good(x=(x * 255).astype(np.uint8))),
        ("complex x", lambda: _good(x=x.astype(np.complex64))),
        ("float labels", lambda: _good(y=y.astype(np.float32))),
        ("2-D labels", lambda: _good(y=y.reshape(4, 5))),
        ("negative labels", lambda: _good(y=-y - 1)),
        ("x and y lengths differ", lambda: _good(y=y[:7])),
        ("missing y", lambda: npz_bytes(x=x)),
        ("missing x", lambda: npz_bytes(y=y)),
        ("1-D x", lambda: _good(x=x.reshape(-1)[:20])),
        ("reversed input_range", lambda: _good(input_range=np.array([1.0, 0.0]))),
        ("text input_range", lambda: _good(input_range=np.array(["0", "1"]))),
        ("x outside input_range", lambda: _good(x=x * 5)),
    ]


def test_bad_datasets_are_refused_with_invalid_argument(stub, expect):
    for case, build in _cases():
        data = build()
        expect(
            "dataset upload", case, lambda d=data: upload(stub, "dataset", chunks_for(d)), INVALID
        )


def test_datasets_that_do_not_fit_the_model_are_refused_at_submit(stub, expect):
    model = upload(stub, "model", chunks_for(tiny_model(seed=3).SerializeToString()))
    arrays = tiny_dataset_arrays(seed=3)
    spec = pb.EvaluationSpec(
        samples=10,
        attacks=[pb.AttackSpec(attack="fgsm", epsilons=[0.1])],
        latency=pb.LatencySpec(disabled=True),
    )
    for case, data in (
        ("labels outside the model's classes", _good(y=arrays["y"] + 10)),
        ("sample shape does not fit the model", _good(x=np.zeros((20, 1, 6, 6), np.float32))),
    ):
        dataset = upload(stub, "dataset", chunks_for(data))
        request = pb.SubmitEvaluationRequest(model_id=model.id, dataset_id=dataset.id, spec=spec)
        expect("submit", case, lambda r=request: stub.SubmitEvaluation(r, timeout=30), INVALID)


def test_a_good_dataset_still_passes(stub, expect):
    data = _good()
    artifact = expect(
        "dataset upload", "valid dataset", lambda: upload(stub, "dataset", chunks_for(data)), OK
    )
    assert artifact.dataset.samples == 20
