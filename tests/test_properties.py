"""Property tests: whatever table arrives, ingest, validate and the drift check either work or fail
with one of our own errors (which name the file and column), never with a library's exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cnai.core.errors import CnaiError

REPO = Path(__file__).resolve().parents[1]
EVENTS = yaml.safe_load((REPO / "cnai.yaml").read_text())["data"]["events"]
SUITE = json.loads((REPO / "expectations" / "flights.json").read_text())
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# Cells a CSV may hold: numbers, text, blanks, NA, odd unicode and separators.
cells = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                  st.text(max_size=12), st.sampled_from(["", "NA", "null", "2013-01-01T05:00:00Z", "EWR", "UA"]))


@st.composite
def csv_tables(draw) -> str:
    declared = list(EVENTS["columns"])
    columns = draw(st.one_of(st.just(declared),  # often every declared column, so values get parsed
                             st.lists(st.sampled_from([*declared, "extra", "ünïcode"]), max_size=len(declared) + 2, unique=True)))
    rows = draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=6))
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    return frame.to_csv(index=False)


@settings(SETTINGS, max_examples=15)
@given(text=csv_tables())
def test_ingest_works_or_says_why(text):
    from cnai.components.data.ingest.executor import ingest_table

    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "events.csv"
        source.write_text(text)
        try:
            ingest_table(str(source), f"{scratch}/out", EVENTS["columns"], EVENTS["derived_columns"])
            event("ingested")
        except CnaiError as error:
            event(f"refused: {type(error).__name__}")
            assert "events.csv" in str(error)
            assert not Path(scratch, "out").exists()


values = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))


@st.composite
def flight_frames(draw) -> pd.DataFrame:
    """Frames shaped like ingest's output, with any columns missing and any values in them."""
    n = draw(st.integers(0, 8))
    every = [*EVENTS["columns"], "day_of_week", "delayed"]
    keep = draw(st.one_of(st.just(every), st.lists(st.sampled_from(every), unique=True)))
    frame = pd.DataFrame({c: draw(st.lists(values, min_size=n, max_size=n)) for c in keep}, dtype=object)
    for column in frame.columns:  # Parquet needs one type per column: numbers where they parse, else text
        numeric = pd.to_numeric(frame[column], errors="coerce")
        frame[column] = numeric if numeric.notna().sum() >= frame[column].notna().sum() else frame[column].astype(str)
    if "time_hour" in frame and draw(st.booleans()):
        frame["time_hour"] = pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    return frame


@settings(SETTINGS, max_examples=40)
@given(frame=flight_frames())
def test_validate_works_or_says_why(frame):
    from cnai.components.data.validate.executor import validate_dataset

    with tempfile.TemporaryDirectory() as scratch:
        frame.to_parquet(f"{scratch}/ingested.parquet", index=False)
        out = {n: f"{scratch}/{n}" for n in ("validated", "quarantine", "results", "docs")}
        try:
            facts = validate_dataset(f"{scratch}/ingested.parquet", out["validated"], out["quarantine"], out["results"],
                                     out["docs"], SUITE)
        except CnaiError as error:
            event(f"refused: {type(error).__name__}")
            assert "ingested.parquet" in str(error)
            assert not Path(out["validated"]).exists() and not Path(out["quarantine"]).exists()
        else:
            event("validated" if facts["rows_valid"] else "all quarantined")
            assert facts["rows_in"] == len(pd.read_parquet(out["validated"])) + len(pd.read_parquet(out["quarantine"]))


@pytest.fixture(scope="module")
def drift_reference(trained_model, training_set):
    return {"model": trained_model["model"], "reference": training_set}


@settings(SETTINGS, max_examples=25)
@given(frame=flight_frames(), weather=st.lists(values, min_size=0, max_size=8))
def test_drift_check_works_or_says_why(drift_reference, frame, weather):
    from cnai.components.monitoring.drift_check.executor import check_drift
    from cnai.models.saved import LoadedModel

    features = LoadedModel(drift_reference["model"]).feature_columns
    for column in features:  # the weather features, filled from the drawn values where the frame lacks them
        if column not in frame and len(weather) >= len(frame) and len(frame):
            frame[column] = pd.to_numeric(pd.Series(weather[: len(frame)], dtype=object), errors="coerce")
    with tempfile.TemporaryDirectory() as scratch:
        frame.to_parquet(f"{scratch}/current.parquet", index=False)
        try:
            facts = check_drift(f"{scratch}/current.parquet", drift_reference["reference"], drift_reference["model"],
                                f"{scratch}/report.html", f"{scratch}/metrics.json")
        except CnaiError as error:
            event(f"refused: {type(error).__name__}")
            assert "current.parquet" in str(error)
        else:
            event("checked")
            assert isinstance(facts["drift_detected"], bool)


@given(st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["0", "1", "a", "b", "True"]), st.booleans(), st.none(),
                          st.floats(0, 2).map(round)), min_size=1, max_size=40),
       st.sampled_from([[0, 1], ["a", "b"], [False, True], [0, 1, 2, 3], ["0", "1"], [1.0, 2.0]]))
@example([1, True], ["0", "1"])  # equal in Python (and so to pd.factorize), not as text: True is no "1"
@example([1, 1.0], ["0", "1"])
@SETTINGS
def test_labels_encode_as_each_value_alone_would(values, classes):
    """encode_labels looks each distinct value up once: every row gets the class position its value
    has on its own (a value that matches no class is refused, naming it)."""
    from cnai.core.errors import DataError
    from cnai.core.tasks import encode_labels

    series = pd.Series(values, dtype=object)
    alone = []
    for value in values:
        try:
            alone.append(int(encode_labels(pd.Series([value], dtype=object), classes, "t.csv", "y")[0]))
        except DataError:
            alone.append(None)
    try:
        codes = encode_labels(series, classes, "t.csv", "y")
    except DataError as exc:
        assert None in alone and "y" in str(exc)
        return
    assert codes.dtype == np.int64 and codes.tolist() == alone
