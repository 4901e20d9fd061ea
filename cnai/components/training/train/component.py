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
    model: Output[Model],
    holdout: Output[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    holdout_fraction: float = 0.15,
    seed: int = 42,
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
):
    """Train the final scikit-learn model with the given parameters; evaluate it on the time holdout.

    Args:
        training_set: The training set.
        feature_columns: Model input columns.
        label: The 0/1 label column.
        timestamp: Orders the time-based split.
        params: Hyperparameters (the tune step's best).
        model: `model.joblib` (loadable by KServe's sklearn runtime) and `model_meta.json`.
        holdout: The most recent rows, never trained on.
        metrics: Holdout scores: roc_auc, average_precision, accuracy, f1, log_loss.
        classification_metrics: Confusion matrix and ROC curve.
        holdout_fraction: The share of the most recent rows held out.
        seed: The model's random seed.
        target: local (in this step) or kubeflow (a Kubeflow Trainer TrainJob running the same code).
        cluster: The `cluster` section of cnai.yaml; used when target is kubeflow.
    """
    from cnai.components.training.train.executor import train_model
    from cnai.core.tracking import run_step

    run_step(
        "train",
        train_model,
        inputs={"training_set": training_set},
        outputs={"model": model, "holdout": holdout, "metrics": metrics, "classification_metrics": classification_metrics},
        params={"feature_columns": feature_columns, "label": label, "timestamp": timestamp, "params": params,
                "holdout_fraction": holdout_fraction, "seed": seed, "target": target, "cluster": cluster},
    )
