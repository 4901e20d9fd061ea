"""One trial's scoring, shared by the local tuner (Optuna) and a Katib trial's pod, so a trial on
a laptop and on a cluster agree: fit on one part of the training rows, score on another, in stages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from cnai.core.splits import held_out_at_random, split_frame
from cnai.core.tasks import encode_labels, label_classes, score
from cnai.models.base import feature_kinds, fit_threads, model_input
from cnai.models.kinds import model_kind

ROUNDS_PER_REPORT = 50  # boosting rounds between intermediate reports to the median pruner (and Katib's medianstop)


def tuning_split(frame: pd.DataFrame, split: str, timestamp: str, holdout_fraction: float, max_tuning_rows: int,
                 seed: int, strata=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation) from the training part: the holdout is cut off first, as train cuts it, and never seen.
    A random split keeps each class (`strata`) on both sides of the tuning split too."""
    if split == "time":
        train, _holdout = split_frame(frame, split, holdout_fraction, timestamp, seed, strata)
        return split_frame(train.tail(max_tuning_rows), "time", 0.2, timestamp)
    kept = ~held_out_at_random(frame, holdout_fraction, seed, strata)
    train = frame[kept].reset_index(drop=True)
    train_strata = None if strata is None else np.asarray(strata)[kept]
    if len(train) > max_tuning_rows:
        rows = np.random.RandomState(seed).choice(len(train), max_tuning_rows, replace=False)  # as DataFrame.sample draws
        train = train.iloc[rows].reset_index(drop=True)
        train_strata = None if train_strata is None else train_strata[rows]
    # Drawn again with a salt: the holdout's draws ignore the seed for columns of numbers alone
    # (pandas' hash key is for text), and drawn again unsalted they would all be >= holdout_fraction.
    fit, valid = split_frame(train.assign(**{TUNING_SALT: f"tuning-{seed}"}), "random", 0.2, seed=seed + 1,
                             strata=train_strata)
    return fit.drop(columns=TUNING_SALT), valid.drop(columns=TUNING_SALT)


TUNING_SALT = "__cnai_tuning_draw"


def staged_scores(kind_name: str, task: str, params: dict[str, Any], fit_part: pd.DataFrame, valid_part: pd.DataFrame,
                  feature_columns: list[str], label: str, classes: list, metric: str, seed: int,
                  memo: dict | None = None) -> Iterator[tuple[int, float]]:
    """Yield (stage, validation score) after each stage of the fit (every ROUNDS_PER_REPORT rounds
    for boosting kinds; once for the others). The intermediate scores are what early stopping
    judges: Optuna's pruner locally, Katib's medianstop (reading the trial's stdout) on a cluster.
    `memo`: one per study (the same `fit_part` and `valid_part`), for what its trials share."""
    kind = model_kind(kind_name)
    categorical, numeric = feature_kinds(fit_part, feature_columns)
    total = int(params.get(kind.stage_parameter, 100)) if kind.stage_parameter else 1
    estimator = kind.build(task, categorical, numeric, params, seed)
    y_fit = encode_labels(fit_part[label], classes, "tuning rows", label)
    y_valid = encode_labels(valid_part[label], classes, "tuning rows", label)
    with fit_threads(len(fit_part)):
        for stage, scores in kind.staged_scores(estimator, task, model_input(fit_part, feature_columns, categorical),
                                                y_fit, model_input(valid_part, feature_columns, categorical), total,
                                                ROUNDS_PER_REPORT, memo):
            yield stage, score(task, metric, y_valid, scores)


def classes_of(frame: pd.DataFrame, task: str, label: str, where: str, positive_label: Any = None) -> list:
    return label_classes(task, frame[label], where, label, positive_label)
