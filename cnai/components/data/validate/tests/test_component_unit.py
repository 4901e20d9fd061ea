import json

import pandas as pd
import pytest

from cnai.components.data.validate.executor import infer_suite, validate_dataset
from cnai.core.errors import DataError, ValidationFailed
from conftest import LABEL


def outputs(tmp_path):
    return {name: str(tmp_path / name) for name in ("validated", "quarantine", "results", "data_docs")}


def test_rows_without_label_are_quarantined_not_dropped(ingested, expectation_suite, tmp_path):
    out = outputs(tmp_path)
    facts = validate_dataset(ingested["events"], expectation_suite=expectation_suite, **out)
    source = pd.read_parquet(ingested["events"])
    good, bad = pd.read_parquet(out["validated"]), pd.read_parquet(out["quarantine"])
    assert len(good) + len(bad) == len(source)
    assert len(bad) == source[LABEL].isna().sum() > 0
    assert good[LABEL].notna().all()
    assert bad["failed_expectations"].str.contains(f"expect_column_values_to_not_be_null({LABEL})", regex=False).all()
    assert facts["rows_quarantined"] == len(bad)
    assert "<html" in (tmp_path / "data_docs").read_text().lower()
    assert json.loads((tmp_path / "results").read_text())["success"] is False


def test_critical_failure_stops_and_names_column(ingested, tmp_path):
    suite = {"name": "s", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "distance", "max_value": 10},
         "meta": {"severity": "critical"}}]}
    out = outputs(tmp_path)
    with pytest.raises(ValidationFailed, match=r"column 'distance': expect_column_values_to_be_between"):
        validate_dataset(ingested["events"], expectation_suite=suite, **out)
    assert not (tmp_path / "validated").exists(), "no validated output may exist after a critical failure"


def test_missing_column_is_critical(ingested, tmp_path):
    suite = {"name": "s", "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "gate"}}]}
    with pytest.raises(ValidationFailed, match="'gate'"):
        validate_dataset(ingested["events"], expectation_suite=suite, **outputs(tmp_path))


def test_suite_is_inferred_when_none_is_given(ingested, tmp_path):
    out = outputs(tmp_path)
    validate_dataset(ingested["events"], inferred_suite=str(tmp_path / "suite.json"), **out)
    suite = json.loads((tmp_path / "suite.json").read_text())
    kinds = {(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]}
    assert ("expect_column_to_exist", "distance") in kinds
    assert ("expect_column_values_to_be_in_set", "origin") in kinds


def test_inferred_ranges_catch_out_of_range_rows():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    suite = infer_suite(frame, "t")
    between = next(e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_between")
    assert between["kwargs"] == {"column": "x", "min_value": 1.0, "max_value": 3.0}


def test_rows_without_their_time_are_quarantined(tmp_path):
    """A time split puts a row with no time after every other (it sorts last): into the holdout,
    newer than nothing. Quarantined instead, named by the rule that failed, nothing lost."""
    times = pd.Series(pd.date_range("2020-01-01", periods=8, freq="D", tz="UTC"))
    times[[2, 5]] = pd.NaT
    pd.DataFrame({"when": times, "x": range(8), "y": [0, 1] * 4}).to_parquet(tmp_path / "events.parquet")
    out = outputs(tmp_path)
    facts = validate_dataset(str(tmp_path / "events.parquet"), inferred_suite=str(tmp_path / "suite.json"),
                             label="y", timestamp="when", split="time", **out)
    good, bad = pd.read_parquet(out["validated"]), pd.read_parquet(out["quarantine"])
    assert good["when"].notna().all() and len(good) == 6
    assert sorted(bad["x"]) == [2, 5] and facts["rows_quarantined"] == 2
    assert bad["failed_expectations"].str.contains("expect_column_values_to_not_be_null(when)", regex=False).all()
    rules = json.loads((tmp_path / "suite.json").read_text())["expectations"]
    assert {"y", "when"} <= {e["kwargs"].get("column") for e in rules if e["type"] == "expect_column_values_to_not_be_null"}
    with pytest.raises(ValidationFailed, match="time column 'at'"):
        validate_dataset(str(tmp_path / "events.parquet"), timestamp="at", split="time", **outputs(tmp_path / "other"))
    # A random split has no use for the time: those rows train as before.
    kept = validate_dataset(str(tmp_path / "events.parquet"), label="y", timestamp="when", split="random",
                            **outputs(tmp_path / "random"))
    assert kept["rows_quarantined"] == 0


def test_a_label_too_varied_for_its_task_is_counted_truly_and_the_fitting_task_named(tmp_path):
    """Found on diamonds' price (11,602 values) with `task: binary`: the step said "found 1000
    values" (the kept sample's size) and advised multiclass, where regression fits."""
    prices = pd.DataFrame({"carat": range(1500), "price": [326.0 + 7 * i for i in range(1500)]})
    prices.to_parquet(tmp_path / "diamonds.parquet")
    with pytest.raises(DataError, match=r"found more than 1000 \(.*\); .*set data\.task: regression") as refused:
        validate_dataset(str(tmp_path / "diamonds.parquet"), label="price", task="binary", **outputs(tmp_path / "a"))
    assert "multiclass" not in str(refused.value)
    with pytest.raises(DataError, match=r"'price' has more than 1000 distinct values.*set data\.task: regression"):
        validate_dataset(str(tmp_path / "diamonds.parquet"), label="price", task="multiclass", **outputs(tmp_path / "b"))
    # Few values: the count is the real one and multiclass still what fits.
    cuts = pd.DataFrame({"carat": range(10), "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"] * 2})
    cuts.to_parquet(tmp_path / "cuts.parquet")
    with pytest.raises(DataError, match=r"found 5 \(.*\); set data\.task: multiclass"):
        validate_dataset(str(tmp_path / "cuts.parquet"), label="cut", task="binary", **outputs(tmp_path / "c"))
