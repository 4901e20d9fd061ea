"""The training pipeline: ingest -> validate -> features -> tune -> train -> evaluate -> register
-> (only if the gate says so) deploy -> smoke test.

Parameters carry no data-specific defaults here: `cnai compile` bakes in the ones from `cnai.yaml`,
and `cnai run` passes them; see `cnai.cli.pipeline_arguments`.
"""

from kfp import dsl

from cnai.components.data.ingest.component import ingest
from cnai.components.data.validate.component import validate
from cnai.components.evaluation.evaluate.component import evaluate
from cnai.components.features.feast_features.component import feast_features
from cnai.components.registry.register.component import register
from cnai.components.reporting.run_summary.component import run_summary
from cnai.components.serving.deploy.component import deploy
from cnai.components.serving.smoke_test.component import smoke_test
from cnai.components.training.train.component import train
from cnai.components.training.tune.component import tune
from cnai.core.kfp_settings import on_kubernetes

PIPELINE_NAME = "cnai-training"
TUNE_TIMEOUT_S = 3 * 3600  # above the cluster section's experiment_timeout_s default, so Katib's own deadline speaks first


@dsl.pipeline(name=PIPELINE_NAME, description="From raw data to a served, gated model, with lineage and carbon per step.")
def training_pipeline(
    events_source: str,
    events_columns: dict,
    events_derived_columns: dict,
    feature_source: str,
    feature_source_columns: dict,
    expectation_suite: dict,
    entity: str,
    timestamp: str,
    label: str,
    event_features: list,
    feature_refs: list,
    model_features: list,
    search_space: list,
    registry_uri: str,
    events_format: str = "csv",
    feature_source_format: str = "csv",
    events_hash: str = "",
    feature_source_hash: str = "",
    limit_rows: int = 0,
    spark_master: str = "local[*]",
    tuning_algorithm: str = "tpe",
    objective_metric: str = "roc_auc",
    objective_goal: str = "maximize",
    max_trials: int = 10,
    parallel_trials: int = 2,
    early_stopping: str = "median",
    holdout_fraction: float = 0.15,
    seed: int = 42,
    model_name: str = "flight-delay",
    gate_metric: str = "roc_auc",
    min_improvement: float = 0.0,
    minimum_for_first_model: float = 0.55,
    serving_host: str = "127.0.0.1",
    serving_port: int = 8085,
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
):
    events = on_kubernetes(ingest(
        source=events_source, column_types=events_columns, derived_columns=events_derived_columns,
        source_format=events_format, spark_master=spark_master, source_hash=events_hash, limit_rows=limit_rows,
        cluster=cluster,
    ).set_display_name("ingest events"), object_store=True)
    feature_table = on_kubernetes(ingest(
        source=feature_source, column_types=feature_source_columns, source_format=feature_source_format,
        spark_master=spark_master, source_hash=feature_source_hash, cluster=cluster,
    ).set_display_name("ingest feature source"), object_store=True)

    checked = on_kubernetes(validate(dataset=events.outputs["dataset"], expectation_suite=expectation_suite))
    training_set = on_kubernetes(feast_features(
        events=checked.outputs["validated"], feature_table=feature_table.outputs["dataset"], feature_refs=feature_refs,
        entity=entity, timestamp=timestamp, label=label, features=event_features, target=target, cluster=cluster,
    ))
    tuned = on_kubernetes(tune(
        training_set=training_set.outputs["training_set"], feature_columns=model_features, label=label,
        timestamp=timestamp, search_space=search_space, algorithm=tuning_algorithm,
        objective_metric=objective_metric, objective_goal=objective_goal, max_trials=max_trials,
        parallel_trials=parallel_trials, early_stopping=early_stopping, holdout_fraction=holdout_fraction, seed=seed,
        target=target, cluster=cluster,
    ), timeout_s=TUNE_TIMEOUT_S)
    trained = on_kubernetes(train(
        training_set=training_set.outputs["training_set"], feature_columns=model_features, label=label,
        timestamp=timestamp, params=tuned.outputs["Output"], holdout_fraction=holdout_fraction, seed=seed,
        target=target, cluster=cluster,
    ), object_store=True, timeout_s=TUNE_TIMEOUT_S)
    # The registry and the server are state outside the pipeline: never answer these from cache.
    gate = on_kubernetes(evaluate(
        model=trained.outputs["model"], holdout=trained.outputs["holdout"], registry_uri=registry_uri,
        model_name=model_name, metric=gate_metric, min_improvement=min_improvement,
        minimum_for_first_model=minimum_for_first_model,
    ).set_caching_options(False))
    registered = on_kubernetes(register(
        model=trained.outputs["model"], training_set=training_set.outputs["training_set"], registry_uri=registry_uri,
        evaluation=gate.outputs["comparison"], model_name=model_name, deploy_decision=gate.outputs["Output"],
    ).set_caching_options(False))

    on_kubernetes(run_summary(
        events=events.outputs["dataset"], feature_table=feature_table.outputs["dataset"],
        validated=checked.outputs["validated"], training_set=training_set.outputs["training_set"],
        trials=tuned.outputs["trials"], model=trained.outputs["model"], comparison=gate.outputs["comparison"],
        model_card=registered.outputs["model_card"],
    ).set_caching_options(False))  # cheap, and it should describe this run

    with dsl.If(gate.outputs["Output"] == True, name="candidate-is-better"):  # noqa: E712 (KFP condition, not Python)
        served = on_kubernetes(deploy(
            registry_uri=registry_uri, model_name=model_name, version=registered.outputs["Output"],
            host=serving_host, port=serving_port, target=target, cluster=cluster,
        ).set_caching_options(False))
        on_kubernetes(smoke_test(
            holdout=trained.outputs["holdout"], model=trained.outputs["model"], endpoint_url=served.outputs["Output"],
            model_name=model_name, expected_version=registered.outputs["Output"], target=target, cluster=cluster,
            registry_uri=registry_uri,
        ).set_caching_options(False))
