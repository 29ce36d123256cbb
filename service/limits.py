"""The server's configurable limits: one place for their defaults, flags and meaning.

Every upload is untrusted and every client may be hostile or broken, so each
resource a request can consume has a bound: bytes on the wire and on disk, time a
client may stay idle, RPCs and validations in flight, memory and wall-clock time of
the sandboxed validators, and the structure of what is uploaded. Defaults suit a
small shared server; ``docs/security.md`` explains each one.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class ValidationLimits:
    """Bounds on validating one upload (enforced inside the sandboxed validator)."""

    # Address-space cap of the validator process (onnxruntime alone maps ~0.5 GiB).
    memory_bytes: int = 4 * GIB
    # Wall-clock limit of one validation, process start-up included.
    wall_seconds: float = 120.0
    # Nodes in all graphs of a model, subgraphs included.
    max_nodes: int = 200_000
    # If/Loop/Scan bodies nested inside each other.
    max_subgraph_depth: int = 8
    # Declared size of any one tensor (initializer, constant or graph input).
    max_tensor_bytes: int = 2 * GIB
    # Arrays in a dataset .npz.
    max_dataset_entries: int = 16
    # Declared uncompressed size of all arrays of a dataset together.
    max_dataset_bytes: int = 2 * GIB


@dataclass(frozen=True)
class TransportLimits:
    """Bounds on what clients may make the server hold or do at once."""

    # One gRPC message (an upload chunk is at most 1 MiB; specs are small).
    max_message_bytes: int = 4 * MIB
    # One upload, header to last chunk.
    max_upload_bytes: int = 2 * GIB
    # An upload that sends nothing for this long is abandoned (DEADLINE_EXCEEDED).
    upload_idle_seconds: float = 30.0
    # An upload that takes longer than this in all is abandoned (DEADLINE_EXCEEDED);
    # 2 GiB at 1 MiB/s fits.
    upload_seconds: float = 3600.0
    # RPCs being served at once; more are refused with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 64
    # Uploads being received at once; more are refused with RESOURCE_EXHAUSTED.
    max_concurrent_uploads: int = 16
    # Sandboxed validations at once (each is a process of up to memory_bytes).
    max_concurrent_validations: int = 2
    # Queued or running jobs per principal; SubmitEvaluation past it: RESOURCE_EXHAUSTED.
    max_pending_jobs: int = 64
    # Free disk space an upload must leave behind (RESOURCE_EXHAUSTED otherwise).
    min_free_disk_bytes: int = 64 * MIB
    # How long SIGTERM waits for in-flight RPCs before cancelling them.
    drain_seconds: float = 10.0


# (flag, dataclass, field, unit multiplier, help)
_FLAGS: tuple[tuple[str, type, str, int, str], ...] = (
    ("--max-message-mb", TransportLimits, "max_message_bytes", MIB, "largest gRPC message"),
    ("--max-upload-mb", TransportLimits, "max_upload_bytes", MIB, "largest upload"),
    ("--upload-idle-seconds", TransportLimits, "upload_idle_seconds", 1,
     "abandon an upload that sends nothing for this long"),
    ("--upload-seconds", TransportLimits, "upload_seconds", 1,
     "abandon an upload that takes longer than this in all"),
    ("--max-concurrent-rpcs", TransportLimits, "max_concurrent_rpcs", 1,
     "RPCs served at once (RESOURCE_EXHAUSTED past it)"),
    ("--max-concurrent-uploads", TransportLimits, "max_concurrent_uploads", 1,
     "uploads received at once (RESOURCE_EXHAUSTED past it)"),
    ("--max-concurrent-validations", TransportLimits, "max_concurrent_validations", 1,
     "sandboxed validations at once"),
    ("--max-pending-jobs", TransportLimits, "max_pending_jobs", 1,
     "queued or running jobs per principal (RESOURCE_EXHAUSTED past it)"),
    ("--min-free-disk-mb", TransportLimits, "min_free_disk_bytes", MIB,
     "free disk space an upload must leave (RESOURCE_EXHAUSTED otherwise)"),
    ("--drain-seconds", TransportLimits, "drain_seconds", 1,
     "on SIGTERM, how long in-flight RPCs may take to finish"),
    ("--validation-memory-mb", ValidationLimits, "memory_bytes", MIB,
     "address-space cap of the sandboxed validator"),
    ("--validation-seconds", ValidationLimits, "wall_seconds", 1,
     "wall-clock limit of one sandboxed validation"),
    ("--max-model-nodes", ValidationLimits, "max_nodes", 1, "nodes in a model, subgraphs included"),
    ("--max-subgraph-depth", ValidationLimits, "max_subgraph_depth", 1,
     "If/Loop/Scan bodies nested in each other"),
    ("--max-tensor-mb", ValidationLimits, "max_tensor_bytes", MIB, "declared size of one tensor"),
    ("--max-dataset-entries", ValidationLimits, "max_dataset_entries", 1, "arrays in a dataset"),
    ("--max-dataset-mb", ValidationLimits, "max_dataset_bytes", MIB,
     "declared uncompressed size of a dataset"),
)  # fmt: skip


def _dest(flag: str) -> str:
    return "limit_" + flag.removeprefix("--").replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per limit, each showing its default in the limit's unit."""
    group = parser.add_argument_group("limits")
    for flag, cls, name, unit, text in _FLAGS:
        default = getattr(cls(), name) / unit
        kind = float if isinstance(getattr(cls(), name), float) else int
        shown = int(default) if kind is int else default
        metavar = "MB" if unit == MIB else ("SECONDS" if kind is float else "N")
        group.add_argument(
            flag,
            dest=_dest(flag),
            type=kind,
            default=None,
            metavar=metavar,
            help=f"{text} (default {shown})",
        )


def from_arguments(args: argparse.Namespace) -> tuple[TransportLimits, ValidationLimits]:
    """Builds the limits from parsed flags; a flag left out keeps its default."""
    changes: dict[type, dict[str, Any]] = {TransportLimits: {}, ValidationLimits: {}}
    for flag, cls, name, unit, _ in _FLAGS:
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        if value <= 0:
            raise ValueError(f"{flag} must be positive")
        changes[cls][name] = value * unit if unit != 1 else value
        if isinstance(getattr(cls(), name), int):
            changes[cls][name] = int(changes[cls][name])
    transport = dataclasses.replace(TransportLimits(), **changes[TransportLimits])
    validation = dataclasses.replace(ValidationLimits(), **changes[ValidationLimits])
    return transport, validation
