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
from cnai.components.data.validate.executor import validate_dataset
out = sys.argv[2]
suite = json.loads(open({suite!r}).read())
validate_dataset(sys.argv[1], out + "/validated", out + "/quarantine", out + "/results", out + "/data_docs", suite)
"""


@pytest.fixture(scope="module")
def flights_dataset(tmp_path_factory) -> tuple[Path, int]:
    """Flights as ingest writes them, big enough that validating takes a few seconds."""
    from examples.flights.generate import generate

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

    from cnai.backends import registry
    from cnai.backends.local.deployment import is_ready, server_pid, stop_server
    from cnai.components.registry.register.executor import register_model
    from cnai.components.serving.deploy.executor import deploy_model
    from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
    from cnai.core.errors import ServingError
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


class LineageServer:
    """An OpenLineage endpoint (what Marquez offers) that records every event and, when armed,
    kills the pipeline's whole process group on the event it waits for, before answering it."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.events: list[dict] = []
        self.kill_on: tuple[str, str] | None = None  # (step, event type)
        self.pipeline_group: int | None = None
        self.killed_at: dict | None = None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # `cnai run` checks the lineage server answers before any step
                self.send_response(200)
                self.end_headers()

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.events.append(event)
                step = event["job"]["name"].rsplit(".", 1)[-1]
                if server.kill_on == (step, event["eventType"]) and server.killed_at is None:
                    server.killed_at = event
                    os.killpg(server.pipeline_group, signal.SIGKILL)
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def run_events(self, run: subprocess.CompletedProcess | None = None) -> dict[str, list[str]]:
        """Event types by step, for the pipeline run whose events came last."""
        last = self.events[-1]["run"]["facets"]["parent"]["run"]["runId"]
        steps: dict[str, list[str]] = {}
        for event in self.events:
            if event["run"]["facets"]["parent"]["run"]["runId"] == last:
                steps.setdefault(event["job"]["name"].rsplit(".", 1)[-1], []).append(event["eventType"])
        return steps


def test_a_pipeline_killed_after_registering_resumes_from_cache_without_a_duplicate_version(small_tables, tmp_path):
    """The whole training pipeline is killed (SIGKILL to every process of the run) at the worst
    moment for the registry: the register step has created the version and is reporting it. The
    re-run takes every finished step but the gate from KFP's cache, finds the version by its model
    hash instead of registering a second one, and deploys it."""
    from cnai.backends import registry
    from conftest import write_small_project

    lineage = LineageServer()
    config_path, _ = write_small_project(tmp_path, small_tables, max_trials=2, lineage_url=lineage.url)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "cnai.cli", "--config", str(config_path), "run"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNAI_")}

    def versions() -> list[str]:
        found = registry._client(registry.default_registry_uri(home)).search_model_versions("name='flight-delay'")
        return sorted(str(v.version) for v in found)

    try:
        lineage.kill_on = ("register", "COMPLETE")
        with (tmp_path / "killed-run.log").open("w") as log:
            killed = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            lineage.pipeline_group = killed.pid
            assert killed.wait(timeout=900) == -signal.SIGKILL, (tmp_path / "killed-run.log").read_text()[-3000:]
        assert lineage.killed_at is not None, "the run must die where the test meant it to"
        assert versions() == ["1"], "the version was created before the kill"
        first = lineage.run_events()
        assert "deploy" not in first and first["register"] == ["START", "COMPLETE"]

        lineage.kill_on = None
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
        second = lineage.run_events()
        assert not {"ingest", "validate", "features", "tune", "train"} & set(second), f"these ran again instead of coming from cache: {second}"
        # The gate is never cached (production may have changed); everything after it runs again.
        assert all(second[step] == ["START", "COMPLETE"] for step in ("evaluate", "register", "deploy", "smoke_test")), second
        register = next(e for e in lineage.events[::-1] if e["job"]["name"].endswith(".register"))
        assert register["run"]["facets"]["cnai_step"]["facts"]["reused_existing_version"] is True
        assert versions() == ["1"], "no duplicate version"
        assert str(registry.production_version(registry.default_registry_uri(home), "flight-delay").version) == "1"
    finally:  # `cnai stop` in its own process too: in this one it would export the settings for later tests
        subprocess.run([*command[:-1], "stop"], env=env, timeout=60)
        lineage.httpd.shutdown()


