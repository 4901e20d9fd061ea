"""The project configuration (`cnai.yaml`): one strict schema, so a typo is refused by name.

The CLI turns this file into pipeline arguments; components never read it, so each one stays usable
on its own in someone else's pipeline with plain parameters.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cnai.core.errors import ConfigError
from cnai.core.search_space import search_space_problems
from cnai.core.tasks import ALL_METRICS, METRICS, TASKS

SPARK_TYPES = {"string", "int", "bigint", "double", "float", "boolean", "timestamp", "date"}
# What Spark 4's CSV reader decodes (its CSVOptions charset check); windows-1252 is refused there.
CSV_ENCODINGS = ("utf-8", "iso-8859-1", "windows-1252", "us-ascii")
TIME_TYPES = ("timestamp", "date")
SPLITS = ("time", "random")  # how the holdout is cut (cnai.core.splits)


def time_feature_problem(column: str, derive_in: str) -> str:
    """Why a time is no feature, and the number to derive from it in `derive_in` (a derived_columns
    key). A model takes a time column as a category of its exact values: a new row's time is never one
    of them, so served it counts as missing (and the v1 protocol cannot even send it)."""
    return (f"{column!r} holds times, which a model takes as categories of their exact values that no new row's "
            f"time matches: derive a number from it in {derive_in} (e.g. {column}_year: \"year({column})\", or days "
            f"between two dates: \"datediff(a, b)\") and use that instead")


KATIB_ALGORITHMS = ("random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol", "bayesianoptimization", "hyperband")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableSource(Strict):
    """A CSV or Parquet table and how to type it."""

    source: str = Field(description="Path or URI; `package:<module>/<path>` for a file shipped in an installed package.")
    format: Literal["csv", "parquet"] = "csv"
    timestamp: str | None = Field(None, description="The time each row describes; orders a time split.")
    entity: str | None = Field(None, description="The key feature views are joined on.")
    columns: dict[str, str] = Field(description="Column name -> Spark SQL type.")
    derived_columns: dict[str, str] = Field(default_factory=dict, description="Name -> Spark SQL expression.")
    null_values: list[str] = Field(default_factory=list, description="CSV: markers read as missing besides NA and "
                                                                     "an empty field, e.g. ['?', 'N/A'].")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV: the field separator, e.g. ';' or "
                                                                        "'\\t'; `cnai init` finds it.")
    decimal: str = Field(".", pattern=r"^[.,]$", description="CSV: the decimal mark of its numbers, '.' or ',' (a "
                                                               "European export: 0,25); `cnai init` finds it.")
    encoding: str = Field("UTF-8", description="CSV: the text encoding: UTF-8, ISO-8859-1 (latin-1) or windows-1252 "
                                               "(Excel's on Windows: ’ and € too); `cnai init` finds it.")

    @field_validator("delimiter", mode="before")
    @classmethod
    def _tab_as_written(cls, delimiter: Any) -> Any:
        """'\\t' in single quotes is YAML's two characters, a backslash and t: the tab it means."""
        return "\t" if delimiter == "\\t" else delimiter

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        if encoding.lower() not in CSV_ENCODINGS:
            raise ValueError(f"encoding {encoding!r} is not one Spark's CSV reader takes; use one of {list(CSV_ENCODINGS)} "
                             "(or save the file as UTF-8)")
        return encoding

    @field_validator("columns")
    @classmethod
    def _known_types(cls, columns: dict[str, str]) -> dict[str, str]:
        for name, spark_type in columns.items():
            if spark_type not in SPARK_TYPES:
                raise ValueError(f"column {name!r} has unknown type {spark_type!r}; use one of {sorted(SPARK_TYPES)}")
        return columns

    def has(self, column: str) -> bool:
        return column in self.columns or column in self.derived_columns

    def columns_read(self, derived: str) -> set[str]:
        """The declared columns a derived column's expression reads, through the derived ones it reads;
        names in quotes and function names (a name before its parenthesis) are none."""
        seen, found, pending = {derived}, set(), [derived]
        while pending:
            expression = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", " ", self.derived_columns[pending.pop()])
            names = {m.group(1) or m.group(2) for m in re.finditer(r"`([^`]+)`|\b([A-Za-z_]\w*)\b(?!\s*\()", expression)}
            for name in names:
                if name in self.derived_columns and name not in seen:
                    seen.add(name)
                    pending.append(name)
                elif name in self.columns:
                    found.add(name)
        return found

    @property
    def names(self) -> list[str]:
        """Every column: declared, then derived."""
        return [*self.columns, *self.derived_columns]


