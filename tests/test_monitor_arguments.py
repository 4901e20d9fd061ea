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
