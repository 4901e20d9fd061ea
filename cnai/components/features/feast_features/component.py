from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def feast_features(
    events: Input[Dataset],
    feature_tables: Input[Dataset],
    feature_refs: list,
    feature_views: list,
    timestamp: str,
    label: str,
    features: list,
    training_set: Output[Dataset],
    feature_store: Output[Artifact],
    feature_statistics: Output[Markdown],
    feature_repo: str = "",
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
):
    """Apply the Feast repo, materialize its online store and build a point-in-time training set.

    Args:
        events: Labelled events (the views' join keys, timestamp, label, event features).
        feature_tables: The tables behind the feature views, one Parquet dataset per view (`<feature_tables>/<view>/`, as ingest_tables writes them).
        feature_refs: Feast feature references, `view:feature`, from any of the views.
        feature_views: One per side table: `name`, its key column `entity`, the events' column it is joined on `join_on` (the key's own name by default), its `timestamp` column (empty: a static table, joined on the key alone) and `ttl_hours` (0: no limit).
        timestamp: The events' timestamp column (UTC); empty when they have none (static views only).
        label: The label column, carried through; empty for events without one (traffic to check for drift).
        features: Event columns used as features, carried through.
        training_set: Events joined with the features as of each event's time.
        feature_store: The applied Feast repo: registry, SQLite online store, source data.
        feature_statistics: Per-feature statistics of the training set.
        feature_repo: Path of your own Feast repo to apply; empty for the packaged one built from `feature_views`.
        target: local (DuckDB offline, SQLite online) or kubeflow (the repo's feature_store.cluster.yaml: Spark, Redis).
        cluster: The `cluster` section of cnai.yaml (`feast_online_store`); used when target is kubeflow.
    """
    from cnai.components.features.feast_features.executor import build_training_set
    from cnai.core.tracking import run_step

    run_step(
        "features",
        build_training_set,
        inputs={"events": events, "feature_tables": feature_tables},
        outputs={"training_set": training_set, "feature_store": feature_store, "feature_statistics": feature_statistics},
        params={"feature_refs": feature_refs, "feature_views": feature_views, "timestamp": timestamp, "label": label,
                "features": features, "feature_repo": feature_repo, "target": target, "cluster": cluster},
    )