class FeatureSource(TableSource):
    """A side table served as a Feast FeatureView and joined to the events.

    With a `timestamp`, point-in-time: each event takes the newest row of its key at or before the
    event's time (no older than `ttl_hours`). Without one the view is static (a lookup table such as
    products or stores): each event takes its key's row, whatever the time.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The FeatureView's name; feature_refs read `<name>:<column>`.")
    entity: str = Field(description="This table's key column.")
    join_on: str | None = Field(None, description="The events' column holding the key; `entity`'s own name when unset.")
    timestamp: str | None = Field(None, description="When each row's values became known; unset for a static table.")
    ttl_hours: float | None = Field(None, gt=0, description="How old a row may be and still be joined; no limit when unset.")


class ModelConfig(Strict):
    """Which model (cnai.models.kinds) and the hyperparameters fixed for it (tuning.parameters are searched)."""

    kind: str = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    max_training_rows: int | None = Field(
        5_000_000, ge=1000, description="A larger training set is trained on a seeded sample of this many rows "
                                        "(stratified by class), read without loading the whole; null: every row.")


class DataConfig(Strict):
    events: TableSource
    label: str
    task: Literal[TASKS] = Field(description="binary, multiclass or regression; `cnai init` infers it.")  # type: ignore[valid-type]
    positive_label: str | int | bool | None = Field(None, description="binary: the class scores are about.")
    split: Literal[SPLITS] | None = Field(None, description="How the holdout is cut: time (newest rows; needs "  # type: ignore[valid-type]
                                                            "events.timestamp) or random; time when there is a timestamp.")
    features: list[str] = Field(min_length=1, description="Columns of the events table used as features.")
    feature_sources: list[FeatureSource] = Field(default_factory=list, description="Side tables, one Feast FeatureView each.")
    feature_refs: list[str] = Field(default_factory=list, description="Feast references, `view:feature`.")
    feature_repo: str | None = Field(None, description="Your own Feast repo (a folder with feature_store.yaml); "
                                                       "the packaged one, built from feature_sources, when unset.")
    expectation_suite: str | None = Field(None, description="A Great Expectations suite (JSON); inferred when unset.")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "feature_source" in raw:
            raise ValueError("data.feature_source: now data.feature_sources, a list (one entry per side table); "
                             "write `feature_sources:` and put the table under it as `- name: ...`")
        return raw

    @property
    def split_method(self) -> str:
        return self.split or ("time" if self.events.timestamp else "random")

    def join_column(self, source: FeatureSource) -> str:
        """The events' column a side table is joined on."""
        return source.join_on or source.entity

    @property
    def feature_views(self) -> list[dict[str, Any]]:
        """The side tables as the features step takes them: name, entity, join_on, timestamp, ttl_hours."""
        return [{"name": s.name, "entity": s.entity, "join_on": self.join_column(s), "timestamp": s.timestamp or "",
                 "ttl_hours": s.ttl_hours or 0} for s in self.feature_sources]

    @property
    def model_features(self) -> list[str]:
        return [*self.features, *[ref.split(":", 1)[1] for ref in self.feature_refs]]

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        events, problems = self.events, []
        for key, column in (("label", self.label), *((f"features[{i}]", c) for i, c in enumerate(self.features)),
                            ("events.timestamp", events.timestamp), ("events.entity", events.entity)):
            if column is not None and not events.has(column):
                problems.append(f"data.{key}: {column!r} is not a column of data.events (columns or derived_columns)"
                                + did_you_mean(column, events.names))
        if self.label in self.features:
            problems.append(f"data.features: holds the label {self.label!r}; a model must not see its answer")
        elif self.label in events.derived_columns and (read := events.columns_read(self.label)) and read <= set(self.features):
            problems.append(f"data.label: {self.label!r} is derived from {sorted(read)} alone "
                            f"({events.derived_columns[self.label]!r}), and data.features hold {'it' if len(read) == 1 else 'them'}: "
                            "the model would be handed the formula of its answer; leave "
                            f"{'it' if len(read) == 1 else 'them'} out of data.features")
        problems += [f"data.features[{i}]: " + time_feature_problem(c, "data.events.derived_columns")
                     for i, c in enumerate(self.features) if events.columns.get(c) in TIME_TYPES]
        if self.split == "time" and not events.timestamp:
            problems.append("data.split: time needs data.events.timestamp; set it, or use split: random")
        if events.columns.get(events.timestamp) in ("string", "boolean"):  # a derived one is checked by its values
            problems.append(f"data.events.timestamp: {events.timestamp!r} is declared {events.columns[events.timestamp]}, "
                            "and text sorts 9/9/2013 after 10/1/2013: declare it timestamp or date, or derive a time from "
                            f"it (derived_columns: {{{events.timestamp}_time: \"to_timestamp({events.timestamp}, "
                            "'<its pattern, e.g. M/d/yyyy>')\"}) and name that")
        if self.positive_label is not None and self.task != "binary":
            problems.append(f"data.positive_label: only a binary task has one (data.task is {self.task})")
        declared = events.columns.get(self.label)
        if self.task == "regression" and declared in ("string", "boolean", *TIME_TYPES):
            problems.append(f"data.task: regression needs a numeric label, but data.events.columns declares {self.label!r} "
                            f"{declared}; set data.task to binary or multiclass, or choose a numeric label")
        problems += self._feature_source_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _feature_source_problems(self) -> list[str]:
        events, sources, problems = self.events, {s.name: s for s in self.feature_sources}, []
        untimed: set[tuple[str, str]] = set()  # a timestamp said once, however many views join on it
        if not sources and self.feature_refs:
            problems.append("data.feature_refs: need data.feature_sources (the tables behind the FeatureViews)")
        if len(sources) < len(self.feature_sources):
            problems.append("data.feature_sources: two tables share a name; give each view its own")
        for i, source in enumerate(self.feature_sources):
            key = f"data.feature_sources[{i}]"
            for field, column in (("timestamp", source.timestamp), ("entity", source.entity)):
                if column is not None and not source.has(column):
                    problems.append(f"{key}.{field}: {column!r} is not one of its columns" + did_you_mean(column, source.names))
            join_on = self.join_column(source)
            if join_on == self.label:
                problems.append(f"{key}.join_on: {join_on!r} is data.label; a side table joined on the label hands the "
                                "model its answer (and serving would need the answer to look the features up); join "
                                "on a column known before the label")
            elif not events.has(join_on):
                problems.append(f"{key}.join_on: the events have no column {join_on!r} to join {source.name!r} on; "
                                f"set join_on to the events' column holding its {source.entity!r}"
                                + (f" (e.g. join_on: {events.entity})" if events.entity else ""))
            if source.timestamp and not events.timestamp:
                problems.append(f"{key}: {source.name!r} has a timestamp, so it is joined as of each event's time, "
                                "which needs data.events.timestamp; set it, or leave the view's timestamp out (static)")
            if source.timestamp and events.timestamp:  # a derived one's type is known only to Spark: checked by features
                for where, table, column in (("data.events", events, events.timestamp), (key, source, source.timestamp)):
                    declared = table.columns.get(column)
                    if declared is not None and declared not in TIME_TYPES and (where, column) not in untimed:
                        untimed.add((where, column))
                        problems.append(f"{where}.timestamp: {column!r} is declared {declared}, but {source.name!r} is joined "
                                        "as of each event's time, which takes times: declare it timestamp (whole-number "
                                        "years read as their first day) or date, or derive a time from it (e.g. "
                                        f"{{{column}_time: \"make_date(year, {column}, 1)\"}} for a month's number) and "
                                        "name that")
            if source.ttl_hours and not source.timestamp:
                problems.append(f"{key}.ttl_hours: a static table (no timestamp) has no age; leave ttl_hours out")
            if not any(ref.partition(":")[0] == source.name for ref in self.feature_refs):
                problems.append(f"data.feature_refs: none from {source.name!r}; name the columns to join, as "
                                f"'{source.name}:<column>'")
        seen: dict[str, str] = {}
        for i, ref in enumerate(self.feature_refs):
            view, _, column = ref.partition(":")
            source = sources.get(view)
            if source is None or not column:
                problems.append(f"data.feature_refs[{i}]: {ref!r} must be '<view>:<column>' with a view of "
                                f"data.feature_sources ({sorted(sources)})" + did_you_mean(view, list(sources)))
            elif not source.has(column) or column in (source.entity, source.timestamp):
                values = [c for c in source.names if c not in (source.entity, source.timestamp)]
                problems.append(f"data.feature_refs[{i}]: {column!r} is not a value column of {view!r}"
                                + did_you_mean(column, values))
            elif source.columns.get(column) in TIME_TYPES:
                index = self.feature_sources.index(source)
                problems.append(f"data.feature_refs[{i}]: "
                                + time_feature_problem(column, f"data.feature_sources[{index}].derived_columns"))
            elif column in self.features or column == self.label or column in seen:
                other = f"view {seen[column]!r}" if column in seen else "an events column"
                problems.append(f"data.feature_refs[{i}]: {column!r} is also {other}; rename one "
                                f"(a derived_columns entry of {view!r}, e.g. {view}_{column}: {column})")
            else:
                seen[column] = view
        return problems


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
    metric: Literal[tuple(ALL_METRICS)] | None = Field(None, description="The task's first metric when unset.")  # type: ignore[valid-type]
    goal: Literal["maximize", "minimize"] | None = Field(None, description="The metric's own direction when unset.")


