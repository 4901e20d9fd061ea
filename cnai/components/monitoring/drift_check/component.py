from kfp import dsl
from kfp.dsl import HTML, Metrics, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def drift_check(
    current_data: str,
    registry_uri: str,
    model_name: str,
    report: Output[HTML],
    metrics: Output[Metrics],
    p_value_threshold: float,
    min_effect_size: float,
    drift_share_threshold: float,
    min_rows: int,
    since: str = "",
    max_sample_rows: int = 200000,
) -> bool:
    """Compare current data with the training set of the model in production; True means retrain.

    Args:
        current_data: An inference log folder (the model server's JSON lines) or a Parquet/CSV dataset.
        registry_uri: The registry whose `production` version is checked; its training set is found through the lineage recorded at registration.
        model_name: The registered model's name.
        report: The verdict per feature and Evidently's data drift report.
        metrics: Drift share, drifted features, prediction drift.
        since: Only log rows at or after this ISO time (the monitoring window).
        p_value_threshold: A feature drifts only below this p-value...
        min_effect_size: ...and at or above this KS statistic or Cramér's V.
        drift_share_threshold: Retrain when at least this share of features drifted (or the predictions did).
        min_rows: Fewer current rows than this decide nothing (too little traffic to judge): no retraining.
        max_sample_rows: Rows per side for the numeric tests (bounded memory at any size).

    Returns:
        True when drift was found (a bool, so `dsl.If` works locally).
    """
    from cnai.backends.local.deployment import serving_dir
    from cnai.components.monitoring.drift_check.executor import check_drift, resolve_reference
    from cnai.core.tracking import run_step

    reference = resolve_reference(registry_uri, model_name, serving_dir() / "models" / model_name)
    facts = run_step(
        "drift_check",
        check_drift,
        inputs={"current": current_data, "reference": reference["training_set"], "model": reference["model"]},
        outputs={"report": report, "metrics": metrics},
        params={"since": since, "p_value_threshold": p_value_threshold, "min_effect_size": min_effect_size,
                "drift_share_threshold": drift_share_threshold, "min_rows": min_rows, "max_sample_rows": max_sample_rows},
    )
    return facts["drift_detected"]
