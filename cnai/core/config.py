"""The project configuration (`cnai.yaml`): one strict schema, so a typo is refused by name.

The CLI turns this file into pipeline arguments; components never read it, so each one stays usable
on its own in someone else's pipeline with plain parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cnai.core.errors import ConfigError
from cnai.core.search_space import search_space_problems

SPARK_TYPES = {"string", "int", "bigint", "double", "float", "boolean", "timestamp", "date"}
KATIB_ALGORITHMS = ("random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol", "bayesianoptimization", "hyperband")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableSource(Strict):
    """A CSV or Parquet table and how to type it."""

    source: str = Field(description="Path or URI; `package:<module>/<path>` for a file shipped in an installed package.")
    format: Literal["csv", "parquet"] = "csv"
    timestamp: str
    entity: str
    columns: dict[str, str] = Field(description="Column name -> Spark SQL type.")
    derived_columns: dict[str, str] = Field(default_factory=dict, description="Name -> Spark SQL expression.")

    @field_validator("columns")
    @classmethod
    def _known_types(cls, columns: dict[str, str]) -> dict[str, str]:
        for name, spark_type in columns.items():
            if spark_type not in SPARK_TYPES:
                raise ValueError(f"column {name!r} has unknown type {spark_type!r}; use one of {sorted(SPARK_TYPES)}")
        return columns


class DataConfig(Strict):
    events: TableSource
    label: str
    features: list[str] = Field(min_length=1, description="Columns of the events table used as features.")
    feature_source: TableSource
    feature_refs: list[str] = Field(min_length=1, description="Feast references, `view:feature`.")
    expectation_suite: str = "expectations/flights.json"


class ParameterSpec(Strict):
    """One hyperparameter, in Katib's ParameterSpec shape so one declaration serves Optuna and Katib."""

    name: str
    parameter_type: Literal["int", "double", "categorical", "discrete"]
    min: float | None = None
    max: float | None = None
    step: float | None = None
    log: bool = False
    values: list[Any] | None = None


class Objective(Strict):
    metric: Literal["roc_auc", "average_precision", "log_loss", "accuracy", "f1"] = "roc_auc"
    goal: Literal["maximize", "minimize"] = "maximize"


class TuningConfig(Strict):
    algorithm: Literal[KATIB_ALGORITHMS] = "tpe"  # type: ignore[valid-type]
    objective: Objective = Objective()
    max_trials: int = Field(12, ge=1)
    parallel_trials: int = Field(2, ge=1)
    early_stopping: Literal["median", "none"] = "median"
    seed: int = 42
    parameters: list[ParameterSpec] = Field(min_length=1)

    @property
    def search_space(self) -> list[dict[str, Any]]:
        """The parameters as the tune step and Katib take them (plain dicts, unset fields left out)."""
        return [p.model_dump(exclude_none=True) for p in self.parameters]


class EvaluationConfig(Strict):
    metric: Literal["roc_auc", "average_precision", "accuracy", "f1"] = "roc_auc"
    min_improvement: float = 0.0
    minimum_for_first_model: float = 0.55


TARGETS = ("local", "kubeflow")


class Settings(Strict):
    target: Literal[TARGETS] = Field("local", description="local: embedded backends; kubeflow: the cluster's services.")  # type: ignore[valid-type]
    home: str = ".cnai"
    spark_master: str = "local[*]"
    model_name: str = "flight-delay"
    serving_host: str = "127.0.0.1"
    serving_port: int = Field(8085, ge=1, le=65535)
    lineage_url: str | None = Field(None, description="Marquez/OpenLineage HTTP endpoint; a file when unset.")
    lineage_namespace: str = "cnai"
    country_iso_code: str = "USA"
    holdout_fraction: float = Field(0.15, gt=0, lt=0.5)
    sample_rows: int | None = Field(None, ge=1000, description="Use only the first N events (small runs).")


class ScheduleConfig(Strict):
    """Recurring runs on a Kubeflow Pipelines deployment (`cnai schedule`)."""

    kfp_host: str = "http://localhost:8080"
    namespace: str | None = None
    experiment: str = "cnai"
    monitoring_cron: str | None = Field("0 0 2 * * *", description="KFP's 6-field cron (seconds first); null: none.")
    training_cron: str | None = None
    max_concurrency: int = Field(1, ge=1)
    catchup: bool = False
    parameters: dict[str, Any] = Field(default_factory=dict, description="Run parameters, e.g. registry_uri, current_data.")

    @field_validator("monitoring_cron", "training_cron")
    @classmethod
    def _six_fields(cls, cron: str | None) -> str | None:
        if cron is not None and len(cron.split()) != 6:
            raise ValueError(f"{cron!r} has {len(cron.split())} fields; KFP's cron has 6 (seconds first), e.g. '0 0 2 * * *'")
        return cron


class Resources(Strict):
    cpu: str = "1"
    memory: str = "2Gi"
    cpu_limit: str = "2"
    memory_limit: str = "4Gi"


class ClusterConfig(Strict):
    """What the steps use when `settings.target` is `kubeflow`; names match `manifests/`."""

    namespace: str = Field("kubeflow-user-example-com", description="Your Kubeflow profile namespace.")
    service_account: str = "cnai-pipeline-runner"
    object_store_endpoint: str = Field("http://minio-service.kubeflow:9000", description="S3 API of KFP's artifact store.")
    model_registry: str = Field("http://model-registry-service.kubeflow.svc.cluster.local:8080",
                                description="The Kubeflow Model Registry's REST address.")
    trainer_runtime: str = Field("cnai-sklearn", description="The TrainingRuntime (Kubeflow Trainer v2) in manifests/.")
    serving_runtime: str = Field("cnai-sklearn", description="The KServe ServingRuntime in manifests/.")
    inference_logger_url: str = "http://cnai-inference-log-sink"
    canary_traffic_percent: int = Field(10, ge=1, le=100, description="Traffic to a new version until its smoke test passes.")
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(3, ge=1)
    scale_metric: Literal["concurrency", "rps", "cpu", "memory"] = "concurrency"
    scale_target: int = Field(10, ge=1)
    resources: Resources = Resources()
    feast_online_store: str = Field("cnai-feast-redis:6379", description="Redis for Feast's online store (manifests/).")
    spark_executors: int = Field(2, ge=1, description="Executor pods when settings.spark_master is spark-operator.")
    ready_timeout_s: int = Field(600, ge=10, description="How long to wait for an InferenceService to be Ready.")
    experiment_timeout_s: int = Field(7200, ge=60, description="How long to wait for a Katib Experiment or TrainJob.")


class ProjectConfig(Strict):
    settings: Settings = Settings()
    data: DataConfig
    tuning: TuningConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    cluster: ClusterConfig = ClusterConfig()


CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")  # scheme://user:password@host


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every text value in the raw config, with its dotted key."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key}[{index}]")
    elif isinstance(value, str):
        yield key, value


def load_config(path: str | Path) -> ProjectConfig:
    """Read and check `cnai.yaml`; errors name the file and the offending key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    for key, value in _strings(raw):
        if CREDENTIALS_IN_URL.search(value):
            raise ConfigError(f"{path}: {key}: holds a password in its URL; cnai.yaml is committed and copied into "
                              "compiled pipelines: pass credentials as environment variables or Kubernetes Secrets")
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
    # The search space is first used at the tune step, after ingest, validation and features:
    # refuse a broken one now, not minutes into the run.
    problems = search_space_problems(config.tuning.search_space, config.tuning.algorithm)
    if problems:
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    return config