def test_a_bad_new_version_never_replaces_the_served_one(trained_model, training_set, tmp_path):
    """Two ways a new version goes wrong after version 1 serves: its files do not load (the swap is
    refused), or it loads but answers differently from the model the pipeline trained (the smoke
    test fails and swaps version 1 back in, production alias included). Version 1 serves throughout."""
    import shutil
    import uuid

    import requests

    from cnai.backends import registry
    from cnai.backends.local.deployment import stop_server
    from cnai.backends.local.model_server import v2_request
    from cnai.components.registry.register.executor import register_model
    from cnai.components.serving.deploy.executor import deploy_model
    from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
    from cnai.components.training.train.executor import train_model
    from cnai.core.errors import ServingError
    from cnai.models.saved import LoadedModel
    from conftest import free_port

    uri, name, port = registry.default_registry_uri(tmp_path / "registry"), f"bad-{uuid.uuid4().hex[:6]}", free_port()
    (tmp_path / "eval.md").write_text("gate")

    def register(model_dir) -> str:
        return register_model(str(model_dir), training_set, str(tmp_path / "eval.md"), str(tmp_path / "card.md"), uri, name)["version"]

    good = register(trained_model["model"])
    broken_files = tmp_path / "broken"
    shutil.copytree(trained_model["model"], broken_files)
    (broken_files / "model.joblib").write_bytes(b"not a pickle")
    broken = register(broken_files)
    other = {n: str(tmp_path / f"other-{n}") for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(training_set, feature_columns=LoadedModel(trained_model["model"]).feature_columns, label="delayed",
                timestamp="time_hour", params={"max_iter": 10, "learning_rate": 0.5}, **other)
    different = register(other["model"])
    rows = pd.read_parquet(trained_model["holdout"]).head(3)[LoadedModel(trained_model["model"]).feature_columns]

    def served_version(url: str) -> str:
        response = requests.post(f"{url}/v2/models/{name}/infer", json=v2_request(rows), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["model_version"]

    try:
        url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, good, port=port)["endpoint"]
        smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "smoke.md"), url, name, good, registry_uri=uri)

        with pytest.raises(ServingError, match=f"loading version {broken} failed.*previous version still serving"):
            deploy_model(str(tmp_path / "endpoint.md"), uri, name, broken, port=port)
        assert served_version(url) == good
        assert str(registry.production_version(uri, name).version) == good

        deploy_model(str(tmp_path / "endpoint.md"), uri, name, different, port=port)
        assert served_version(url) == different  # swapped in and promoted, pending its smoke test
        with pytest.raises(ServingError, match=f"smoke test failed.*rolled back: version {good} is serving again"):
            # checked against the model the pipeline trained, which is not what the server loaded
            smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "smoke2.md"), url, name,
                                different, registry_uri=uri)
        assert served_version(url) == good
        assert str(registry.production_version(uri, name).version) == good
    finally:
        stop_server(name)


def test_two_writers_of_the_same_output_at_once_both_succeed_and_leave_a_whole_result(tmp_path):
    """Two first runs at once on a fresh home: one died with a raw FileNotFoundError on a shared
    staging file. Two processes write the same directory output 150 times each, at once."""
    program = r"""
import sys
from pathlib import Path
from cnai.core.artifacts import atomic_output
for i in range(150):
    with atomic_output(sys.argv[1]) as staging:
        staging.mkdir()
        for n in range(60):
            (staging / f"part-{n}").write_text(sys.argv[2] * 1000)
"""
    target = tmp_path / "shared" / "copy"
    writers = [subprocess.Popen([sys.executable, "-c", program, str(target), tag], stderr=subprocess.PIPE, text=True)
               for tag in ("a", "b")]
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    parts = sorted(target.iterdir())
    assert len(parts) == 60 and len({p.read_text() for p in parts}) == 1, "one writer's whole result"
    assert [p.name for p in target.parent.iterdir()] == ["copy"], "no staging left behind"


def test_a_reader_never_finds_an_output_missing_while_it_is_rewritten(tmp_path):
    """The earlier result was removed before the new one moved in: a reader in between found no
    folder at all (a FileNotFoundError in a concurrent run)."""
    import threading

    from cnai.core.artifacts import atomic_output

    target = tmp_path / "out"
    target.mkdir()
    for n in range(200):
        (target / f"part-{n}").write_text("x")
    missing, done = [], threading.Event()

    def read() -> None:
        while not done.is_set():
            if not target.exists():
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(30):
            with atomic_output(target) as staging:
                staging.mkdir()
                for n in range(200):
                    (staging / f"part-{n}").write_text("y")
    finally:
        done.set()
        reader.join()
    assert not missing and len(list(target.iterdir())) == 200
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "nothing left aside"
