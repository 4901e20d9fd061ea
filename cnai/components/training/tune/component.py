from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def tune(
    training_set: Input[Dataset],
    feature_columns: list,
    label: str,
    timestamp: str,
    search_space: list,
    task: str,
    model_kind: str,
    model_params: dict,
    split: str,
    positive_label: str,
    algorithm: str,
    objective_metric: str,
    objective_goal: str,
    max_trials: int,
    parallel_trials: int,
    early_stopping: str,
    holdout_fraction: float,
    seed: int,
    trials: Output[Markdown],
    tuning_metrics: Output[Metrics],
    objective_plot: Output[HTML],
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
    max_training_rows: int = 0,
    model_code: str = "",
) -> dict:
    """Search hyperparameters with Optuna under Katib's algorithm names; return the best parameters.

    Args:
        training_set: The training set; its most recent `holdout_fraction` is never used here.
        feature_columns: Model input columns.
        label: The label column.
        timestamp: Orders a time split; empty for data without time.
        search_space: Parameters in Katib's ParameterSpec shape (name, parameter_type, min, max, step, log, values).
        task: binary, multiclass or regression.
        model_kind: hist_gradient_boosting, xgboost, lightgbm, a scikit-learn estimator's import path, or module:function.
        model_params: Hyperparameters fixed for every trial (the searched ones override them).
        split: time (the newest rows are held out) or random (seeded; stratified for classification).
        positive_label: binary: the label value scores are about; empty for the larger of the two.
        trials: A table of every trial.
        tuning_metrics: The best objective value and trial counts.
        objective_plot: The objective of every trial and the best so far.
        algorithm: Katib's names: random, grid, tpe, multivariate-tpe, cmaes, sobol, bayesianoptimization, hyperband.
        objective_metric: One of the task's metrics (cnai.core.tasks.METRICS).
        objective_goal: maximize or minimize.
        max_trials: The trial budget.
        parallel_trials: Trials run at once on the cluster (Katib's parallelTrialCount); locally one at a time, so the seed decides them.
        early_stopping: median (Katib's medianstop) or none.
        holdout_fraction: The share of rows kept out for evaluation (never seen here).
        seed: Seed of the sampler and the model.
        target: local (Optuna in this step) or kubeflow (a Katib Experiment whose trials run in pods).
        cluster: The `cluster` section of cnai.yaml (namespace, image, object store...); used when target is kubeflow.
        max_training_rows: A larger training set is used as a seeded sample of this many rows
            (stratified by class), read without loading the whole; 0: every row.
        model_code: The content hash of a `module:function` model's own code ("" for the others):
            only an input of this step, so that editing that code re-runs the steps that fit it.
    """
    from cnai.components.training.tune.executor import tune_hyperparameters
    from cnai.core.tracking import run_step

    facts = run_step(
        "tune",
        tune_hyperparameters,
        inputs={"training_set": training_set},
        outputs={"trials": trials, "tuning_metrics": tuning_metrics, "objective_plot": objective_plot},
        params={"feature_columns": feature_columns, "label": label, "timestamp": timestamp,
                "search_space": search_space, "task": task, "model_kind_name": model_kind,
                "model_params": model_params, "split": split, "positive_label": positive_label, "algorithm": algorithm, "objective_metric": objective_metric,
                "objective_goal": objective_goal, "max_trials": max_trials, "parallel_trials": parallel_trials,
                "early_stopping": early_stopping, "holdout_fraction": holdout_fraction, "seed": seed,
                "target": target, "cluster": cluster,
                "max_training_rows": max_training_rows},
    )
    return facts["best_params"]
