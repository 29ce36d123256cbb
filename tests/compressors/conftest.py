"""Fixtures for the compressor tests: the digits model, its data split, and onnxruntime helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from robustedge.compressors import CompressionData


@dataclass
class DigitsCase:
    model: onnx.ModelProto
    model_path: Path
    eval_x: np.ndarray
    eval_y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray

    def data(self, work_dir: Path, seed: int = 0) -> CompressionData:
        # Calibration samples come from the training file's tail and the fine-tune split
        # from its head: neither overlaps the evaluation samples.
        return CompressionData(
            calib_x=self.train_x[-200:],
            calib_y=self.train_y[-200:],
            train_x=self.train_x[:-200],
            train_y=self.train_y[:-200],
            input_name="input",
            seed=seed,
            work_dir=work_dir,
        )


@pytest.fixture(scope="session")
def digits_case(digits) -> DigitsCase:
    evaluation = np.load(digits.dataset)
    training = np.load(digits.train)
    return DigitsCase(
        model=onnx.load(str(digits.model)),
        model_path=Path(digits.model),
        eval_x=evaluation["x"],
        eval_y=evaluation["y"],
        train_x=training["x"],
        train_y=training["y"],
    )


class OrtHelpers:
    """onnxruntime helpers exposed as the ``ort_helpers`` fixture (test modules here have
    no package, so a fixture is the collision-free way to share them)."""

    @staticmethod
    def session(model: onnx.ModelProto) -> ort.InferenceSession:
        return session(model)

    @staticmethod
    def run(model: onnx.ModelProto, x: np.ndarray, input_name: str = "input") -> np.ndarray:
        return run(model, x, input_name)

    @staticmethod
    def accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
        return accuracy(model, x, y)


@pytest.fixture(scope="session")
def ort_helpers() -> type[OrtHelpers]:
    return OrtHelpers


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run(model: onnx.ModelProto, x: np.ndarray, input_name: str = "input") -> np.ndarray:
    return np.asarray(session(model).run(None, {input_name: x})[0])


def accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    return float((run(model, x).argmax(axis=1) == y).mean())
