"""The compressor interface and the data a compression step may use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx

from .config import config_to_dict, describe_config, parse_config


@dataclass
class CompressionData:
    """Samples and scratch space for one variant build.

    ``calib_*`` are calibration / held-out samples and ``train_*`` the split used by
    fine-tunes; the service draws both from the uploaded data so that neither ever
    overlaps the evaluation samples. ``input_name`` is the model input they feed.
    ``input_range`` is the valid [min, max] of an input value (the dataset's): adversarial
    fine-tuning and robustness-aware tuning clip their examples to it.
    """

    calib_x: np.ndarray
    calib_y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    input_name: str
    seed: int
    work_dir: Path
    input_range: tuple[float, float] = (0.0, 1.0)


class Compressor:
    """Base class: a named, documented transformation of an ONNX classifier.

    Subclasses set ``name``, ``description`` and ``Config`` (a dataclass built with
    :func:`robustedge.compressors.config.option`), and implement :meth:`apply`.
    :meth:`parse_config` must stay cheap and free of INC/torch imports: the server calls
    it at submit time to refuse bad specs before any work starts.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]

    def parse_config(self, params: Mapping[str, Any]) -> Any:
        """The typed config for ``params``; raises ConfigError naming the field."""
        return parse_config(self.Config, params)

    def config_dict(self, config: Any) -> dict[str, Any]:
        """The resolved config as plain values (what a report shows)."""
        return config_to_dict(config)

    def describe(self) -> dict[str, Any]:
        """Name, description and the documented settings, for docs and the CLI."""
        return {
            "name": self.name,
            "description": self.description,
            "settings": describe_config(self.Config),
        }

    def apply(self, model: onnx.ModelProto, config: Any, data: CompressionData) -> onnx.ModelProto:
        """Returns the compressed model; raises CompressionError with a readable reason."""
        raise NotImplementedError

    def step_facts(self) -> dict[str, Any]:
        """Facts about the last :meth:`apply` worth reporting (kept per step)."""
        return dict(getattr(self, "_last_facts", {}))


def assert_runs_in_onnxruntime(model: onnx.ModelProto, data: CompressionData, what: str) -> None:
    """A graph onnxruntime cannot load or run is a failed step, not a later surprise.

    ``what`` names the graph in the error, e.g. "the quantized model".
    """
    import onnxruntime as ort

    from .errors import CompressionError

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        if len(data.calib_x):
            session.run(None, {data.input_name: data.calib_x[:2]})
    except Exception as error:
        raise CompressionError(f"{what} does not run in onnxruntime: {error}") from error
