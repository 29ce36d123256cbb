"""Shared fixtures: the digits example is built once per test session (a few seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

import digits as digits_example  # noqa: E402


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> digits_example.DigitsArtifacts:
    """The trained digits CNN (ONNX), its evaluation set and its training set."""
    return digits_example.build(tmp_path_factory.mktemp("digits"))
