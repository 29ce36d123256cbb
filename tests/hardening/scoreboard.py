"""The battery's figures: what was tried, what came back, what survived.

Each test records its outcomes here; ``conftest.pytest_terminal_summary`` prints the
table at the end of the session. Tests assert on their own outcomes too, so a
figure that misses its target is also a failing test, never only a printed number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import grpc

# What must never appear in a status detail: tracebacks and paths of the server.
FORBIDDEN_IN_DETAILS = (
    "Traceback",
    'File "',
    "/work/",
    "/tmp/",
    "/home/",
    "site-packages",
    '.py"',
    ".py:",
    "onnxruntime_src",
)


@dataclass
class Outcome:
    category: str
    case: str
    expected: grpc.StatusCode
    actual: grpc.StatusCode
    details: str

    @property
    def as_expected(self) -> bool:
        return self.actual == self.expected


@dataclass
class Scoreboard:
    outcomes: list[Outcome] = field(default_factory=list)
    canary_token: str = ""
    canary_leaks: int = 0
    server_crashes: int = 0
    temp_bytes_left: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    fuzz: dict[str, int] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    drain: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(
        self,
        category: str,
        case: str,
        expected: grpc.StatusCode,
        actual: grpc.StatusCode,
        details: str,
    ) -> Outcome:
        outcome = Outcome(category, case, expected, actual, details)
        self.outcomes.append(outcome)
        if self.canary_token and self.canary_token in details:
            self.canary_leaks += 1
        return outcome

    def hygiene_violations(self) -> list[Outcome]:
        return [o for o in self.outcomes if any(m in o.details for m in FORBIDDEN_IN_DETAILS)]

    def lines(self) -> list[str]:
        rows = ["RobustEdge hardening battery"]
        by_category: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            by_category[outcome.category].append(outcome)
        rows.append(f"  {'bad inputs by category':<34} {'tried':>5} {'expected code':>14}")
        for category, outcomes in sorted(by_category.items()):
            good = sum(o.as_expected for o in outcomes)
            share = 100.0 * good / len(outcomes)
            rows.append(f"  {category:<34} {len(outcomes):>5} {share:>13.1f}%")
        total = len(self.outcomes)
        good = sum(o.as_expected for o in self.outcomes)
        if total:
            rows.append(f"  {'all':<34} {total:>5} {100.0 * good / total:>13.1f}%")
        for outcome in self.outcomes:
            if not outcome.as_expected:
                rows.append(
                    f"    MISMATCH {outcome.category}/{outcome.case}: expected"
                    f" {outcome.expected.name}, got {outcome.actual.name}: {outcome.details[:160]}"
                )
        unknown = sum(
            o.actual in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
            and o.expected not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
            for o in self.outcomes
        )
        rows.append(f"  UNKNOWN/INTERNAL answers to input errors: {unknown}")
        rows.append(f"  status details leaking paths/tracebacks: {len(self.hygiene_violations())}")
        rows.append(f"  server crashes: {self.server_crashes}")
        rows.append(f"  canary bytes from outside the job folder leaked: {self.canary_leaks}")
        if self.temp_bytes_left:
            left = sum(self.temp_bytes_left.values())
            faults = ", ".join(f"{k}={v}" for k, v in sorted(self.temp_bytes_left.items()))
            rows.append(f"  temp bytes left after faults: {left} ({faults})")
        if self.jobs:
            rows.append(
                "  jobs after SIGKILL: " + ", ".join(f"{k} {v}" for k, v in self.jobs.items())
            )
        if self.drain:
            rows.append(
                "  SIGTERM drain: " + ", ".join(f"{k} {v:g}" for k, v in self.drain.items())
            )
        if self.fuzz:
            rows.append("  fuzz: " + ", ".join(f"{k} {v}" for k, v in self.fuzz.items()))
        if self.load:
            rows.append("  load: " + ", ".join(f"{k} {v:g}" for k, v in self.load.items()))
        rows.extend(f"  note: {n}" for n in self.notes)
        return rows


BOARD = Scoreboard()
