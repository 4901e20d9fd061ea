"""Holding rows out: by time (train on the past, judge on the newest rows, as the model will be
used) or at random (seeded; stratified by class for classification).

The random split draws each row's side from a seeded hash of its content, not from its position:
the same row is held out in every sample, run and machine, so a model records *which* rows it
never saw (`split_identity`) and the gate can later pick the rows neither of two models saw
(`unseen_rows`)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from cnai.core.config import SPLITS
from cnai.core.errors import DataError


def split_frame(frame: pd.DataFrame, how: str, holdout_fraction: float, timestamp: str = "", seed: int = 0,
                strata: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, held out). `strata` (the encoded classes) keeps each class's share on both sides."""
    if how == "time":
        if not timestamp:
            raise DataError("split: time needs a timestamp column (data.events.timestamp); or set data.split: random")
        if timestamp in frame and not (pd.api.types.is_datetime64_any_dtype(frame[timestamp])
                                       or pd.api.types.is_numeric_dtype(frame[timestamp])):
            raise DataError(f"data.events.timestamp: {timestamp!r} holds {frame[timestamp].dtype} values, not times, and "
                            "a time split would order them as text (9/9/2013 after 10/1/2013): derive a time from it "
                            "with to_timestamp and its pattern in data.events.derived_columns, and name that")
        ordered = frame.sort_values(timestamp, kind="stable")
        cut = int(len(ordered) * (1 - holdout_fraction))
        if 0 < cut < len(ordered):
            # Never through one time: rows sharing the boundary's timestamp all go to one side, so
            # every held-out row is newer than the last one trained on (the gate relies on it); the
            # side that leaves the holdout nearest its share (a month of monthly data can be a fifth).
            times, boundary = ordered[timestamp], ordered[timestamp].iloc[cut]
            before, after = int(times.searchsorted(boundary, side="left")), int(times.searchsorted(boundary, side="right"))
            target = cut
            cut = before if (after >= len(ordered) or (before >= 1 and target - before <= after - target)) else after
        if cut < 1 or cut >= len(ordered):
            raise DataError(f"cannot hold out {holdout_fraction:.0%} of {len(ordered)} rows")
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    if how != "random":
        raise DataError(f"split {how!r}: use one of {list(SPLITS)}")
    held = held_out_at_random(frame, holdout_fraction, seed, strata)
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def held_out_at_random(frame: pd.DataFrame, holdout_fraction: float, seed: int = 0,
                       strata: np.ndarray | None = None) -> np.ndarray:
    """Which rows `split_frame(frame, "random", ...)` holds out (a boolean per row)."""
    draws = row_draws(frame, list(frame.columns), seed)
    held = draws < holdout_fraction
    groups = [np.arange(len(frame))] if strata is None else [np.flatnonzero(strata == c) for c in np.unique(strata)]
    for rows in groups:
        if len(rows) >= 2 and held[rows].all():  # a class with 2+ rows is on both sides
            held[rows[np.argmax(draws[rows])]] = False
        elif len(rows) >= 2 and not held[rows].any():
            held[rows[np.argmin(draws[rows])]] = True
        if len(rows) > ROWS_OF_A_CLASS:  # tuning splits the kept rows again: a class needs two there
            nearest_kept = [r for r in rows[np.argsort(-draws[rows])] if held[r]]
            for row in nearest_kept[:max(0, ROWS_OF_A_CLASS - int((~held[rows]).sum()))]:
                held[row] = False
    if held.all() or not held.any():
        raise DataError(f"cannot hold out {holdout_fraction:.0%} of {len(frame)} rows")
    return held


