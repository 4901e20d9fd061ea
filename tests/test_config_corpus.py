"""Bad configurations a new user writes, each refused when cnai.yaml is loaded (before any step
runs) with an error naming the key and what to do. Each case edits a valid configuration, so a
case that stops failing is a check that stopped working, not a typo in the test."""

from pathlib import Path

import pytest
import yaml

from cnai.core.config import load_config
from cnai.core.errors import ConfigError

FLIGHTS = Path(__file__).resolve().parents[1] / "cnai.yaml"
# One table, no time, no side table: the smallest valid project.
SINGLE = {
    "data": {"events": {"source": "penguins.csv", "columns": {"species": "string", "island": "string",
                                                              "bill_length_mm": "double", "year": "bigint"}},
             "label": "species", "task": "multiclass", "features": ["island", "bill_length_mm"]},
    "tuning": {"parameters": [{"name": "max_iter", "parameter_type": "int", "min": 50, "max": 100}]},
}


def _set(config: dict, dotted: str, value) -> None:
    """Edit one key; a number is a list index (data.feature_sources.1.entity)."""
    *path, last = dotted.split(".")
    for key in path:
        config = config[int(key)] if key.isdigit() else config.setdefault(key, {})
    last = int(last) if last.isdigit() else last
    if value is DELETE:
        config.pop(last)
    else:
        config[last] = value


DELETE = object()

CASES = [
    # (base, {dotted key: value}, what the error must say)
    ("single", {"data.task": "clustering"}, r"data\.task: Input should be 'binary', 'multiclass' or 'regression'"),
    ("single", {"data.task": DELETE}, r"data\.task: Field required"),
    ("single", {"data.label": "Species"}, r"data\.label: 'Species' is not a column of data\.events"),
    ("single", {"data.features": ["island", "bill_len"]}, r"data\.features\[1\]: 'bill_len' is not a column"),
    ("single", {"data.features": ["island", "species"]}, r"data\.features: holds the label 'species'"),
    ("single", {"data.features": []}, r"data\.features: List should have at least 1 item"),
    ("single", {"data.split": "time"}, r"data\.split: time needs data\.events\.timestamp"),
    ("single", {"data.split": "kfold"}, r"data\.split: Input should be 'time' or 'random'"),
    ("single", {"data.positive_label": "Adelie"}, r"data\.positive_label: only a binary task has one"),
    ("single", {"data.events.timestamp": "when"}, r"data\.events\.timestamp: 'when' is not a column"),
    ("single", {"data.events.columns.year": "integer"}, r"column 'year' has unknown type 'integer'"),
    ("single", {"data.events.format": "xlsx"}, r"data\.events\.format: Input should be 'csv' or 'parquet'"),
    ("single", {"tuning.objective": {"metric": "roc_auc"}}, r"tuning\.objective\.metric: 'roc_auc' is not a multiclass metric"),
    ("single", {"tuning.objective": {"metric": "rmsee"}}, r"tuning\.objective\.metric: Input should be"),
    ("single", {"tuning.objective": {"metric": "log_loss", "goal": "maximize"}},
     r"tuning\.objective\.goal: log_loss is lower when better, so the goal is minimize"),
    ("single", {"evaluation.metric": "r2"}, r"evaluation\.metric: 'r2' is not a multiclass metric"),
    ("single", {"evaluation.min_improvement": -0.1}, r"evaluation\.min_improvement: Input should be greater than or equal to 0"),
    ("single", {"data.task": "regression", "data.label": "bill_length_mm", "data.features": ["island", "year"],
                "tuning.objective": {"metric": "accuracy"}},
     r"'accuracy' is not a regression metric; use one of \['rmse', 'mae', 'r2'\]"),
    ("single", {"model.kind": 3}, r"model\.kind: Input should be a valid string"),
    ("single", {"model.params": {"max_iter": 80}}, r"model\.params\.max_iter: also searched in tuning\.parameters"),
    ("single", {"model.estimator": "xgboost"}, r"model\.estimator: unknown key; this section takes kind, params"),
    ("single", {"settings.model_name": "My Model"}, r"settings\.model_name: String should match pattern"),
    ("single", {"settings.holdout_fraction": 0.7}, r"settings\.holdout_fraction: Input should be less than 0\.5"),
    ("single", {"tuning.parameters": []}, r"tuning\.parameters: List should have at least 1 item"),
    ("single", {"tuning.max_trials": 0}, r"tuning\.max_trials: Input should be greater than or equal to 1"),
    ("single", {"data.events.source": "http://user:secret@example.com/x.csv"}, r"data\.events\.source: holds a password"),
    ("flights", {"data.feature_sources.0.name": DELETE}, r"data\.feature_sources\.0\.name: Field required"),
    ("flights", {"data.feature_sources.0.name": "origin weather"}, r"data\.feature_sources\.0\.name: String should match pattern"),
    ("flights", {"data.feature_sources.0.entity": "airport"}, r"data\.feature_sources\[0\]\.entity: 'airport' is not one of its columns"),
    ("flights", {"data.feature_sources.0.timestamp": "observed"}, r"data\.feature_sources\[0\]\.timestamp: 'observed' is not one"),
    ("flights", {"data.feature_refs": ["weather:temp", "destination:alt"]},
     r"data\.feature_refs\[0\]: 'weather:temp' must be '<view>:<column>' with a view of data\.feature_sources \(\['destination', 'origin_weather'\]\)"),
    ("flights", {"data.feature_refs": ["origin_weather:snow", "destination:alt"]}, r"data\.feature_refs\[0\]: 'snow' is not a value column of 'origin_weather'"),
    ("flights", {"data.feature_refs": ["origin_weather:month", "destination:alt"]}, r"data\.feature_refs\[0\]: 'month' is also an events column"),
    ("flights", {"data.feature_refs": []}, r"data\.feature_refs: none from 'origin_weather'; name the columns to join"),
    ("flights", {"data.feature_refs": ["origin_weather:temp"]}, r"data\.feature_refs: none from 'destination'"),
    ("flights", {"data.feature_sources.0.ttl_hours": 0}, r"data\.feature_sources\.0\.ttl_hours: Input should be greater than 0"),
    # several views, each with its own names: a key the events do not have, two views of one name or column
    ("flights", {"data.feature_sources.1.join_on": DELETE}, r"data\.feature_sources\[1\]\.join_on: the events have no column 'faa'"),
    ("flights", {"data.feature_sources.1.join_on": "destination"}, r"the events have no column 'destination' to join 'destination' on"),
    ("flights", {"data.feature_sources.1.name": "origin_weather"}, r"data\.feature_sources: two tables share a name"),
    # a new user's trial: a side table joined on the label scored accuracy 1.0
    ("flights", {"data.feature_sources.1.join_on": "delayed"}, r"data\.feature_sources\[1\]\.join_on: 'delayed' is data\.label; "
                                                              r"a side table joined on the label hands the model its answer"),
    ("flights", {"data.feature_sources.1.ttl_hours": 24}, r"data\.feature_sources\[1\]\.ttl_hours: a static table \(no timestamp\) has no age"),
    ("flights", {"data.feature_sources.1.columns.temp": "double", "data.feature_refs": ["origin_weather:temp", "destination:temp"]},
     r"data\.feature_refs\[1\]: 'temp' is also view 'origin_weather'; rename one \(a derived_columns entry of 'destination', e\.g\. destination_temp: temp\)"),
    ("flights", {"data.events.timestamp": DELETE, "data.split": "random"},
     r"data\.feature_sources\[0\]: 'origin_weather' has a timestamp, so it is joined as of each event's time, which needs data\.events\.timestamp"),
    ("flights", {"data.feature_source": {"name": "w"}}, r"data\.feature_source: now data\.feature_sources, a list"),
    ("single", {"data.feature_refs": ["v:x"]}, r"data\.feature_refs: need data\.feature_sources"),
    ("flights", {"data.expectation_suite": 5}, r"data\.expectation_suite: Input should be a valid string"),
    # a new user's trial: regression on a text label failed only in validate, 48 s in
    ("single", {"data.task": "regression", "tuning.objective": {"metric": "rmse"}},
     r"data\.task: regression needs a numeric label, but data\.events\.columns declares 'species' string"),
    ("single", {"data.events.delimiter": ";;"}, r"data\.events\.delimiter: String should have at most 1 character"),
    ("single", {"data.events.encoding": "utf-16"}, r"data\.events\.encoding: encoding 'utf-16' is not one "
                                                         r"Spark's CSV reader takes"),
]