class TuningConfig(Strict):
    algorithm: Literal[KATIB_ALGORITHMS] = "tpe"  # type: ignore[valid-type]
    objective: Objective = Objective()
    max_trials: int = Field(12, ge=1)
    parallel_trials: int = Field(2, ge=1, description="Trials at once on the cluster (Katib's parallelTrialCount); "
                                 "locally one at a time, each on every core, so that the seed decides the trials.")
    early_stopping: Literal["median", "none"] = "median"
    seed: int = 42
    parameters: list[ParameterSpec] = Field(min_length=1)

    @property
    def search_space(self) -> list[dict[str, Any]]:
        """The parameters as the tune step and Katib take them (plain dicts, unset fields left out)."""
        return [p.model_dump(exclude_none=True) for p in self.parameters]


class EvaluationConfig(Strict):
    metric: Literal[tuple(ALL_METRICS)] | None = Field(None, description="tuning.objective.metric when unset.")  # type: ignore[valid-type]
    min_improvement: float = Field(0.0, ge=0, description="How much better than production, in the metric's direction.")
    minimum_for_first_model: float | None = Field(None, description="The first model must reach this; any when unset.")


TARGETS = ("local", "kubeflow")


MIN_SAMPLE_ROWS = 1000  # fewer leave splits and the gate too few rows of each class to judge


