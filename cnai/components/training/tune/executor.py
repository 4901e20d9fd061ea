"""tune: search hyperparameters with Optuna under Katib's algorithm names and early-stopping rule.

The declaration (parameters in Katib's ParameterSpec shape, algorithm, objective, budget) is the
same one the cluster path turns into a Katib Experiment.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from cnai.core.artifacts import atomic_output
from cnai.core.config import ModelConfig, Settings, TuningConfig, default_of
from cnai.core.errors import ConfigError
from cnai.core.progress import say_progress
from cnai.core.rendering import objective_plot_html, trials_markdown
from cnai.core.sampling import read_training_set
from cnai.core.search_space import check_search_space
from cnai.core.splits import ROWS_TO_TUNE_A_CLASS, check_holdout, split_frame
from cnai.core.tasks import check_label_for_losses, encode_labels, is_classification, loss_settings
from cnai.models.base import TRAINED_ON, feature_kinds, refuse_empty_features
from cnai.models.kinds import model_kind
from cnai.models.tuning import ROUNDS_PER_REPORT, classes_of, staged_scores, tuning_split


def make_sampler(algorithm: str, parameters: list[dict[str, Any]], seed: int):
    """The Optuna sampler behind each of Katib's algorithm names."""
    import optuna

    samplers = {
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "multivariate-tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
        "sobol": lambda: optuna.samplers.QMCSampler(qmc_type="sobol", seed=seed, warn_independent_sampling=False),
        "grid": lambda: optuna.samplers.GridSampler(grid_space(parameters), seed=seed),
        "bayesianoptimization": lambda: _gaussian_process_sampler(seed),
        # Katib's hyperband samples at random and stops the weaker part of each bracket early.
        "hyperband": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    if algorithm not in samplers:
        raise ConfigError(f"tuning.algorithm: {algorithm!r} is not one of {sorted(samplers)}")
    return samplers[algorithm]()


def check_runs_locally(algorithm: str) -> None:
    """Katib runs every algorithm name; locally one needs an optional dependency."""
    import importlib.util

    if algorithm == "bayesianoptimization" and importlib.util.find_spec("torch") is None:
        raise ConfigError("tuning.algorithm: bayesianoptimization runs locally on Optuna's GPSampler, which needs PyTorch: "
                          "`pip install 'cnai-pipelines[bayesopt]'`, or choose tpe (on Katib it runs as is)")


def _gaussian_process_sampler(seed: int):
    import optuna

    check_runs_locally("bayesianoptimization")
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(algorithm: str, early_stopping: str, parameters: list[dict[str, Any]]):
    """Katib's medianstop as Optuna's MedianPruner; hyperband brings its own successive halving."""
    import optuna

    if algorithm == "hyperband":
        most = max((int(p["max"]) for p in parameters if p["name"] == "max_iter"), default=ROUNDS_PER_REPORT * 4)
        return optuna.pruners.HyperbandPruner(min_resource=ROUNDS_PER_REPORT, max_resource=most, reduction_factor=3)
    if early_stopping == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def grid_space(parameters: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Katib's grid needs a step for every numeric parameter; so does ours."""
    check_search_space(parameters, "grid")
    space = {}
    for p in parameters:
        if p["parameter_type"] in ("categorical", "discrete"):
            space[p["name"]] = list(p["values"])
            continue
        values = np.arange(p["min"], p["max"] + p["step"] / 2, p["step"])
        space[p["name"]] = [int(v) for v in values] if p["parameter_type"] == "int" else [float(v) for v in values]
    return space


def suggest(trial, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    params = {}
    for p in parameters:
        kind, name = p["parameter_type"], p["name"]
        if kind in ("categorical", "discrete"):
            params[name] = trial.suggest_categorical(name, list(p["values"]))
        elif kind == "int":
            params[name] = trial.suggest_int(name, int(p["min"]), int(p["max"]), step=int(p.get("step") or 1), log=bool(p.get("log")))
        else:
            params[name] = trial.suggest_float(name, float(p["min"]), float(p["max"]), step=p.get("step"), log=bool(p.get("log")))
    return params


def tune_hyperparameters(
    training_set: str,
    trials: str,
    tuning_metrics: str,
    objective_plot: str,
    feature_columns: list[str],
    label: str,
    timestamp: str,
    search_space: list[dict[str, Any]],
    algorithm: str = default_of(TuningConfig, "algorithm"),
    objective_metric: str = "roc_auc",
    objective_goal: str = "maximize",
    max_trials: int = default_of(TuningConfig, "max_trials"),
    parallel_trials: int = default_of(TuningConfig, "parallel_trials"),
    early_stopping: str = default_of(TuningConfig, "early_stopping"),
    holdout_fraction: float = default_of(Settings, "holdout_fraction"),
    max_tuning_rows: int = 100_000,
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
    """Run the search on the training part of the data (the holdout is never seen while tuning).

    Locally Optuna runs the trials in this process, one at a time (so a seed gives the same trials
    in every run); with `target="kubeflow"` the same declaration
    becomes a Katib Experiment whose trials run `cnai.backends.kubeflow.trial` (the same scoring) in pods.
    """
    import optuna

    positive_label = None if positive_label in ("", None) else positive_label
    fixed = dict(model_params or {})
    check_search_space(search_space, algorithm)
    check_hyperparameters(model_kind_name, task, search_space)
    # The same seeded sample train fits on, when the training set is larger than max_training_rows.
    frame, sample = read_training_set(training_set, label, is_classification(task), max_training_rows or None, seed)
    classes = classes_of(frame, task, label, training_set, positive_label)
    strata = encode_labels(frame[label], classes, training_set, label) if classes else None
    if task == "regression":  # else every trial fails in the library's fit
        check_label_for_losses(frame[label], loss_settings(fixed, search_space), training_set, label)
    feature_kinds(frame, feature_columns)  # what each trial's first step refuses, refused before any
    refuse_empty_features(frame, feature_columns, training_set)  # else every trial fails in scikit-learn's binning
    # The holdout train will judge on must be able to judge: refused now, not after every trial.
    kept, holdout = split_frame(frame, split, holdout_fraction, timestamp, seed, strata)
    refuse_empty_features(kept, feature_columns, training_set, TRAINED_ON.format(rows=len(kept)))
    # A class is named too rare by what tuning needs of it (below), here already: by one number, as init says it.
    check_holdout(encode_labels(holdout[label], classes, training_set, label) if classes
                  else holdout[label].to_numpy(dtype=float), classes, label, training_set, split_from=strata,
                  rows_needed=ROWS_TO_TUNE_A_CLASS)
    fit_part, valid_part = tuning_split(frame, split, timestamp, holdout_fraction, max_tuning_rows, seed, strata)
    for part, rows in (("fit on", fit_part), ("scored on", valid_part)):  # else every trial fails or scores NaN
        described = (f"the {len(rows)} rows trials are {part} (tuning takes at most {max_tuning_rows:,} of the "
                     "training rows, the newest with data.split: time, and scores on a fifth of them)")
        if part == "fit on":
            refuse_empty_features(rows, feature_columns, training_set, described)
        check_holdout(encode_labels(rows[label], classes, training_set, label) if classes
                      else rows[label].to_numpy(dtype=float), classes, label, training_set, described,
                      "more rows; or more of them left to train on: a smaller settings.holdout_fraction"
                      + (", or data.split: random, which keeps each class on both sides" if split == "time" else ""),
                      split_from=strata, rows_needed=ROWS_TO_TUNE_A_CLASS)
    # Only now the cluster: its trial pods (trial.main) split and fit as the trials here do, and would
    # each fail on what is refused above.
    if target == "kubeflow":
        from cnai.backends.kubeflow.katib import tune_on_katib

        return tune_on_katib(
            training_set_uri=(artifact_uris or {}).get("training_set", training_set), trials=trials,
            tuning_metrics=tuning_metrics, objective_plot=objective_plot, feature_columns=feature_columns, label=label,
            timestamp=timestamp, search_space=search_space, algorithm=algorithm, objective_metric=objective_metric,
            objective_goal=objective_goal, max_trials=max_trials, parallel_trials=parallel_trials,
            early_stopping=early_stopping, holdout_fraction=holdout_fraction, seed=seed, cluster=cluster or {},
            model_spec={"kind": model_kind_name, "task": task, "split": split, "positive_label": positive_label,
                        "model_params": fixed})
    maximize = objective_goal == "maximize"
    errors: list[str] = []  # why trials failed (Optuna keeps no reason)
    memo: dict = {}  # what the trials share (the same rows, encoded once)

    def objective(trial) -> float:
        params = {**fixed, **suggest(trial, search_space)}
        value = math.nan
        for step, value in staged_scores(model_kind_name, task, params, fit_part, valid_part, feature_columns, label,
                                         classes, objective_metric, seed, memo):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"below the median of earlier trials at {step} iterations")
        if math.isnan(value):  # Optuna fails the trial and keeps no reason; an exception stops the study itself
            errors.append(f"trial {trial.number} with {params}: {objective_metric} is NaN")
        return value

    pruner = make_pruner(algorithm, early_stopping, search_space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=objective_goal, sampler=make_sampler(algorithm, search_space, seed), pruner=pruner)
    started = time.perf_counter()

    def progress(study, trial) -> None:
        best = (f", best {study.best_value:.4f}" if any(t.state.name == "COMPLETE" for t in study.trials) else "")
        value = f" {objective_metric} {trial.value:.4f}" if trial.value is not None else ""
        say_progress(f"trial {trial.number + 1}/{max_trials} {trial.state.name.lower()}{value}{best}")

    # One trial at a time, each fit on every core: the sampler and the pruner then see the same
    # earlier trials in every run, so the seed decides the trials and the model. Trials at once
    # (Optuna's n_jobs) vary with the order they finish in, and a boosting fit already uses every
    # core; parallel_trials is the cluster's count (Katib's parallelTrialCount), where trials are pods.
    study.optimize(objective, n_trials=max_trials, callbacks=[progress])
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    if failed:  # a broken trial is a bug or a bad space, not a bad hyperparameter: do not hide it
        reason = errors[0] if errors else "see the log above"
        raise RuntimeError(f"{len(failed)} of {len(study.trials)} trials failed; first: {reason}")
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not completed:
        raise RuntimeError("no trial completed; widen the search space or raise tuning.max_trials")

    table = [
        {"trial": t.number, "state": t.state.name.lower(), objective_metric: t.value,
         "duration_s": round(t.duration.total_seconds(), 2) if t.duration else None, **t.params}
        for t in study.trials
    ]
    with atomic_output(trials) as staging:
        staging.write_text(trials_markdown(table, objective_metric, algorithm, study.best_trial.number))
    summary = {
        f"best_{objective_metric}": float(study.best_value),
        "trials_completed": len(completed),
        "trials_pruned": sum(t.state.name == "PRUNED" for t in study.trials),
    }
    with atomic_output(tuning_metrics) as staging:
        staging.write_text(json.dumps(summary, indent=2))
    with atomic_output(objective_plot) as staging:
        staging.write_text(objective_plot_html(study.trials, objective_metric, maximize, algorithm))
    return {
        "best_params": study.best_params,
        "best_value": study.best_value,
        "best_trial": study.best_trial.number,
        "trials_completed": len(completed),
        "trials_pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "search_seconds": round(time.perf_counter() - started, 2),
        "maximize": maximize,
        "training_sample": sample,
        "output_metadata": {
            "trials": {"algorithm": algorithm, "objective": objective_metric, "trials": json.loads(json.dumps(table, default=str))},
            "tuning_metrics": summary,
        },
    }




def check_hyperparameters(model_kind_name: str, task: str, parameters: list[dict[str, Any]]) -> None:
    """Every declared hyperparameter is one the kind's estimator takes, with values it accepts."""
    problems = model_kind(model_kind_name).parameter_problems(task, parameters)
    if problems:
        raise ConfigError("; ".join(problems))


def check_model_parameters(model_kind_name: str, task: str, parameters: list[dict[str, Any]],
                           fixed: dict[str, Any]) -> None:
    """The searched hyperparameters (tuning.parameters) and the fixed ones (model.params), each
    named by its key when the kind's estimator does not take it or refuses its value."""
    check_hyperparameters(model_kind_name, task, parameters)
    problems = model_kind(model_kind_name).parameter_problems(
        task, [{"name": k, "parameter_type": "categorical", "values": [v]} for k, v in fixed.items()], key="model.params")
    if problems:
        raise ConfigError("; ".join(problems))
    if problem := model_kind(model_kind_name).settings_problem(fixed, parameters):
        raise ConfigError(problem)  # else build refuses it at the first trial, after the data steps
