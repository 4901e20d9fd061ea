"""`cnai monitor`'s arguments are checked before any step: a new user's `--since yesterday` and a
missing `--retrain-events` file ended in tracebacks, a missing `--current` file in a failed drift
check 10 s in."""

import os
from pathlib import Path

import pytest

from cnai.cli import main

FLIGHTS = Path(__file__).resolve().parents[1] / "cnai.yaml"


@pytest.fixture(autouse=True)
def _environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("arguments, message", [
    (["--since", "yesterday"], "--since 'yesterday': not a time; give ISO 8601"),
    (["--current", "/nonexistent.csv"], "--current /nonexistent.csv: no such file or folder"),
    (["--current", str(FLIGHTS), "--retrain-events", "/nonexistent.csv"], "/nonexistent.csv: no such file"),
    (["--current", str(FLIGHTS), "--retrain-features", "origin_weather=/gone.csv"], "/gone.csv: no such file"),
])
def test_monitor_refuses_bad_arguments_by_name_before_any_step(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CNAI_HOME", str(tmp_path))
    assert main(["--config", str(FLIGHTS), "monitor", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_current_events_without_their_time_are_named_as_such(tmp_path):
    """Found by a new user: raw events without their time column were taken for a table of features,
    and the drift check named the side tables' features as missing, not the time."""
    import pandas as pd

    from cnai.core.config import load_config
    from cnai.core.errors import DataError
    from cnai.orchestration.monitor import prepared_current

    config = load_config(FLIGHTS)
    columns = [c for c in config.data.events.columns if c != config.data.events.timestamp]
    pd.DataFrame([dict.fromkeys(columns, 1)]).to_csv(tmp_path / "current.csv", index=False)
    with pytest.raises(DataError) as error:
        prepared_current(config, {}, str(tmp_path / "current.csv"), tmp_path)
    assert f"nor raw events as data.events declares them (it lacks ['{config.data.events.timestamp}'])" in str(error.value)
    assert "neither a table of the model's features (it lacks [" in str(error.value)


def test_run_refuses_a_sample_smaller_than_settings_sample_rows_takes(capsys):
    """Found by a new user: `cnai run --sample-rows 100` ran, though cnai.yaml's settings.sample_rows
    takes at least 1000, and failed in validate with one class, not saying it was a sample."""
    from cnai.core.config import MIN_SAMPLE_ROWS

    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(FLIGHTS), "run", "--sample-rows", "100"])
    assert exit_.value.code == 2
    assert f"--sample-rows: 100: at least {MIN_SAMPLE_ROWS} (as settings.sample_rows)" in capsys.readouterr().err
