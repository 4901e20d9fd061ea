"""Faults: a step killed mid-write leaves nothing half-written where a later step could read it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("validated", "quarantine", "results", "data_docs")

VALIDATE = r"""
import json, sys
from cnai.steps.validate import validate_dataset
out = sys.argv[2]
suite = json.loads(open({suite!r}).read())
validate_dataset(sys.argv[1], out + "/validated", out + "/quarantine", out + "/results", out + "/data_docs", suite)
"""


@pytest.fixture(scope="module")
def flights_dataset(tmp_path_factory) -> tuple[Path, int]:
    """Flights as ingest writes them, big enough that validating takes a few seconds."""
    from cnai.data import generate

    flights, _ = generate(150_000, seed=21)
    flights["day_of_week"] = (flights["time_hour"].dt.dayofweek + 1) % 7 + 1
    flights["delayed"] = (flights["arr_delay"] > 15).astype("Int64")
    path = tmp_path_factory.mktemp("faults") / "flights.parquet"
    flights.to_parquet(path, index=False)
    return path, len(flights)


def test_a_step_killed_at_any_moment_leaves_whole_outputs_or_none(flights_dataset, tmp_path):
    dataset, rows = flights_dataset
    program = VALIDATE.format(suite=str(REPO / "expectations" / "flights.json"))
    killed_while_running = 0
    for number, delay in enumerate((0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)):
        out = tmp_path / f"run{number}"
        out.mkdir()
        process = subprocess.Popen([sys.executable, "-c", program, str(dataset), str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)  # no chance to clean up: the worst case
            killed_while_running += 1
        process.wait()
        present = {name: out / name for name in OUTPUTS if (out / name).exists()}
        # Whatever is there is whole: it parses and adds up.
        if "results" in present:
            json.loads(present["results"].read_text())
        tables = {name: pd.read_parquet(present[name]) for name in ("validated", "quarantine") if name in present}
        if len(tables) == 2:  # (a kill between the two writes leaves one: KFP passes on no output of a failed task)
            assert len(tables["validated"]) + len(tables["quarantine"]) == rows
        # What a killed step leaves is hidden staging, never a file at an output's own path.
        leftovers = [p.name for p in out.iterdir() if p.name not in present]
        assert all(name.startswith(".") and ".partial-" in name for name in leftovers), leftovers
    assert killed_while_running >= 3, "the kills must land while the step is working for this to test anything"


def test_a_dead_model_server_is_caught_by_the_smoke_test_and_deploy_brings_it_back(trained_model, training_set, tmp_path):
    import uuid

    from cnai import registry
    from cnai.errors import ServingError
    from cnai.steps.deploy import deploy_model, is_ready, server_pid, stop_server
    from cnai.steps.register import register_model
    from cnai.steps.smoke_test import smoke_test_endpoint
    from conftest import free_port

    uri, name = registry.default_registry_uri(tmp_path / "registry"), f"dead-{uuid.uuid4().hex[:6]}"
    (tmp_path / "eval.md").write_text("gate")
    version = register_model(trained_model["model"], training_set, str(tmp_path / "eval.md"), str(tmp_path / "card.md"),
                             uri, name)["version"]
    port = free_port()
    try:
        url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=port)["endpoint"]
        pid = server_pid(name)
        os.kill(pid, signal.SIGKILL)  # the server dies without a word
        deadline = time.monotonic() + 10
        while is_ready(url, name, timeout=0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(ServingError, match="no answer"):
            smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "smoke.md"), url, name, version)
        # Deploying again starts a server for the same registered version; the smoke test passes.
        deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=port)
        assert server_pid(name) not in (None, pid)
        smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "smoke2.md"), url, name, version)
        assert str(registry.production_version(uri, name).version) == version
    finally:
        stop_server(name)
