"""The training pipeline: ingest -> validate -> [ingest the feature sources -> Feast features] -> tune
-> train -> evaluate -> register -> (only if the gate says so) deploy -> smoke test.

Two shapes, one definition: a project with `data.feature_sources` joins them through Feast
FeatureViews (any number, in one ingest step and one features step); a single table goes from validation straight to tuning. Each parameter is declared
once, below; its default (where it has one) is `cnai.yaml`'s, read from the configuration models,
and `cnai compile` bakes in the project's own values.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from kfp import dsl

from cnai.components.data.ingest.component import ingest
from cnai.components.data.ingest_tables.component import ingest_tables
from cnai.components.data.validate.component import validate
from cnai.components.evaluation.evaluate.component import evaluate
from cnai.components.features.feast_features.component import feast_features
from cnai.components.registry.register.component import register
from cnai.components.reporting.run_summary.component import run_summary
from cnai.components.serving.deploy.component import deploy
from cnai.components.serving.smoke_test.component import smoke_test
from cnai.components.training.train.component import train
from cnai.components.training.tune.component import tune
from cnai.core.config import EvaluationConfig as Evaluation
from cnai.core.config import ModelConfig, Settings, TableSource, TuningConfig, default_of
from cnai.core.kfp_settings import on_kubernetes

PIPELINE_NAME = "cnai-training"
TUNE_TIMEOUT_S = 3 * 3600  # above the cluster section's experiment_timeout_s default, so Katib's own deadline speaks first
REQUIRED = inspect.Parameter.empty

# (name, type, default): every parameter of the pipeline, once.
PARAMETERS: list[tuple[str, type, Any]] = [
    ("events_source", str, REQUIRED),
    ("events_columns", dict, REQUIRED),
    ("events_derived_columns", dict, REQUIRED),
    ("expectation_suite", dict, REQUIRED),
    ("label", str, REQUIRED),
    ("task", str, REQUIRED),
    ("positive_label", str, REQUIRED),  # "" when the task is not binary or the larger value is positive
    ("split", str, REQUIRED),
    ("timestamp", str, REQUIRED),  # "" for data without time (split: random)
    ("event_features", list, REQUIRED),
    ("model_features", list, REQUIRED),
    ("search_space", list, REQUIRED),
    ("model_params", dict, REQUIRED),
    ("registry_uri", str, REQUIRED),
    ("model_name", str, REQUIRED),
    ("objective_metric", str, REQUIRED),  # the task decides its default: cnai.core.config.ProjectConfig
    ("objective_goal", str, REQUIRED),
    ("gate_metric", str, REQUIRED),
    ("minimum_for_first_model", float, REQUIRED),
    ("events_format", str, default_of(TableSource, "format")),
    ("events_null_values", list, []),  # CSV markers read as missing besides NA and empty
    ("events_delimiter", str, default_of(TableSource, "delimiter")),
    ("events_encoding", str, default_of(TableSource, "encoding")),
    ("events_decimal", str, default_of(TableSource, "decimal")),
    ("events_hash", str, ""),
    ("limit_rows", int, 0),
    ("model_kind", str, default_of(ModelConfig, "kind")),
    ("model_code", str, ""),  # a module:function model's code hash: the steps that fit it re-run when it changes
    ("max_training_rows", int, default_of(ModelConfig, "max_training_rows")),
    ("spark_master", str, default_of(Settings, "spark_master")),
    ("tuning_algorithm", str, default_of(TuningConfig, "algorithm")),
    ("max_trials", int, default_of(TuningConfig, "max_trials")),
    ("parallel_trials", int, default_of(TuningConfig, "parallel_trials")),
    ("early_stopping", str, default_of(TuningConfig, "early_stopping")),
    ("holdout_fraction", float, default_of(Settings, "holdout_fraction")),
    ("seed", int, default_of(TuningConfig, "seed")),
    ("min_improvement", float, default_of(Evaluation, "min_improvement")),
    ("serving_host", str, default_of(Settings, "serving_host")),
    ("serving_port", int, default_of(Settings, "serving_port")),
    ("target", str, default_of(Settings, "target")),
    ("cluster", dict, {}),  # the `cluster` section; cnai.orchestration.project.cluster_settings
]
FEATURE_VIEW_PARAMETERS: list[tuple[str, type, Any]] = [
    ("feature_sources", list, REQUIRED),  # name, source, format, columns, derived_columns, hash of each side table
    ("feature_views", list, REQUIRED),  # name, entity, join_on, timestamp, ttl_hours of each side table
    ("feature_refs", list, REQUIRED),
    ("feature_repo", str, ""),  # the team's own Feast repo; the packaged one when empty
]


def signature(with_feature_view: bool) -> list[inspect.Parameter]:
    declared = PARAMETERS + (FEATURE_VIEW_PARAMETERS if with_feature_view else [])
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
                  for name, kind, default in declared]
    # KFP reads a pipeline's parameters from its signature; required ones must come first.
    return sorted(parameters, key=lambda p: p.default is not REQUIRED)


def steps(v: dict[str, Any], with_feature_view: bool) -> None:
    """The tasks, from the parameter values `v` (pipeline inputs inside a pipeline)."""
    cluster, target, label, timestamp = v["cluster"], v["target"], v["label"], v["timestamp"]
    events = on_kubernetes(ingest(
        source=v["events_source"], column_types=v["events_columns"], derived_columns=v["events_derived_columns"],
        null_values=v["events_null_values"], delimiter=v["events_delimiter"], encoding=v["events_encoding"],
        decimal=v["events_decimal"],
        source_format=v["events_format"], spark_master=v["spark_master"], source_hash=v["events_hash"],
        limit_rows=v["limit_rows"], cluster=cluster,
    ).set_display_name("ingest events"), object_store=True)
    checked = on_kubernetes(validate(dataset=events.outputs["dataset"], expectation_suite=v["expectation_suite"],
                                     label=label, task=v["task"], timestamp=timestamp,
                                     split=v["split"]))
    if with_feature_view:
        feature_tables = on_kubernetes(ingest_tables(
            tables=v["feature_sources"], spark_master=v["spark_master"], cluster=cluster,
        ).set_display_name("ingest feature sources"), object_store=True)
        features = on_kubernetes(feast_features(
            events=checked.outputs["validated"], feature_tables=feature_tables.outputs["datasets"],
            feature_refs=v["feature_refs"], feature_views=v["feature_views"], timestamp=timestamp, label=label,
            features=v["event_features"], feature_repo=v["feature_repo"], target=target, cluster=cluster,
        ))
        training_set, side_tables = features.outputs["training_set"], feature_tables.outputs["datasets"]
        online_store = {"feature_store": features.outputs["feature_store"]}  # serving reads the views' values by key
    else:
        training_set, side_tables = checked.outputs["validated"], events.outputs["dataset"]
        online_store = {}

    model = {"task": v["task"], "model_kind": v["model_kind"], "model_params": v["model_params"],
             "split": v["split"], "positive_label": v["positive_label"], "max_training_rows": v["max_training_rows"],
             "model_code": v["model_code"]}
    tuned = on_kubernetes(tune(
        training_set=training_set, feature_columns=v["model_features"], label=label, timestamp=timestamp,
        search_space=v["search_space"], algorithm=v["tuning_algorithm"], objective_metric=v["objective_metric"],
        objective_goal=v["objective_goal"], max_trials=v["max_trials"], parallel_trials=v["parallel_trials"],
        early_stopping=v["early_stopping"], holdout_fraction=v["holdout_fraction"], seed=v["seed"], target=target,
        cluster=cluster, **model,
    ), timeout_s=TUNE_TIMEOUT_S)
    trained = on_kubernetes(train(
        training_set=training_set, feature_columns=v["model_features"], label=label, timestamp=timestamp,
        params=tuned.outputs["Output"], holdout_fraction=v["holdout_fraction"], seed=v["seed"], target=target,
        cluster=cluster, **model,
    ), object_store=True, timeout_s=TUNE_TIMEOUT_S)
    # The registry and the server are state outside the pipeline: never answer these from cache.
    gate = on_kubernetes(evaluate(
        model=trained.outputs["model"], holdout=trained.outputs["holdout"], registry_uri=v["registry_uri"],
        model_name=v["model_name"], metric=v["gate_metric"], min_improvement=v["min_improvement"],
        minimum_for_first_model=v["minimum_for_first_model"], limit_rows=v["limit_rows"],
    ).set_caching_options(False))
    registered = on_kubernetes(register(
        model=trained.outputs["model"], training_set=training_set, registry_uri=v["registry_uri"],
        evaluation=gate.outputs["comparison"], model_name=v["model_name"], deploy_decision=gate.outputs["Output"],
    ).set_caching_options(False))

    # A single table has no feature step: its artifacts stand in (the summary counts each step once).
    on_kubernetes(run_summary(
        events=events.outputs["dataset"], feature_tables=side_tables, validated=checked.outputs["validated"],
        training_set=training_set, trials=tuned.outputs["trials"], model=trained.outputs["model"],
        comparison=gate.outputs["comparison"], model_card=registered.outputs["model_card"],
    ).set_caching_options(False))  # cheap, and it should describe this run

    with dsl.If(gate.outputs["Output"] == True, name="candidate-is-better"):  # noqa: E712 (KFP condition, not Python)
        served = on_kubernetes(deploy(
            registry_uri=v["registry_uri"], model_name=v["model_name"], version=registered.outputs["Output"],
            host=v["serving_host"], port=v["serving_port"], target=target, cluster=cluster, **online_store,
        ).set_caching_options(False), log_sink_token=True)
        on_kubernetes(smoke_test(
            holdout=trained.outputs["holdout"], model=trained.outputs["model"], endpoint_url=served.outputs["Output"],
            model_name=v["model_name"], expected_version=registered.outputs["Output"], target=target, cluster=cluster,
            registry_uri=v["registry_uri"],
        ).set_caching_options(False))


@cache
def training_pipeline_for(with_feature_view: bool):
    """The training pipeline for one shape of data: with a Feast FeatureView joined, or a single table."""
    parameters = signature(with_feature_view)

    def body(*arguments):
        steps(dict(zip([p.name for p in parameters], arguments, strict=True)), with_feature_view)

    body.__signature__ = inspect.Signature(parameters)
    body.__name__ = "training_pipeline"
    return dsl.pipeline(name=PIPELINE_NAME,
                        description="From raw data to a served, gated model, with lineage and carbon per step.")(body)


training_pipeline = training_pipeline_for(True)  # the example project's shape (cnai.yaml)