@pytest.mark.parametrize("base, edits, message", CASES, ids=[f"{b}-{'+'.join(e)}" for b, e, _ in CASES])
def test_a_bad_configuration_is_refused_by_key(tmp_path, base, edits, message):
    config = yaml.safe_load(FLIGHTS.read_text()) if base == "flights" else yaml.safe_load(yaml.safe_dump(SINGLE))
    load_config(_write(tmp_path, config))  # the base is valid: the edit below is what is refused
    for key, value in edits.items():
        _set(config, key, value)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(_write(tmp_path, config))
    assert str(error.value).startswith(str(tmp_path / "cnai.yaml")), "the error names the file"
    assert "pydantic" not in str(error.value) and "For further information" not in str(error.value)


def test_defaults_follow_the_task(tmp_path):
    """Left out, the objective, its direction and the gate metric are the task's; the model name is the label's."""
    config = yaml.safe_load(yaml.safe_dump(SINGLE))
    for task, metric, goal in (("multiclass", "log_loss", "minimize"), ("regression", "rmse", "minimize")):
        config["data"]["task"] = task
        config["data"]["label"] = "bill_length_mm" if task == "regression" else "species"
        config["data"]["features"] = ["island", "year"]
        loaded = load_config(_write(tmp_path, config))
        assert (loaded.objective_metric, loaded.objective_goal, loaded.gate_metric) == (metric, goal, metric)
        assert loaded.data.split_method == "random" and loaded.data.expectation_suite is None
    assert loaded.model_name == "bill-length-mm-regression"
    config["data"]["events"]["columns"]["résilié"] = "string"  # accented letters keep their base letter, not a hole
    config["data"].update(label="résilié", task="multiclass")
    assert load_config(_write(tmp_path, config)).model_name == "resilie-multiclass"


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "cnai.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