class Settings(Strict):
    target: Literal[TARGETS] = Field("local", description="local: embedded backends; kubeflow: the cluster's services.")  # type: ignore[valid-type]
    home: str = ".cnai"
    spark_master: str = "local[*]"
    model_name: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                                   description="The registered model and InferenceService; `<label>-<task>` when unset.")
    serving_host: str = "127.0.0.1"
    serving_port: int = Field(8085, ge=1, le=65535)
    ui_port: int = Field(8090, ge=1, le=65535, description="`cnai ui` serves its pages here, on 127.0.0.1.")
    mlflow_ui_port: int = Field(5000, ge=1, le=65535, description="`cnai ui` starts MLflow's UI here, on 127.0.0.1.")
    lineage_url: str | None = Field(None, description="Marquez/OpenLineage HTTP endpoint; a file when unset.")
    lineage_namespace: str = "cnai"
    country_iso_code: str = "USA"
    holdout_fraction: float = Field(0.15, gt=0, lt=0.5)
    sample_rows: int | None = Field(None, ge=MIN_SAMPLE_ROWS, description="Use only the first N events (small runs).")


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


class MonitoringConfig(Strict):
    """When the drift check calls for retraining (`cnai monitor`, the monitoring pipeline)."""

    p_value_threshold: float = Field(0.01, gt=0, lt=1, description="A feature drifts only below this p-value...")
    min_effect_size: float = Field(0.1, ge=0, le=1, description="...and at or above this KS statistic or Cramér's V.")
    drift_share_threshold: float = Field(0.3, gt=0, le=1, description="Retrain when this share of features drifted "
                                                                       "(or the predictions did).")
    min_rows: int = Field(100, ge=1, description="Fewer current rows than this decide nothing: too little traffic "
                                                  "to judge, so no retraining.")


