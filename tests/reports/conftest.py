"""Fixtures of the report tests; the reports themselves are built in report_fixture.py."""

from __future__ import annotations

import pytest
from report_fixture import build_degraded_report, build_report, build_search_report

from robustedge.v1 import evaluation_pb2 as pb


@pytest.fixture
def report() -> pb.Report:
    """A fresh copy per test: tests may modify it."""
    return build_report()


@pytest.fixture
def degraded_report() -> pb.Report:
    return build_degraded_report()


@pytest.fixture
def search_report() -> pb.Report:
    """The fixture with a robustness-aware search and two-method layer sensitivity."""
    return build_search_report()
