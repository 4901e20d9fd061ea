"""Holding rows out: by time (train on the past, judge on the newest rows, as the model will be
used) or at random (seeded; stratified by class for classification)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnai.core.errors import DataError

SPLITS = ("time", "random")


def split_frame(frame: pd.DataFrame, how: str, holdout_fraction: float, timestamp: str = "", seed: int = 0,
                strata: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, held out). `strata` (the encoded classes) keeps each class's share on both sides."""
    if how == "time":
        if not timestamp:
            raise DataError("split: time needs a timestamp column (data.events.timestamp); or set data.split: random")
        ordered = frame.sort_values(timestamp, kind="stable")
        cut = int(len(ordered) * (1 - holdout_fraction))
        if cut < 1 or cut >= len(ordered):
            raise DataError(f"cannot hold out {holdout_fraction:.0%} of {len(ordered)} rows")
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    if how != "random":
        raise DataError(f"split {how!r}: use one of {list(SPLITS)}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(frame), dtype=bool)
    groups = [np.arange(len(frame))] if strata is None else [np.flatnonzero(strata == c) for c in np.unique(strata)]
    for rows in groups:
        take = int(round(len(rows) * holdout_fraction))
        if len(rows) >= 2:
            take = min(max(take, 1), len(rows) - 1)  # a class with 2+ rows is on both sides
        held[rng.permutation(rows)[:take]] = True
    if held.all() or not held.any():
        raise DataError(f"cannot hold out {holdout_fraction:.0%} of {len(frame)} rows")
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def check_holdout(y_held_out: np.ndarray, classes: list, label: str, where: str) -> None:
    """A holdout that cannot judge a model (a class missing, or one value only) is refused by name."""
    y_held_out = np.asarray(y_held_out)
    if not classes:
        if len(np.unique(y_held_out[~np.isnan(y_held_out)])) < 2:
            raise DataError(f"{where}: the held-out rows' {label!r} is constant; r2 and the gate need variation "
                            "(more rows, data.split: random, or a larger settings.holdout_fraction)")
        return
    missing = [classes[i] for i in range(len(classes)) if not (y_held_out == i).any()]
    if missing:
        raise DataError(f"{where}: the held-out rows have no {label!r} = {missing!r}; the metrics and the gate need every "
                        "class there: use data.split: random (stratified), more rows, or a larger settings.holdout_fraction")