class ProjectConfig(Strict):
    settings: Settings = Settings()
    data: DataConfig
    model: ModelConfig = ModelConfig()
    tuning: TuningConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    cluster: ClusterConfig = ClusterConfig()

    @property
    def objective_metric(self) -> str:
        return self.tuning.objective.metric or next(iter(METRICS[self.data.task]))

    @property
    def objective_goal(self) -> str:
        return "maximize" if METRICS[self.data.task][self.objective_metric] else "minimize"

    @property
    def gate_metric(self) -> str:
        return self.evaluation.metric or self.objective_metric

    @property
    def model_name(self) -> str:
        return self.settings.model_name or default_model_name(self.data.label, self.data.task)

    @model_validator(mode="after")
    def _metrics_suit_the_task(self) -> ProjectConfig:
        task, problems = self.data.task, []
        for key, metric in (("tuning.objective.metric", self.tuning.objective.metric),
                            ("evaluation.metric", self.evaluation.metric)):
            if metric is not None and metric not in METRICS[task]:
                problems.append(f"{key}: {metric!r} is not a {task} metric; use one of {list(METRICS[task])}")
        goal = self.tuning.objective.goal
        if not problems and goal is not None and goal != self.objective_goal:
            problems.append(f"tuning.objective.goal: {self.objective_metric} is {'higher' if self.objective_goal == 'maximize' else 'lower'}"
                            f" when better, so the goal is {self.objective_goal}, not {goal} (or leave the goal out)")
        # Fixed and searched at once: the searched value silently won.
        problems += [f"model.params.{p.name}: also searched in tuning.parameters; fix it here or search it there, not both"
                     for p in self.tuning.parameters if p.name in self.model.params]
        if problems:
            raise ValueError("; ".join(problems))
        return self


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


def _problem(error: dict[str, Any]) -> str:
    """One pydantic error as `key: message`; the checks across keys name their keys themselves."""
    message = error["msg"].removeprefix("Value error, ")
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "value_error" and error["loc"] in ((), ("data",)):
        return message
    if error["type"] == "extra_forbidden":
        message = _unknown_key(error["loc"])
    if error["type"] == "literal_error" and isinstance(error.get("input"), str):  # task: regresion
        annotation = _field_annotation(error["loc"])
        # Literal[...] | None: the choices are the Literal's own
        choices = [a for a in (annotation, *typing.get_args(annotation)) if typing.get_origin(a) is Literal]
        expected = [str(v) for choice in choices for v in typing.get_args(choice)]
        message += did_you_mean(error["input"], expected)
    return f"{key}: {message}"


