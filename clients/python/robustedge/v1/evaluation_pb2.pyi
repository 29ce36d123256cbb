import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_MODEL: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_DATASET: _ClassVar[ArtifactKind]

class AttackMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTACK_MODE_UNSPECIFIED: _ClassVar[AttackMode]
    ATTACK_MODE_WHITE_BOX: _ClassVar[AttackMode]
    ATTACK_MODE_TRANSFER: _ClassVar[AttackMode]
    ATTACK_MODE_BLACK_BOX: _ClassVar[AttackMode]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class ReportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_FORMAT_UNSPECIFIED: _ClassVar[ReportFormat]
    REPORT_FORMAT_HTML: _ClassVar[ReportFormat]

class FlagSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_SEVERITY_UNSPECIFIED: _ClassVar[FlagSeverity]
    FLAG_SEVERITY_INFO: _ClassVar[FlagSeverity]
    FLAG_SEVERITY_WARNING: _ClassVar[FlagSeverity]
    FLAG_SEVERITY_ERROR: _ClassVar[FlagSeverity]
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_MODEL: ArtifactKind
ARTIFACT_KIND_DATASET: ArtifactKind
ATTACK_MODE_UNSPECIFIED: AttackMode
ATTACK_MODE_WHITE_BOX: AttackMode
ATTACK_MODE_TRANSFER: AttackMode
ATTACK_MODE_BLACK_BOX: AttackMode
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
REPORT_FORMAT_UNSPECIFIED: ReportFormat
REPORT_FORMAT_HTML: ReportFormat
FLAG_SEVERITY_UNSPECIFIED: FlagSeverity
FLAG_SEVERITY_INFO: FlagSeverity
FLAG_SEVERITY_WARNING: FlagSeverity
FLAG_SEVERITY_ERROR: FlagSeverity

class UploadChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("filename", "size_bytes", "sha256")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    filename: str
    size_bytes: int
    sha256: str
    def __init__(self, filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("id", "kind", "sha256", "size_bytes", "filename", "model", "dataset")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ArtifactKind
    sha256: str
    size_bytes: int
    filename: str
    model: ModelInfo
    dataset: DatasetInfo
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., filename: _Optional[str] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., dataset: _Optional[_Union[DatasetInfo, _Mapping]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("sha256", "opset", "parameters", "size_bytes", "inputs", "outputs", "ir_version", "producer", "macs", "num_classes")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OPSET_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    IR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    MACS_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    opset: int
    parameters: int
    size_bytes: int
    inputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    ir_version: int
    producer: str
    macs: int
    num_classes: int
    def __init__(self, sha256: _Optional[str] = ..., opset: _Optional[int] = ..., parameters: _Optional[int] = ..., size_bytes: _Optional[int] = ..., inputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., ir_version: _Optional[int] = ..., producer: _Optional[str] = ..., macs: _Optional[int] = ..., num_classes: _Optional[int] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("name", "elem_type", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ELEM_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    elem_type: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., elem_type: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("sha256", "samples", "sample_shape", "classes", "label_min", "label_max", "input_min", "input_max")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    LABEL_MIN_FIELD_NUMBER: _ClassVar[int]
    LABEL_MAX_FIELD_NUMBER: _ClassVar[int]
    INPUT_MIN_FIELD_NUMBER: _ClassVar[int]
    INPUT_MAX_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    samples: int
    sample_shape: _containers.RepeatedScalarFieldContainer[int]
    classes: int
    label_min: int
    label_max: int
    input_min: float
    input_max: float
    def __init__(self, sha256: _Optional[str] = ..., samples: _Optional[int] = ..., sample_shape: _Optional[_Iterable[int]] = ..., classes: _Optional[int] = ..., label_min: _Optional[int] = ..., label_max: _Optional[int] = ..., input_min: _Optional[float] = ..., input_max: _Optional[float] = ...) -> None: ...

class EvaluationSpec(_message.Message):
    __slots__ = ("samples", "seed", "variants", "attacks", "latency", "gates", "fidelity", "keep_adversarial", "sensitivity", "search", "sample_shards")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    ATTACKS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    KEEP_ADVERSARIAL_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SHARDS_FIELD_NUMBER: _ClassVar[int]
    samples: int
    seed: int
    variants: _containers.RepeatedCompositeFieldContainer[VariantSpec]
    attacks: _containers.RepeatedCompositeFieldContainer[AttackSpec]
    latency: LatencySpec
    gates: _containers.RepeatedScalarFieldContainer[str]
    fidelity: FidelitySpec
    keep_adversarial: bool
    sensitivity: SensitivitySpec
    search: SearchSpec
    sample_shards: int
    def __init__(self, samples: _Optional[int] = ..., seed: _Optional[int] = ..., variants: _Optional[_Iterable[_Union[VariantSpec, _Mapping]]] = ..., attacks: _Optional[_Iterable[_Union[AttackSpec, _Mapping]]] = ..., latency: _Optional[_Union[LatencySpec, _Mapping]] = ..., gates: _Optional[_Iterable[str]] = ..., fidelity: _Optional[_Union[FidelitySpec, _Mapping]] = ..., keep_adversarial: _Optional[bool] = ..., sensitivity: _Optional[_Union[SensitivitySpec, _Mapping]] = ..., search: _Optional[_Union[SearchSpec, _Mapping]] = ..., sample_shards: _Optional[int] = ...) -> None: ...

class SearchSpec(_message.Message):
    __slots__ = ("enabled", "variant_name", "attack", "epsilon", "max_clean_drop", "max_size_ratio", "max_latency_ratio", "latency_batch_size", "size_metric", "max_evaluations", "max_seconds", "dimensions", "validation_samples")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    VARIANT_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    MAX_CLEAN_DROP_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_METRIC_FIELD_NUMBER: _ClassVar[int]
    MAX_EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    variant_name: str
    attack: str
    epsilon: float
    max_clean_drop: float
    max_size_ratio: float
    max_latency_ratio: float
    latency_batch_size: int
    size_metric: str
    max_evaluations: int
    max_seconds: float
    dimensions: _containers.RepeatedScalarFieldContainer[str]
    validation_samples: int
    def __init__(self, enabled: _Optional[bool] = ..., variant_name: _Optional[str] = ..., attack: _Optional[str] = ..., epsilon: _Optional[float] = ..., max_clean_drop: _Optional[float] = ..., max_size_ratio: _Optional[float] = ..., max_latency_ratio: _Optional[float] = ..., latency_batch_size: _Optional[int] = ..., size_metric: _Optional[str] = ..., max_evaluations: _Optional[int] = ..., max_seconds: _Optional[float] = ..., dimensions: _Optional[_Iterable[str]] = ..., validation_samples: _Optional[int] = ...) -> None: ...

class SensitivitySpec(_message.Message):
    __slots__ = ("enabled", "attack", "epsilon", "sparsity", "methods")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    attack: str
    epsilon: float
    sparsity: float
    methods: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, enabled: _Optional[bool] = ..., attack: _Optional[str] = ..., epsilon: _Optional[float] = ..., sparsity: _Optional[float] = ..., methods: _Optional[_Iterable[str]] = ...) -> None: ...

class VariantSpec(_message.Message):
    __slots__ = ("name", "steps")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    steps: _containers.RepeatedCompositeFieldContainer[CompressionStep]
    def __init__(self, name: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[CompressionStep, _Mapping]]] = ...) -> None: ...

class CompressionStep(_message.Message):
    __slots__ = ("compressor", "params")
    COMPRESSOR_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    compressor: str
    params: _struct_pb2.Struct
    def __init__(self, compressor: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AttackSpec(_message.Message):
    __slots__ = ("attack", "epsilons", "norm", "params", "modes", "transfer_sources")
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILONS_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_SOURCES_FIELD_NUMBER: _ClassVar[int]
    attack: str
    epsilons: _containers.RepeatedScalarFieldContainer[float]
    norm: str
    params: _struct_pb2.Struct
    modes: _containers.RepeatedScalarFieldContainer[AttackMode]
    transfer_sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, attack: _Optional[str] = ..., epsilons: _Optional[_Iterable[float]] = ..., norm: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., modes: _Optional[_Iterable[_Union[AttackMode, str]]] = ..., transfer_sources: _Optional[_Iterable[str]] = ...) -> None: ...

class LatencySpec(_message.Message):
    __slots__ = ("providers", "batch_sizes", "threads", "warmup", "min_iterations", "max_seconds", "disabled", "profiles")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZES_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    MIN_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedScalarFieldContainer[str]
    batch_sizes: _containers.RepeatedScalarFieldContainer[int]
    threads: _containers.RepeatedScalarFieldContainer[int]
    warmup: int
    min_iterations: int
    max_seconds: float
    disabled: bool
    profiles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, providers: _Optional[_Iterable[str]] = ..., batch_sizes: _Optional[_Iterable[int]] = ..., threads: _Optional[_Iterable[int]] = ..., warmup: _Optional[int] = ..., min_iterations: _Optional[int] = ..., max_seconds: _Optional[float] = ..., disabled: _Optional[bool] = ..., profiles: _Optional[_Iterable[str]] = ...) -> None: ...

