"""train: fit the final model here (`cnai.models.training`) or in a Kubeflow Trainer TrainJob running the same code."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cnai.core.config import ModelConfig, Settings, TuningConfig, default_of
from cnai.core.tasks import check_label_for_losses, loss_settings
from cnai.models.training import fit_and_evaluate


def train_model(
    training_set: str,
    model: str,
    holdout: str,
    metrics: str,
    classification_metrics: str,
    feature_columns: list[str],
    label: str,
    timestamp: str,
    params: dict[str, Any],
    holdout_fraction: float = default_of(Settings, "holdout_fraction"),
    seed: int = default_of(TuningConfig, "seed"),
    task: str = "binary",
    model_kind_name: str = default_of(ModelConfig, "kind"),
    model_params: dict[str, Any] | None = None,
    split: str = "time",
    positive_label: Any = None,
    target: str = "local",
    cluster: dict[str, Any] | None = None,
    artifact_uris: dict[str, str] | None = None,
    max_training_rows: int = 0,
) -> dict[str, Any]:
    """Fit on all but the held-out rows, score on those, and save the model with what serving needs.

    With `target="kubeflow"` the same function runs in a Kubeflow Trainer TrainJob (cnai.backends.kubeflow.trainer).
    """
    losses = loss_settings({k: v for k, v in (model_params or {}).items() if k not in params}, [])
    losses += loss_settings(params, [], fixed_key="tuning.parameters")  # the values tuning chose
    if task == "regression" and losses:  # before a TrainJob too, whose node would fail in the library's fit
        check_label_for_losses(pd.read_parquet(training_set, columns=[label])[label], losses, training_set, label)
    params = {**(model_params or {}), **params}  # the searched values override the fixed ones
    positive_label = None if positive_label in ("", None) else positive_label
    model_spec = {"task": task, "model_kind_name": model_kind_name, "split": split, "positive_label": positive_label,
                  "max_training_rows": max_training_rows or None}
    if target == "kubeflow":
        from cnai.backends.kubeflow.trainer import train_on_trainer

        uris = artifact_uris or {}
        outputs = {"model": model, "holdout": holdout, "metrics": metrics, "classification_metrics": classification_metrics}
        return train_on_trainer(uris.get("training_set", training_set), outputs, {k: uris.get(k, v) for k, v in outputs.items()},
                                feature_columns, label, timestamp, params, holdout_fraction, seed, cluster or {},
                                model_spec)
    return fit_and_evaluate(training_set, model, holdout, metrics, classification_metrics, feature_columns, label,
                            timestamp, params, holdout_fraction, seed, **model_spec)