def _field_annotation(loc: tuple[str | int, ...]) -> Any:
    """The annotation of the field at `loc`, or None."""
    section: Any = ProjectConfig
    annotation = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(section, type) and issubclass(section, BaseModel)) or part not in section.model_fields:
            return None
        annotation = section.model_fields[part].annotation
        models = [t for t in (annotation, *typing.get_args(annotation)) if isinstance(t, type) and issubclass(t, BaseModel)]
        section = models[0] if models else annotation
    return annotation


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    """An unknown key named with the keys its section takes, and the closest of them to a typo."""
    section: Any = ProjectConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list: the list's own model, found at its key
        annotation = section.model_fields[part].annotation if part in section.model_fields else None
        models = [t for t in (annotation, *typing.get_args(annotation))
                  if isinstance(t, type) and issubclass(t, BaseModel)]
        if not models:
            return "unknown key"
        section = models[0]
    known = list(section.model_fields)
    return "unknown key" + (did_you_mean(str(loc[-1]), known) or f"; this section takes {', '.join(known)}")


def default_model_name(label: str, task: str) -> str:
    """The model's name when settings.model_name does not set one: label and task, as a served
    model's name must be (ASCII, DNS-like: 'résilié' -> 'resilie', pct_above -> pct-above)."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", f"{label}-{task}").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def did_you_mean(name: str, known: list[str]) -> str:
    """"; did you mean 'x'?" for the known name closest to a misspelt one, or nothing."""
    import difflib

    lowered = {k.lower(): k for k in known}  # 'Month' for 'month': close in any case
    close = difflib.get_close_matches(name, known, n=1) or [
        lowered[k] for k in difflib.get_close_matches(name.lower(), lowered, n=1)]
    return f"; did you mean {close[0]!r}?" if close else ""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice in one mapping: PyYAML keeps the last silently, so a
    second `model:` section would quietly replace the first."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key]} and {line}); YAML keeps only the last: "
                                "merge them into one", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> ProjectConfig:
    """Read and check `cnai.yaml`; errors name the file and the offending key."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}  # noqa: S506 (a SafeLoader)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file; `cnai init <table> --label <column>` writes one "
                          "(or pass --config PATH)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
    for key, value in _strings(raw):
        if CREDENTIALS_IN_URL.search(value):
            raise ConfigError(f"{path}: {key}: holds a password in its URL; cnai.yaml is committed and copied into "
                              "compiled pipelines: pass credentials as environment variables or Kubernetes Secrets")
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
    # The search space is first used at the tune step, after ingest, validation and features:
    # refuse a broken one now, not minutes into the run.
    problems = search_space_problems(config.tuning.search_space, config.tuning.algorithm)
    if problems:
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    return config


def default_of(model: type[BaseModel], field: str) -> Any:
    """A setting's default as declared above: the pipelines' and components' defaults come from here."""
    return model.model_fields[field].get_default(call_default_factory=True)


# A CSV's dialect when cnai.yaml names none, for the code that reads tables outside a pipeline step.
CSV_DELIMITER, CSV_ENCODING, CSV_DECIMAL = (default_of(TableSource, key) for key in ("delimiter", "encoding", "decimal"))


def cluster_config(cluster: dict[str, Any] | None) -> ClusterConfig:
    """The `cluster` dict a step receives, read back with ClusterConfig's own defaults (never restated
    at the call sites); the keys it does not declare (the component image) are left to their readers."""
    known = {k: v for k, v in (cluster or {}).items() if k in ClusterConfig.model_fields}
    if isinstance(known.get("resources"), dict):
        known["resources"] = Resources.model_construct(**known["resources"])
    # Not validated again: cnai.yaml was when it was loaded, and a step called on its own may pass
    # values the file's bounds are there to keep users from (a test's 5 s timeout).
    return ClusterConfig.model_construct(**known)
