import json
import os
import shutil
import uuid

import numpy as np
import pandas as pd
import pytest

from cnai.backends import registry
from cnai.components.monitoring.drift_check.executor import check_drift, resolve_reference
from cnai.components.registry.register.executor import register_model
from cnai.components.training.train.executor import train_model
from cnai.core.errors import DataError
from conftest import LABEL, TIME


@pytest.fixture(scope="module")
def production(training_set, model_features, tmp_path_factory):
    """A model trained on the small training set, registered and promoted, as deploy leaves it."""
    base = tmp_path_factory.mktemp("drift")
    reference = base / "training_set"
    shutil.copytree(training_set, reference) if os.path.isdir(training_set) else shutil.copy(training_set, reference)
    paths = {n: str(base / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(str(reference), feature_columns=model_features, label=LABEL, timestamp=TIME,
                params={"max_iter": 40}, **paths)
    uri, name = registry.default_registry_uri(base / "registry"), f"drift-{uuid.uuid4().hex[:6]}"
    (base / "eval.md").write_text("gate")
    version = register_model(paths["model"], str(reference), str(base / "eval.md"), str(base / "card.md"), uri, name)["version"]
    registry.promote(uri, name, version)
    return {"uri": uri, "name": name, "reference": reference, "frame": pd.read_parquet(reference)}


def run(production, current: pd.DataFrame, tmp_path, **options):
    current.to_parquet(tmp_path / "current.parquet")
    reference = resolve_reference(production["uri"], production["name"], tmp_path / "models")
    assert reference["training_set"] == str(production["reference"])
    facts = check_drift(str(tmp_path / "current.parquet"), reference["training_set"], reference["model"],
                        str(tmp_path / "report.html"), str(tmp_path / "m.json"), **options)
    return facts, json.loads((tmp_path / "m.json").read_text())


def test_same_distribution_is_not_drift(production, tmp_path):
    facts, summary = run(production, production["frame"].sample(1500, random_state=1), tmp_path)
    assert facts["drift_detected"] is False and facts["drifted_features"] == []
    assert summary["reference"]["training_set"] == str(production["reference"])
    html = (tmp_path / "report.html").read_text()
    assert "Drift check: no drift" in html and "evidently" in html.lower()


def test_numeric_shift_is_found(production, tmp_path):
    current = production["frame"].sample(1500, random_state=2)
    current = current.assign(temp=current.temp + 25, dewp=current.dewp + 25, humid=np.clip(current.humid + 30, 0, 100),
                             wind_speed=current.wind_speed * 3, pressure=current.pressure - 15)
    facts, summary = run(production, current, tmp_path)
    assert facts["drift_detected"] is True
    assert {"temp", "dewp", "humid", "wind_speed", "pressure"} <= set(facts["drifted_features"])
    assert "carrier" not in facts["drifted_features"]
    assert summary["features"]["temp"]["test"] == "ks" and summary["features"]["temp"]["wasserstein_over_std"] > 1


def test_categorical_shift_is_found(production, tmp_path):
    current = production["frame"].sample(1500, random_state=3)
    current = current.assign(carrier=np.where(np.arange(len(current)) % 4 == 0, "ZZ", "UA"), origin="JFK")
    facts, summary = run(production, current, tmp_path, drift_share_threshold=0.1)
    assert {"carrier", "origin"} <= set(facts["drifted_features"])
    assert "temp" not in facts["drifted_features"]
    assert summary["features"]["carrier"]["test"] == "chi2" and "ZZ" in summary["features"]["carrier"]["new_categories"]
    assert facts["drift_detected"] is True


def test_small_effects_on_many_rows_are_not_drift(production, tmp_path):
    current = production["frame"].sample(2000, random_state=4)
    facts, _ = run(production, current.assign(temp=current.temp + 0.2), tmp_path)
    assert "temp" not in facts["drifted_features"]


def test_reference_changed_since_registration_is_refused(production, tmp_path):
    reference = production["reference"]
    saved = tmp_path / "saved"
    shutil.move(reference, saved)
    try:
        production["frame"].head(10).to_parquet(reference)
        with pytest.raises(DataError, match="changed since registration"):
            run(production, production["frame"].head(100), tmp_path)
    finally:
        (shutil.rmtree if reference.is_dir() else reference.unlink)(reference)
        shutil.move(saved, reference)


def test_missing_feature_names_the_column(production, tmp_path):
    with pytest.raises(DataError, match=r"\['temp'\]"):
        run(production, production["frame"].head(100).drop(columns=["temp"]), tmp_path)


def test_a_handful_of_rows_decides_nothing(production, tmp_path):
    """Four requests, one with an unknown category, were "drift detected" and retrained the model."""
    current = production["frame"].sample(4, random_state=3)
    current = current.assign(temp=current.temp + 25, dewp=current.dewp + 25, carrier="ZZ")
    facts, summary = run(production, current, tmp_path)
    assert facts["drift_detected"] is False and facts["too_few_rows"] is True and summary["min_rows"] == 100
    assert "too few rows to judge" in (tmp_path / "report.html").read_text()
    facts, _ = run(production, current, tmp_path, min_rows=1)
    assert facts["too_few_rows"] is False


def test_the_prediction_test_is_named_as_it_was_run():
    """A multiclass model's predicted classes are compared by chi-square; it was reported as 'KS'."""
    from cnai.components.monitoring.drift_check.executor import prediction_figure

    assert prediction_figure({"test": "chi2", "statistic": 0.5011, "p_value": 0.0001}) == "chi-square 0.501 (p 0.0001)"
    assert prediction_figure({"test": "ks", "statistic": 0.12, "p_value": 0.3}) == "KS 0.120 (p 0.3)"


def test_the_served_traffic_of_the_version_serving_now_is_checked_alone(tmp_path):
    """From a new user's trial: `cnai monitor` checked every version's logged traffic against the
    production model, predictions of several models mixed and a feature only the newest takes read
    as 77% missing."""

    from cnai.components.monitoring.drift_check.executor import load_current
    from cnai.core.inference_log import VERSION_FIELD, InferenceLog

    log = InferenceLog(tmp_path / "log")
    log.append({"age": [30.0, 31.0]}, [0.2, 0.3], "1")
    log.append({"age": [40.0, 41.0, 42.0], "age_at_marriage": [20.0, 21.0, 22.0]}, [0.6, 0.7, 0.8], "2")
    frame = load_current(str(tmp_path / "log"), ["age", "age_at_marriage"])
    assert frame[VERSION_FIELD].tolist() == ["2", "2", "2"] and frame["age_at_marriage"].notna().all()