def row_draws(frame: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """A number in [0, 1) per row, from its values in `columns` and the seed alone."""
    return row_hashes(frame, columns, seed) / float(2**64)


def row_hashes(frame: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """A seeded 64-bit hash per row of its values in `columns`: rows of equal values hash equal."""
    key = f"{seed % 10**12:012d}cnai"  # pandas' hash key is 16 characters
    return pd.util.hash_pandas_object(frame[sorted(columns)], index=False, hash_key=key).to_numpy(dtype=np.uint64)


def split_identity(how: str, holdout_fraction: float, timestamp: str, seed: int, frame: pd.DataFrame,
                   train: pd.DataFrame) -> dict:
    """What a model records of the rows it never saw: the rule that held them out."""
    if how == "time":  # and since when: rows older than its first were unseen by it too (a model trained on newer data)
        return {"method": "time", "timestamp": timestamp, "trained_until": str(train[timestamp].max()),
                "trained_from": str(train[timestamp].min())}
    return {"method": "random", "seed": seed, "holdout_fraction": holdout_fraction, "columns": sorted(frame.columns)}


def held_out_hashes(identity: dict, held_out: pd.DataFrame) -> np.ndarray | None:
    """What a model of a random split keeps beside its identity: the hashes of the rows it held
    out (sorted), so that the gate later takes as unseen only rows of those very values. The rule
    alone would not do: a row whose values changed since (a file read with another encoding, a
    fixed typo) draws anew, and the split moves a row across to keep each class on both sides."""
    if identity.get("method") != "random":
        return None
    return np.sort(row_hashes(_as_values(held_out, identity["columns"]), identity["columns"], identity["seed"]))


def _as_values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame`'s columns as their values, not their types, for matching rows across runs: pandas
    hashes 1 and 1.0 apart, and a whole-number column reads as floats when one of its values is
    missing (so its rows would match no earlier run's once that value is gone); so every number as a
    float, every time as UTC nanoseconds, every category as its value."""
    values = {}
    for column in columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if pd.api.types.is_datetime64_any_dtype(series):
            if series.dt.tz is None:
                series = series.dt.tz_localize("UTC")
            series = series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").astype("int64").astype(float).where(
                series.notna())
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            series = series.astype("float64")
        elif series.dtype == object and len(present := series.dropna()) and all(isinstance(v, bool) for v in present):
            series = series.map({True: 1.0, False: 0.0})  # booleans with a missing one: as the bool column they were
        values[column] = series
    return pd.DataFrame(values, index=frame.index)


def unseen_rows(identity: dict | None, frame: pd.DataFrame,
                held_out: np.ndarray | None = None) -> tuple[np.ndarray | None, str]:
    """Which of `frame`'s rows a model with this split identity never trained on, and how that was
    decided; None when it cannot be told (the model records no identity, or the columns it used are
    gone). `held_out`: the model's `held_out_hashes`, where it kept them (models before them did not)."""
    if not identity:
        return None, "it records no split identity"
    if identity["method"] == "time":
        column, until, since = identity["timestamp"], identity["trained_until"], identity.get("trained_from")
        if column not in frame:
            return None, f"its time column {column!r} is not in these rows"
        values = frame[column]

        def as_values(text: str):
            limit = pd.Series([text]).astype(values.dtype).iloc[0] if values.dtype.kind != "M" else pd.Timestamp(text)
            if values.dtype.kind == "M" and values.dt.tz is not None and limit.tzinfo is None:
                limit = limit.tz_localize(values.dt.tz)
            return limit

        unseen = values > as_values(until)
        if since is None:  # a model from before its first training row was recorded
            return unseen.to_numpy(), f"{column} after {until}, its last training row"
        return ((unseen | (values < as_values(since))).to_numpy(),
                f"{column} after {until}, its last training row, or before {since}, its first")
    missing = [c for c in identity["columns"] if c not in frame]
    if missing:
        return None, f"the columns its split hashed are not all here (missing {missing})"
    if held_out is not None:
        found = np.isin(row_hashes(_as_values(frame, identity["columns"]), identity["columns"], identity["seed"]), held_out)
        return found, f"rows of the very values its seeded split (seed {identity['seed']}) held out"
    draws = row_draws(frame, identity["columns"], identity["seed"])
    return draws < identity["holdout_fraction"], f"rows its seeded split (seed {identity['seed']}) held out"


ROWS_OF_A_CLASS = 2  # the fewest a split can put on both sides (held_out_at_random does, from 2)
ROWS_TO_TUNE_A_CLASS = ROWS_OF_A_CLASS + 1  # the holdout takes one, then tuning splits the rest


def check_holdout(y_held_out: np.ndarray, classes: list, label: str, where: str, rows: str = "the held-out rows",
                  advice: str = "", split_from: np.ndarray | None = None, rows_needed: int = ROWS_OF_A_CLASS) -> None:
    """A holdout that cannot judge a model (a class missing, or one value only) is refused by name;
    `rows` names which rows they are (tuning checks its own two parts too), `advice` what gives
    them more (the holdout's by default). With `split_from` (the encoded classes of the training
    set), a missing class of fewer than `rows_needed` rows (one on each side of each split: the
    holdout's, and tuning's too) is named as too rare, which no setting helps."""
    y_held_out = np.asarray(y_held_out)
    if not classes:
        if len(np.unique(y_held_out[~np.isnan(y_held_out)])) < 2:
            raise DataError(f"{where}: {rows}' {label!r} is constant; r2 and the gate need variation "
                            f"({advice or 'more rows, data.split: random, or a larger settings.holdout_fraction'})")
        return
    missing = [classes[i] for i in range(len(classes)) if not (y_held_out == i).any()]
    rare = {} if split_from is None else rare_classes(classes, np.asarray(split_from), rows_needed)
    # A missing class that is not rare was left out by the split (e.g. a time split's newest rows):
    # a setting helps it, whatever other class is rare.
    rare = {c: n for c, n in rare.items() if c in missing}
    if rare:
        raise DataError(f"{where}: {rows} have no {label!r} = {missing!r}: "
                        + too_rare(label, class_rows(classes, np.asarray(split_from)), rows_needed))
    if missing:
        raise DataError(f"{where}: {rows} have no {label!r} = {missing!r}; the metrics and the gate need every "
                        "class there: " + (advice or "more rows, a larger settings.holdout_fraction, or (with data.split: "
                                           "time) data.split: random, which keeps each class on both sides"))


def rare_classes(classes: list, encoded: np.ndarray, rows_needed: int = ROWS_OF_A_CLASS) -> dict:
    """The classes of fewer than `rows_needed` rows, by their rows."""
    return {c: n for c, n in class_rows(classes, encoded).items() if n < rows_needed}


def class_rows(classes: list, encoded: np.ndarray) -> dict:
    """Every class by its rows."""
    counts = np.bincount(encoded[encoded >= 0].astype(int), minlength=len(classes))
    return {classes[i]: int(n) for i, n in enumerate(counts)}


def too_rare(label: str, rows: dict, rows_needed: int = ROWS_OF_A_CLASS) -> str:
    """What to say of the classes too rare to be on both sides of the splits (`rows`: every class
    by its rows), and what helps: a derived label that merges them into the largest class, which
    then has enough rows whatever theirs, or one that leaves their rows without a label (validate
    quarantines them); or, when no two classes have enough, another label."""
    rare = {c: n for c, n in rows.items() if n < rows_needed}
    enough = {c: n for c, n in rows.items() if n >= rows_needed}
    named = named_classes(rare)
    sides = "one held out and one on each side of tuning's split" if rows_needed > ROWS_OF_A_CLASS else "one on each side of the split"
    said = (f"{named} {'is' if len(rare) == 1 else 'are'} too rare (a class needs {rows_needed} rows or more: {sides}), "
            "which no setting changes: ")
    if len(enough) < 2:  # merged or dropped, the rows would hold one class at most: nothing to tell apart
        return said + (f"only {len(enough)} class has {rows_needed} rows or more, so neither dropping nor merging the others "
                       "leaves two classes to tell apart; choose another label, or gather more rows of them")
    largest = max(enough, key=enough.get)
    derived = re.sub(r"\W+", "_", label).strip("_") + "_merged"
    column = sql_name(label)
    rare_list, kept_list = (", ".join(sql_literal(c) for c in classes) for classes in (rare, enough))
    if len(rare) <= len(enough):
        expression = f"CASE WHEN {column} IN ({rare_list}) THEN {sql_literal(largest)} ELSE {column} END"
        dropped = f"CASE WHEN {column} IN ({rare_list}) THEN NULL ELSE {column} END"
    else:  # the shorter list: the classes kept (a missing label stays missing, for validation to quarantine)
        expression = f"CASE WHEN {column} IS NULL OR {column} IN ({kept_list}) THEN {column} ELSE {sql_literal(largest)} END"
        dropped = f"CASE WHEN {column} IN ({kept_list}) THEN {column} END"
    # JSON's quoting is YAML's double-quoted form: the line can be pasted into cnai.yaml whatever the values hold.
    return said + (f"merge {'it' if len(rare) == 1 else 'them'} into the largest class, {largest!r} ({enough[largest]} rows), with a derived label "
                   f"(data.events.derived_columns: {{{derived}: {json.dumps(expression, ensure_ascii=False)}}}, then "
                   f"data.label: {derived}); or drop those rows with a label they lack, which validate quarantines "
                   f"({{{derived}: {json.dumps(dropped, ensure_ascii=False)}}}); or choose another label")


MOST_CLASSES_NAMED = 5  # a message names a few; a label of 186 prices listed them all, 5.5 KB


def named_classes(rows: dict, most: int = MOST_CLASSES_NAMED) -> str:
    """Classes by their rows, for a message: "'a' (1 row), 'b' (2 rows)", the first `most` of them."""
    named = ", ".join(f"{c!r} ({n} row{'' if n == 1 else 's'})" for c, n in list(rows.items())[:most])
    return named + (f" and {len(rows) - most} more" if len(rows) > most else "")


def sql_name(column: str) -> str:
    """A column as Spark SQL names it: backquoted unless a plain name."""
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else "`" + column.replace("`", "``") + "`"


def sql_literal(value) -> str:
    """A label's value as a Spark SQL literal of its type: text quoted, numbers and booleans bare."""
    value = value.item() if hasattr(value, "item") else value  # a numpy scalar
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


# Below these a gate's score is mostly chance: a few rows more or less would change its decision.
FEW_ROWS_TO_JUDGE, FEW_OF_A_CLASS_TO_JUDGE = 30, 5


def few_rows_warning(labels: pd.Series, classification: bool) -> str:
    """A warning when the rows a model is judged on (their labels) are too few for its score to mean
    much, all of them or of its rarest class (every class is there: `check_holdout`); else empty."""
    rarest = int(labels.value_counts().min()) if classification and len(labels) else None
    if len(labels) >= FEW_ROWS_TO_JUDGE and (rarest is None or rarest >= FEW_OF_A_CLASS_TO_JUDGE):
        return ""
    rare = f", {rarest} of its rarest class" if rarest is not None else ""
    return (f"WARNING: judged on {len(labels)} held-out row(s){rare}, too few for the score to mean much "
            "(more rows, or a larger settings.holdout_fraction)")