class FidelitySpec(_message.Message):
    __slots__ = ("max_abs_diff", "min_top1_agreement")
    MAX_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    MIN_TOP1_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    max_abs_diff: float
    min_top1_agreement: float
    def __init__(self, max_abs_diff: _Optional[float] = ..., min_top1_agreement: _Optional[float] = ...) -> None: ...

class SubmitEvaluationRequest(_message.Message):
    __slots__ = ("model_id", "dataset_id", "preset", "spec", "request_id")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    dataset_id: str
    preset: str
    spec: EvaluationSpec
    request_id: str
    def __init__(self, model_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., preset: _Optional[str] = ..., spec: _Optional[_Union[EvaluationSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "state", "model_id", "dataset_id", "spec", "preset", "request_id", "created_at", "started_at", "finished_at", "progress", "stage", "error", "units_done", "units_total", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    UNITS_DONE_FIELD_NUMBER: _ClassVar[int]
    UNITS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: JobState
    model_id: str
    dataset_id: str
    spec: EvaluationSpec
    preset: str
    request_id: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    progress: float
    stage: str
    error: str
    units_done: int
    units_total: int
    attempts: int
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., model_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., spec: _Optional[_Union[EvaluationSpec, _Mapping]] = ..., preset: _Optional[str] = ..., request_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress: _Optional[float] = ..., stage: _Optional[str] = ..., error: _Optional[str] = ..., units_done: _Optional[int] = ..., units_total: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("job_id", "state", "stage", "fraction", "message", "time", "sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    stage: str
    fraction: float
    message: str
    time: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., stage: _Optional[str] = ..., fraction: _Optional[float] = ..., message: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("job_id", "formats")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORMATS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    formats: _containers.RepeatedScalarFieldContainer[ReportFormat]
    def __init__(self, job_id: _Optional[str] = ..., formats: _Optional[_Iterable[_Union[ReportFormat, str]]] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("report", "documents")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    report: Report
    documents: _containers.RepeatedCompositeFieldContainer[RenderedDocument]
    def __init__(self, report: _Optional[_Union[Report, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[RenderedDocument, _Mapping]]] = ...) -> None: ...

class RenderedDocument(_message.Message):
    __slots__ = ("format", "media_type", "content")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    format: ReportFormat
    media_type: str
    content: bytes
    def __init__(self, format: _Optional[_Union[ReportFormat, str]] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("job_id", "job_state", "model", "dataset", "spec", "variants", "attacks", "latency", "gates", "flags", "environment", "created_at", "seconds", "samples", "error", "files", "sensitivity", "search")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    ATTACKS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_state: JobState
    model: ModelInfo
    dataset: DatasetInfo
    spec: EvaluationSpec
    variants: _containers.RepeatedCompositeFieldContainer[VariantResult]
    attacks: _containers.RepeatedCompositeFieldContainer[AttackResult]
    latency: _containers.RepeatedCompositeFieldContainer[LatencyResult]
    gates: _containers.RepeatedCompositeFieldContainer[GateResult]
    flags: _containers.RepeatedCompositeFieldContainer[Flag]
    environment: Environment
    created_at: _timestamp_pb2.Timestamp
    seconds: float
    samples: int
    error: str
    files: _containers.RepeatedCompositeFieldContainer[JobFile]
    sensitivity: _containers.RepeatedCompositeFieldContainer[LayerSensitivity]
    search: SearchResult
    def __init__(self, job_id: _Optional[str] = ..., job_state: _Optional[_Union[JobState, str]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., dataset: _Optional[_Union[DatasetInfo, _Mapping]] = ..., spec: _Optional[_Union[EvaluationSpec, _Mapping]] = ..., variants: _Optional[_Iterable[_Union[VariantResult, _Mapping]]] = ..., attacks: _Optional[_Iterable[_Union[AttackResult, _Mapping]]] = ..., latency: _Optional[_Iterable[_Union[LatencyResult, _Mapping]]] = ..., gates: _Optional[_Iterable[_Union[GateResult, _Mapping]]] = ..., flags: _Optional[_Iterable[_Union[Flag, _Mapping]]] = ..., environment: _Optional[_Union[Environment, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds: _Optional[float] = ..., samples: _Optional[int] = ..., error: _Optional[str] = ..., files: _Optional[_Iterable[_Union[JobFile, _Mapping]]] = ..., sensitivity: _Optional[_Iterable[_Union[LayerSensitivity, _Mapping]]] = ..., search: _Optional[_Union[SearchResult, _Mapping]] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("variant", "attack", "epsilon", "max_clean_drop", "max_size_ratio", "max_latency_ratio", "latency_batch_size", "size_metric", "seed", "validation_samples", "evaluations", "reused", "seconds", "stopped_because", "base_clean_accuracy", "base_robust_accuracy", "candidates", "comparison", "verdict")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    MAX_CLEAN_DROP_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_METRIC_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_BECAUSE_FIELD_NUMBER: _ClassVar[int]
    BASE_CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BASE_ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    variant: str
    attack: str
    epsilon: float
    max_clean_drop: float
    max_size_ratio: float
    max_latency_ratio: float
    latency_batch_size: int
    size_metric: str
    seed: int
    validation_samples: int
    evaluations: int
    reused: int
    seconds: float
    stopped_because: str
    base_clean_accuracy: float
    base_robust_accuracy: float
    candidates: _containers.RepeatedCompositeFieldContainer[SearchCandidate]
    comparison: _containers.RepeatedCompositeFieldContainer[SearchComparison]
    verdict: str
    def __init__(self, variant: _Optional[str] = ..., attack: _Optional[str] = ..., epsilon: _Optional[float] = ..., max_clean_drop: _Optional[float] = ..., max_size_ratio: _Optional[float] = ..., max_latency_ratio: _Optional[float] = ..., latency_batch_size: _Optional[int] = ..., size_metric: _Optional[str] = ..., seed: _Optional[int] = ..., validation_samples: _Optional[int] = ..., evaluations: _Optional[int] = ..., reused: _Optional[int] = ..., seconds: _Optional[float] = ..., stopped_because: _Optional[str] = ..., base_clean_accuracy: _Optional[float] = ..., base_robust_accuracy: _Optional[float] = ..., candidates: _Optional[_Iterable[_Union[SearchCandidate, _Mapping]]] = ..., comparison: _Optional[_Iterable[_Union[SearchComparison, _Mapping]]] = ..., verdict: _Optional[str] = ...) -> None: ...

class SearchCandidate(_message.Message):
    __slots__ = ("name", "origin", "steps", "ok", "error", "clean_accuracy", "robust_accuracy", "size_bytes", "size_ratio", "latency_ms", "latency_ratio", "within_budgets", "on_front", "chosen", "seconds", "reused")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIZE_RATIO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    WITHIN_BUDGETS_FIELD_NUMBER: _ClassVar[int]
    ON_FRONT_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    name: str
    origin: str
    steps: _containers.RepeatedCompositeFieldContainer[CompressionStep]
    ok: bool
    error: str
    clean_accuracy: float
    robust_accuracy: float
    size_bytes: int
    size_ratio: float
    latency_ms: float
    latency_ratio: float
    within_budgets: bool
    on_front: bool
    chosen: bool
    seconds: float
    reused: bool
    def __init__(self, name: _Optional[str] = ..., origin: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[CompressionStep, _Mapping]]] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., clean_accuracy: _Optional[float] = ..., robust_accuracy: _Optional[float] = ..., size_bytes: _Optional[int] = ..., size_ratio: _Optional[float] = ..., latency_ms: _Optional[float] = ..., latency_ratio: _Optional[float] = ..., within_budgets: _Optional[bool] = ..., on_front: _Optional[bool] = ..., chosen: _Optional[bool] = ..., seconds: _Optional[float] = ..., reused: _Optional[bool] = ...) -> None: ...

class SearchComparison(_message.Message):
    __slots__ = ("variant", "preset", "clean_accuracy", "robust_accuracy", "size_ratio", "latency_ratio", "within_budgets")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    SIZE_RATIO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    WITHIN_BUDGETS_FIELD_NUMBER: _ClassVar[int]
    variant: str
    preset: str
    clean_accuracy: float
    robust_accuracy: float
    size_ratio: float
    latency_ratio: float
    within_budgets: bool
    def __init__(self, variant: _Optional[str] = ..., preset: _Optional[str] = ..., clean_accuracy: _Optional[float] = ..., robust_accuracy: _Optional[float] = ..., size_ratio: _Optional[float] = ..., latency_ratio: _Optional[float] = ..., within_budgets: _Optional[bool] = ...) -> None: ...

class LayerSensitivity(_message.Message):
    __slots__ = ("layer", "op_type", "method", "clean_accuracy", "robust_accuracy", "robust_change", "clean_change", "attack", "epsilon")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    OP_TYPE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ROBUST_CHANGE_FIELD_NUMBER: _ClassVar[int]
    CLEAN_CHANGE_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    layer: str
    op_type: str
    method: str
    clean_accuracy: float
    robust_accuracy: float
    robust_change: float
    clean_change: float
    attack: str
    epsilon: float
    def __init__(self, layer: _Optional[str] = ..., op_type: _Optional[str] = ..., method: _Optional[str] = ..., clean_accuracy: _Optional[float] = ..., robust_accuracy: _Optional[float] = ..., robust_change: _Optional[float] = ..., clean_change: _Optional[float] = ..., attack: _Optional[str] = ..., epsilon: _Optional[float] = ...) -> None: ...

class JobFile(_message.Message):
    __slots__ = ("name", "size_bytes", "sha256", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    sha256: str
    description: str
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class DownloadJobFileRequest(_message.Message):
    __slots__ = ("job_id", "name")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class VariantResult(_message.Message):
    __slots__ = ("name", "steps", "ok", "error", "size_bytes", "sparsity", "clean_accuracy", "fidelity", "parameters", "build_seconds", "sha256", "gzip_size_bytes", "macs", "layers", "initializer_bytes_by_dtype")
    class InitializerBytesByDtypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    BUILD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    GZIP_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MACS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    INITIALIZER_BYTES_BY_DTYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    steps: _containers.RepeatedCompositeFieldContainer[CompressionStep]
    ok: bool
    error: str
    size_bytes: int
    sparsity: float
    clean_accuracy: float
    fidelity: Fidelity
    parameters: int
    build_seconds: float
    sha256: str
    gzip_size_bytes: int
    macs: int
    layers: _containers.RepeatedCompositeFieldContainer[LayerFacts]
    initializer_bytes_by_dtype: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[CompressionStep, _Mapping]]] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sparsity: _Optional[float] = ..., clean_accuracy: _Optional[float] = ..., fidelity: _Optional[_Union[Fidelity, _Mapping]] = ..., parameters: _Optional[int] = ..., build_seconds: _Optional[float] = ..., sha256: _Optional[str] = ..., gzip_size_bytes: _Optional[int] = ..., macs: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[LayerFacts, _Mapping]]] = ..., initializer_bytes_by_dtype: _Optional[_Mapping[str, int]] = ...) -> None: ...

class LayerFacts(_message.Message):
    __slots__ = ("name", "sparsity", "unique_weights")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    sparsity: float
    unique_weights: int
    def __init__(self, name: _Optional[str] = ..., sparsity: _Optional[float] = ..., unique_weights: _Optional[int] = ...) -> None: ...

class Fidelity(_message.Message):
    __slots__ = ("max_abs_diff", "top1_agreement", "n", "passed", "error", "logits_from_pre_softmax")
    MAX_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    TOP1_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LOGITS_FROM_PRE_SOFTMAX_FIELD_NUMBER: _ClassVar[int]
    max_abs_diff: float
    top1_agreement: float
    n: int
    passed: bool
    error: str
    logits_from_pre_softmax: bool
    def __init__(self, max_abs_diff: _Optional[float] = ..., top1_agreement: _Optional[float] = ..., n: _Optional[int] = ..., passed: _Optional[bool] = ..., error: _Optional[str] = ..., logits_from_pre_softmax: _Optional[bool] = ...) -> None: ...

class AttackResult(_message.Message):
    __slots__ = ("attack", "mode", "norm", "epsilon", "params", "source_variant", "target_variant", "n", "robust_accuracy", "ci_low", "ci_high", "attack_success_rate", "mean_linf", "mean_l2", "median_linf", "median_l2", "queries", "seconds", "trusted", "clean_accuracy")
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VARIANT_FIELD_NUMBER: _ClassVar[int]
    TARGET_VARIANT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    ATTACK_SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_LINF_FIELD_NUMBER: _ClassVar[int]
    MEAN_L2_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_LINF_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_L2_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    attack: str
    mode: AttackMode
    norm: str
    epsilon: float
    params: _struct_pb2.Struct
    source_variant: str
    target_variant: str
    n: int
    robust_accuracy: float
    ci_low: float
    ci_high: float
    attack_success_rate: float
    mean_linf: float
    mean_l2: float
    median_linf: float
    median_l2: float
    queries: int
    seconds: float
    trusted: bool
    clean_accuracy: float
    def __init__(self, attack: _Optional[str] = ..., mode: _Optional[_Union[AttackMode, str]] = ..., norm: _Optional[str] = ..., epsilon: _Optional[float] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., source_variant: _Optional[str] = ..., target_variant: _Optional[str] = ..., n: _Optional[int] = ..., robust_accuracy: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., attack_success_rate: _Optional[float] = ..., mean_linf: _Optional[float] = ..., mean_l2: _Optional[float] = ..., median_linf: _Optional[float] = ..., median_l2: _Optional[float] = ..., queries: _Optional[int] = ..., seconds: _Optional[float] = ..., trusted: _Optional[bool] = ..., clean_accuracy: _Optional[float] = ...) -> None: ...

class LatencyResult(_message.Message):
    __slots__ = ("variant", "provider", "threads", "batch_size", "iterations", "warmup", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "throughput", "session_seconds", "skipped_reason", "runtime", "profile", "peak_rss_bytes")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    STD_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_MS_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_FIELD_NUMBER: _ClassVar[int]
    SESSION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_REASON_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    variant: str
    provider: str
    threads: int
    batch_size: int
    iterations: int
    warmup: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    throughput: float
    session_seconds: float
    skipped_reason: str
    runtime: str
    profile: str
    peak_rss_bytes: int
    def __init__(self, variant: _Optional[str] = ..., provider: _Optional[str] = ..., threads: _Optional[int] = ..., batch_size: _Optional[int] = ..., iterations: _Optional[int] = ..., warmup: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., std_ms: _Optional[float] = ..., min_ms: _Optional[float] = ..., throughput: _Optional[float] = ..., session_seconds: _Optional[float] = ..., skipped_reason: _Optional[str] = ..., runtime: _Optional[str] = ..., profile: _Optional[str] = ..., peak_rss_bytes: _Optional[int] = ...) -> None: ...

class GateResult(_message.Message):
    __slots__ = ("expression", "value", "passed", "error")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    expression: str
    value: float
    passed: bool
    error: str
    def __init__(self, expression: _Optional[str] = ..., value: _Optional[float] = ..., passed: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Flag(_message.Message):
    __slots__ = ("code", "severity", "variant", "attack", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: FlagSeverity
    variant: str
    attack: str
    message: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[FlagSeverity, str]] = ..., variant: _Optional[str] = ..., attack: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Environment(_message.Message):
    __slots__ = ("versions", "cpu", "cpu_count", "platform", "python")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.ScalarMap[str, str]
    cpu: str
    cpu_count: int
    platform: str
    python: str
    def __init__(self, versions: _Optional[_Mapping[str, str]] = ..., cpu: _Optional[str] = ..., cpu_count: _Optional[int] = ..., platform: _Optional[str] = ..., python: _Optional[str] = ...) -> None: ...

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("attacks", "compressors", "runtimes", "presets", "versions", "server_version")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ATTACKS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSORS_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    attacks: _containers.RepeatedCompositeFieldContainer[AttackInfo]
    compressors: _containers.RepeatedCompositeFieldContainer[CompressorInfo]
    runtimes: _containers.RepeatedCompositeFieldContainer[RuntimeInfo]
    presets: _containers.RepeatedCompositeFieldContainer[PresetInfo]
    versions: _containers.ScalarMap[str, str]
    server_version: str
    def __init__(self, attacks: _Optional[_Iterable[_Union[AttackInfo, _Mapping]]] = ..., compressors: _Optional[_Iterable[_Union[CompressorInfo, _Mapping]]] = ..., runtimes: _Optional[_Iterable[_Union[RuntimeInfo, _Mapping]]] = ..., presets: _Optional[_Iterable[_Union[PresetInfo, _Mapping]]] = ..., versions: _Optional[_Mapping[str, str]] = ..., server_version: _Optional[str] = ...) -> None: ...

class AttackInfo(_message.Message):
    __slots__ = ("name", "description", "norms", "modes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    NORMS_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    norms: _containers.RepeatedScalarFieldContainer[str]
    modes: _containers.RepeatedScalarFieldContainer[AttackMode]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., norms: _Optional[_Iterable[str]] = ..., modes: _Optional[_Iterable[_Union[AttackMode, str]]] = ...) -> None: ...

class CompressorInfo(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RuntimeInfo(_message.Message):
    __slots__ = ("name", "providers", "onnxruntime_version", "unavailable_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ONNXRUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    onnxruntime_version: str
    unavailable_reason: str
    def __init__(self, name: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., onnxruntime_version: _Optional[str] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class PresetInfo(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...
