from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def feast_features(
    events: Input[Dataset],
    feature_table: Input[Dataset],
    feature_refs: list,
    entity: str,
    timestamp: str,
    label: str,
    features: list,
    feature_view: dict,
    training_set: Output[Dataset],
    feature_store: Output[Artifact],
    feature_statistics: Output[Markdown],
    feature_repo: str = "",
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
):
    """Apply the Feast repo, materialize its online store and build a point-in-time training set.

    Args:
        events: Labelled events (entity, timestamp, label, event features).
        feature_table: The table behind the feature view; written where the view's source reads.
        feature_refs: Feast feature references, `view:feature`.
        entity: The join key column.
        timestamp: The events' timestamp column (UTC).
        label: The label column, carried through.
        features: Event columns used as features, carried through.
        feature_view: The side table as a FeatureView: `name`, its own `entity` and `timestamp` columns, `ttl_hours`.
        training_set: Events joined with the features as of each event's time.
        feature_store: The applied Feast repo: registry, SQLite online store, source data.
        feature_statistics: Per-feature statistics of the training set.
        feature_repo: Path of your own Feast repo to apply; empty for the packaged one built from `feature_view`.
        target: local (DuckDB offline, SQLite online) or kubeflow (the repo's feature_store.cluster.yaml: Spark, Redis).
        cluster: The `cluster` section of cnai.yaml (`feast_online_store`); used when target is kubeflow.
    """
    from cnai.components.features.feast_features.executor import build_training_set
    from cnai.core.tracking import run_step

    run_step(
        "features",
        build_training_set,
        inputs={"events": events, "feature_table": feature_table},
        outputs={"training_set": training_set, "feature_store": feature_store, "feature_statistics": feature_statistics},
        params={"feature_refs": feature_refs, "entity": entity, "timestamp": timestamp, "label": label,
                "features": features, "feature_view": feature_view, "feature_repo": feature_repo, "target": target, "cluster": cluster},
    )
