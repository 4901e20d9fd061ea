from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def train(
    training_set: Input[Dataset],
    feature_columns: list,
    label: str,
    timestamp: str,
    params: dict,
    task: str,
    model_kind: str,
    model_params: dict,
    split: str,
    positive_label: str,
    holdout_fraction: float,
    seed: int,
    model: Output[Model],
    holdout: Output[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
    max_training_rows: int = 0,
    model_code: str = "",
):
    """Train the final model with the given parameters; evaluate it on the holdout.

    Args:
        training_set: The training set.
        feature_columns: Model input columns.
        label: The label column.
        timestamp: Orders a time split; empty for data without time.
        params: Hyperparameters (the tune step's best).
        task: binary, multiclass or regression.
        model_kind: hist_gradient_boosting, xgboost, lightgbm, a scikit-learn estimator's import path, or module:function.
        model_params: Hyperparameters fixed for the model (`params` override them).
        split: time (the newest rows are held out) or random (seeded; stratified for classification).
        positive_label: binary: the label value scores are about; empty for the larger of the two.
        model: The model's files in its kind's format (KServe serves them) and `model_meta.json`.
        holdout: The held-out rows, never trained on.
        metrics: Holdout scores: every metric of the task.
        classification_metrics: Confusion matrix and ROC curve (classification) or residuals (regression).
        holdout_fraction: The share of rows held out.
        seed: The model's random seed.
        target: local (in this step) or kubeflow (a Kubeflow Trainer TrainJob running the same code).
        cluster: The `cluster` section of cnai.yaml; used when target is kubeflow.
        max_training_rows: A larger training set is used as a seeded sample of this many rows
            (stratified by class), read without loading the whole; 0: every row.
        model_code: The content hash of a `module:function` model's own code ("" for the others):
            only an input of this step, so that editing that code re-runs the steps that fit it.
    """
    from cnai.components.training.train.executor import train_model
    from cnai.core.tracking import run_step

    run_step(
        "train",
        train_model,
        inputs={"training_set": training_set},
        outputs={"model": model, "holdout": holdout, "metrics": metrics, "classification_metrics": classification_metrics},
        params={"feature_columns": feature_columns, "label": label, "timestamp": timestamp, "params": params, "task": task,
                "model_kind_name": model_kind, "model_params": model_params, "split": split,
                "positive_label": positive_label, "holdout_fraction": holdout_fraction, "seed": seed, "target": target, "cluster": cluster,
                "max_training_rows": max_training_rows},
    )
