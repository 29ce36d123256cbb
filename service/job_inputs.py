"""What a job runs on: verified, runnable copies of its uploaded model and dataset.

A job names its inputs by the sha256 of the uploaded bytes. Before a worker touches
them, each file is re-hashed (bytes that changed on disk are DATA_LOSS, never silently
evaluated), and the model is swapped for the runnable copy validation derived from it
when the upload itself cannot be run as is (its IR version was lowered for the
installed onnxruntime). The notes say what was changed, for the report's flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustedge.service.artifacts import ArtifactStore
from robustedge.service.store import JobStore

# The purpose under which validation records a runnable copy of a model.
RUNNABLE = "runnable"


@dataclass(frozen=True)
class JobInputs:
    model_path: Path
    dataset_path: Path
    # Human-readable changes made to the uploads (e.g. a lowered IR version).
    notes: tuple[str, ...] = ()


def resolve(store: JobStore, artifacts: ArtifactStore, model_id: str, dataset_id: str) -> JobInputs:
    """Verified paths of a job's inputs; raises DataLoss when a stored file changed."""
    artifacts.verified_path(model_id)  # the upload itself must still be intact
    derived = store.get_derived(model_id, RUNNABLE)
    notes: tuple[str, ...] = ()
    if derived is not None:
        model_path = artifacts.verified_path(derived.artifact_id)
        notes = (derived.note,)
    else:
        model_path = artifacts.path_for(model_id)
    return JobInputs(model_path, artifacts.verified_path(dataset_id), notes)
