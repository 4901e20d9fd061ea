"""The whole training pipeline under kfp.local, once, on small generated data.

Three runs share one run directory: the first deploys (the gate's True branch), the second is
answered from cache and keeps production (the False branch), the third fails validation. Every
step must leave lineage and carbon behind, in OpenLineage events and in KFP's artifact metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from cnai.backends.local.model_server import v2_request
from cnai.cli import main
from conftest import REPO, write_small_project

STEPS = {"ingest": 1, "ingest_tables": 1, "validate": 1, "features": 1, "tune": 1, "train": 1, "evaluate": 1, "register": 1, "run_summary": 1,
         "deploy": 1, "smoke_test": 1}


@pytest.fixture(scope="module")
def project(small_tables, tmp_path_factory):
    """A project config over the small tables, with its own run directory and port."""
    saved = dict(os.environ)
    base = tmp_path_factory.mktemp("project")
    path, config = write_small_project(base, small_tables)
    yield {"config": path, "home": base / "home", "port": config["settings"]["serving_port"], "raw": config}
    main(["--config", str(path), "stop"])
    os.environ.clear()
    os.environ.update(saved)


def events_of_last_run(home: Path) -> list[dict]:
    events = [json.loads(line) for line in (home / "lineage" / "events.jsonl").read_text().splitlines()]
    last = events[-1]["run"]["facets"]["parent"]["run"]["runId"]
    return [e for e in events if e["run"]["facets"].get("parent", {}).get("run", {}).get("runId") == last]


def completed_steps(events: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        if event["eventType"] == "COMPLETE":
            step = event["job"]["name"].rsplit(".", 1)[-1]
            counts[step] = counts.get(step, 0) + 1
    return counts


def infer(port: int, holdout: pd.DataFrame, features: list[str]) -> dict:
    response = requests.post(f"http://127.0.0.1:{port}/v2/models/flight-delay/infer",
                             json=v2_request(holdout.head(3)[features]), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def first_run(project):
    assert main(["--config", str(project["config"]), "run"]) == 0
    return events_of_last_run(project["home"])


def test_first_run_deploys_with_lineage_and_carbon_at_every_step(project, first_run, model_features):
    assert completed_steps(first_run) == STEPS, "every step ran, the deploy branch included"
    for event in (e for e in first_run if e["eventType"] == "COMPLETE"):
        step = event["job"]["name"]
        carbon = event["run"]["facets"]["cnai_carbon"]
        assert carbon["energy_kwh"] > 0 and carbon["emissions_kg_co2eq"] > 0, step
        facet = event["run"]["facets"]["cnai_step"]
        assert facet["duration_s"] > 0 and facet["code_version"] and "parameters" in facet, step
        assert event["outputs"], f"{step} recorded no output"
        for dataset in event["inputs"] + event["outputs"]:
            assert dataset["facets"]["cnai_content"]["content_hash"].startswith("sha256:"), (step, dataset["name"])

    # KFP's own record (ML Metadata on a cluster): every non-metrics artifact carries the same facts.
    run_dir = max((project["home"] / "pipeline_root").iterdir(), key=lambda p: p.stat().st_mtime)
    tasks = sorted(p.name for p in run_dir.iterdir() if (p / "executor_output.json").exists())
    assert len(tasks) == 11, tasks
    for task in tasks:
        artifacts = json.loads((run_dir / task / "executor_output.json").read_text()).get("artifacts", {})
        for name, entry in artifacts.items():
            metadata = entry["artifacts"][0]["metadata"]
            if name in ("metrics", "classification_metrics", "tuning_metrics"):
                assert "carbon" not in metadata
                continue
            assert metadata["content_hash"].startswith("sha256:"), (task, name)
            assert metadata["carbon"]["energy_kwh"] > 0, (task, name)

    holdout = pd.read_parquet(run_dir / "train" / "holdout")
    answer = infer(project["port"], holdout, model_features)
    assert answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert set(outputs) == {"prediction", "probability_0", "probability_1"}  # the label's own values
    assert set(outputs["prediction"]["data"]) <= {0, 1} and outputs["prediction"]["datatype"] == "INT64"


def _latest_side_values(project, small_tables) -> tuple[dict[str, list[str]], pd.DataFrame, pd.DataFrame]:
    """Each view's features and, read with pandas from the side tables themselves, the latest row
    per key: what Feast's online store must hold after the features step materialized it."""
    from cnai.core.sources import package_file

    data = project["raw"]["data"]
    columns: dict[str, list[str]] = {}
    for ref in data["feature_refs"]:
        view, feature = ref.split(":")
        columns.setdefault(view, []).append(feature)
    weather = pd.read_csv(small_tables["side"], parse_dates=["time_hour"])
    weather = weather.sort_values("time_hour").groupby("origin").tail(1).set_index("origin")
    airports = pd.read_csv(package_file(data["feature_sources"][1]["source"])).set_index("faa")
    return columns, weather, airports


def test_a_request_with_only_the_keys_gets_the_views_features_from_the_online_store(project, first_run, model_features,
                                                                                        small_tables):
    """Callers that have only the event send the views' join keys (origin, dest); the server reads
    each view's latest values from Feast's online store and answers as if they had been sent."""
    from cnai.backends.local.model_server import NOT_TRAFFIC_HEADER, v1_request

    columns, weather, airports = _latest_side_values(project, small_tables)
    looked_up = columns["origin_weather"] + columns["destination"]
    holdout = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/train/holdout"))).head(20)
    keys_only = holdout[list(dict.fromkeys([c for c in model_features if c not in looked_up] + ["dest"]))]
    assert "origin" in keys_only and not set(looked_up) & set(keys_only)
    full = keys_only.copy()
    for feature in columns["origin_weather"]:
        full[feature] = holdout["origin"].map(weather[feature]).to_numpy()
    for feature in columns["destination"]:
        full[feature] = holdout["dest"].map(airports[feature]).to_numpy()
    assert full[looked_up].notna().any().all(), "the check needs keys that are in the side tables"

    base, headers = f"http://127.0.0.1:{project['port']}", {NOT_TRAFFIC_HEADER: "1"}

    def answer(protocol: str, frame: pd.DataFrame):
        url = f"{base}/v2/models/flight-delay/infer" if protocol == "v2" else f"{base}/v1/models/flight-delay:predict"
        body = v2_request(frame) if protocol == "v2" else v1_request(frame)
        response = requests.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        reply = response.json()
        return {o["name"]: o["data"] for o in reply["outputs"]} if protocol == "v2" else reply

    for protocol in ("v2", "v1"):
        assert answer(protocol, keys_only) == answer(protocol, full[list(dict.fromkeys(model_features + ["dest"]))]), protocol
    # A v1 batch mixing both (found by a new user: refused, 'instance 0 lacks feature ...', though
    # that instance alone is answered): each instance answered as if it came alone.
    mixed = v1_request(keys_only.head(10))["instances"] + v1_request(full[list(dict.fromkeys(model_features + ["dest"]))].iloc[10:])["instances"]
    response = requests.post(f"{base}/v1/models/flight-delay:predict", json={"instances": mixed}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == answer("v1", full[list(dict.fromkeys(model_features + ["dest"]))])

    # A key the store has no row for is scored with its view's features null, as training joins such
    # a key, and the answer says which instances and views (found by a new user: said nothing).
    unknown = keys_only.head(3).copy()
    unknown.iloc[1, unknown.columns.get_loc("dest")] = "ZZZ"
    unknown.iloc[2, unknown.columns.get_loc("dest")] = None  # a key sent as null looks nothing up either
    v1 = requests.post(f"{base}/v1/models/flight-delay:predict", json=v1_request(unknown), headers=headers, timeout=30)
    assert v1.status_code == 200 and v1.json()["features_not_found"] == {"destination": [1, 2]}, v1.text
    v2 = requests.post(f"{base}/v2/models/flight-delay/infer", json=v2_request(unknown.head(2)), headers=headers, timeout=30)
    assert v2.status_code == 200 and json.loads(v2.json()["parameters"]["features_not_found"]) == {"destination": [1]}
    assert "features_not_found" not in answer("v1", keys_only)

    # Without the key its features cannot be looked up: refused, naming what to send.
    response = requests.post(f"{base}/v1/models/flight-delay:predict", headers=headers, timeout=30,
                             json=v1_request(keys_only.drop(columns=["dest"]).head(1)))
    assert response.status_code == 400 and "['dest']" in response.json()["error"] and "online store" in response.json()["error"]


def _serve_until_ready(command: list[str], port: int, log: Path, env: dict | None = None):
    import subprocess
    import time

    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/models/flight-delay/ready", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"not ready in 90 s: {log.read_text()[-2000:]}")


def test_the_cluster_transformer_fills_the_features_in_front_of_a_predictor_without_them(
        project, first_run, model_features, small_tables, tmp_path):
    """The cluster's topology, run for real: the predictor as KServe starts it (`--model_dir`, no
    Feast), and the InferenceService's transformer as KServe starts it (`--model_name`,
    `--predictor_host`) on the run's applied Feast repo."""
    import sys

    from cnai.backends.local.model_server import v1_request
    from conftest import free_port

    columns, weather, airports = _latest_side_values(project, small_tables)
    looked_up = columns["origin_weather"] + columns["destination"]
    store = next((project["home"] / "pipeline_root").glob("*/feast-features/feature_store"))
    holdout = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/train/holdout"))).head(10)
    keys_only = holdout[list(dict.fromkeys([c for c in model_features if c not in looked_up] + ["dest"]))]
    predictor_port, transformer_port = free_port(), free_port()
    model_dir = project["home"] / "serving" / "models" / "flight-delay" / "v1"
    predictor = _serve_until_ready(
        [sys.executable, "-m", "cnai.backends.local.model_server", "--model_name", "flight-delay", "--model_dir",
         str(model_dir), "--http_port", str(predictor_port)], predictor_port, tmp_path / "predictor.log",
        env={"CNAI_SERVING_HOST": "127.0.0.1"})
    try:
        transformer = _serve_until_ready(
            [sys.executable, "-m", "cnai.backends.kubeflow.feast_transformer", "--model_name", "flight-delay",
             "--predictor_host", f"127.0.0.1:{predictor_port}", "--feature_store", str(store),
             "--http_port", str(transformer_port)], transformer_port, tmp_path / "transformer.log")
        try:
            alone = requests.post(f"http://127.0.0.1:{predictor_port}/v1/models/flight-delay:predict",
                                  json=v1_request(keys_only), timeout=30)
            assert alone.status_code == 400, "the predictor alone has no online store"
            through = requests.post(f"http://127.0.0.1:{transformer_port}/v1/models/flight-delay:predict",
                                    json=v1_request(keys_only), timeout=30)
            assert through.status_code == 200, through.text
            # The online store holds the latest values, the holdout those as of each flight: compare
            # with the predictor's answer on the latest values, filled in with pandas.
            latest = keys_only.copy()
            for feature in columns["origin_weather"]:
                latest[feature] = holdout["origin"].map(weather[feature]).to_numpy()
            for feature in columns["destination"]:
                latest[feature] = holdout["dest"].map(airports[feature]).to_numpy()
            expected = requests.post(f"http://127.0.0.1:{predictor_port}/v1/models/flight-delay:predict", timeout=30,
                                     json=v1_request(latest[model_features])).json()
            assert through.json()["predictions"] == expected["predictions"]
            v2 = requests.post(f"http://127.0.0.1:{transformer_port}/v2/models/flight-delay/infer",
                               json=v2_request(keys_only), timeout=30)
            assert v2.status_code == 200, v2.text
            assert next(o["data"] for o in v2.json()["outputs"] if o["name"] == "prediction") == expected["predictions"]
            # A key without a row in the store: said as the local server says it.
            unknown = keys_only.head(3).copy()
            unknown.iloc[2, unknown.columns.get_loc("dest")] = "ZZZ"
            for url, body in (("v1/models/flight-delay:predict", v1_request(unknown)),
                              ("v2/models/flight-delay/infer", v2_request(unknown))):
                reply = requests.post(f"http://127.0.0.1:{transformer_port}/{url}", json=body, timeout=30)
                assert reply.status_code == 200, reply.text
                said = reply.json().get("features_not_found") or reply.json()["parameters"]["features_not_found"]
                assert (json.loads(said) if isinstance(said, str) else said) == {"destination": [2]}, url
        finally:
            transformer.terminate()
            transformer.wait(timeout=30)
    finally:
        predictor.terminate()
        predictor.wait(timeout=30)


def test_report_shows_every_step_in_chromium(project, first_run, tmp_path):
    """`cnai report` for the first run, loaded in headless Chromium (Debian's; `make test` installs it)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed for this test: `make test` installs it (apt-get install chromium)"
    assert main(["--config", str(project["config"]), "report", "--no-open"]) == 0
    page = project["home"] / "report.html"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    for section in ("run-summary", "step-ingest", "step-validate", "step-features", "step-tune", "step-train",
                    "step-evaluate", "step-register", "step-run_summary", "step-deploy", "step-smoke_test"):
        assert f'id="{section}"' in dom, section
    for shown in ("Run summary: carbon per step", "Expectation Validation Result", "Training set:", "per trial",
                  "predicted 1", "Evaluation gate: DEPLOY", "Model card: flight-delay v1", "All answers match",
                  "Run summary: carbon per step</h1>"):
        assert shown in dom, shown


def test_second_run_is_cached_and_keeps_production(project, first_run, model_features):
    assert main(["--config", str(project["config"]), "run"]) == 0
    events = events_of_last_run(project["home"])
    # Unchanged inputs: the data and training steps come from KFP's cache; the gate re-checks and,
    # the candidate being the production model itself, the deploy branch is skipped.
    assert completed_steps(events) == {"evaluate": 1, "register": 1, "run_summary": 1}
    evaluate = next(e for e in events if e["job"]["name"].endswith(".evaluate") and e["eventType"] == "COMPLETE")
    facts = evaluate["run"]["facets"]["cnai_step"]["facts"]
    assert facts["deploy"] is False and "not better" in facts["reason"]
    register = next(e for e in events if e["job"]["name"].endswith(".register") and e["eventType"] == "COMPLETE")
    assert register["run"]["facets"]["cnai_step"]["facts"]["reused_existing_version"] is True
    run_dir = max((project["home"] / "pipeline_root").iterdir(), key=lambda p: p.stat().st_mtime)
    holdout = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/train/holdout")))
    assert not (run_dir / "deploy").exists()
    assert infer(project["port"], holdout, model_features)["model_version"] == "1"
    # The report says of the deploy and its smoke test what the console's table says (a new user
    # read "cached" there beside "skipped (gate: keep production)" in the console).
    assert main(["--config", str(project["config"]), "report", "--no-open"]) == 0
    page = (project["home"] / "report.html").read_text()
    for step in ("deploy", "smoke_test"):
        assert f"<td><a href='#step-{step}'>{step}</a></td><td>skipped (gate: keep production) (shown: its last run," in page


def test_the_run_is_in_mlflow_tracking_with_its_registered_model_nested(project, first_run):
    """MLflow's UI lists and compares pipeline runs: parameters, per-step duration and carbon, the
    holdout and gate scores, and the register step's run (the version's source) under it."""
    from mlflow.tracking import MlflowClient

    run_id = next(e["run"]["facets"]["parent"]["run"]["runId"] for e in first_run if "parent" in e["run"]["facets"])
    uri = f"sqlite:///{project['home'] / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("cnai/flight-delay")
    [run] = client.search_runs([experiment.experiment_id], f"tags.`cnai.pipeline` = 'cnai-training' and "
                                                           f"tags.`cnai.pipeline_run_id` = '{run_id}'")
    assert run.data.tags["cnai.status"] == "succeeded" and run.data.tags["cnai.registered_version"] == "1"
    assert run.data.params["model_name"] == "flight-delay" and "origin_weather" in run.data.params["feature_views"]
    energy = sum(e["run"]["facets"]["cnai_carbon"]["energy_kwh"] for e in first_run if e["eventType"] == "COMPLETE")
    assert abs(run.data.metrics["total.energy_kwh"] - energy) < 1e-9 and run.data.metrics["train.duration_s"] > 0
    assert 0.5 < run.data.metrics["holdout.roc_auc"] <= 1 and "gate.candidate_score" in run.data.metrics
    version = client.get_model_version("flight-delay", "1")
    assert client.get_run(version.run_id).data.tags["mlflow.parentRunId"] == run.info.run_id


def test_failing_validation_stops_the_pipeline_and_serving_continues(project, first_run, model_features, tmp_path, capsys):
    suite = json.loads((REPO / "expectations" / "flights.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_between", "kwargs": {"column": "distance", "max_value": 50},
                                  "meta": {"severity": "critical"}})
    (tmp_path / "strict.json").write_text(json.dumps(suite))
    config = dict(project["raw"], data=dict(project["raw"]["data"], expectation_suite=str(tmp_path / "strict.json")))
    (tmp_path / "cnai.yaml").write_text(yaml.safe_dump(config))
    assert main(["--config", str(tmp_path / "cnai.yaml"), "run"]) == 1
    assert "Pipeline FAILED" in capsys.readouterr().err
    events = events_of_last_run(project["home"])
    failed = [e for e in events if e["eventType"] == "FAIL"]
    assert [e["job"]["name"].rsplit(".", 1)[-1] for e in failed] == ["validate"]
    message = failed[0]["run"]["facets"]["errorMessage"]["message"]
    assert "column 'distance': expect_column_values_to_be_between" in message
    assert "features" not in completed_steps(events)
    # MLflow's own status says so too (its UI and searches read it; a trial found FINISHED)
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project['home'] / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = next(e["run"]["facets"]["parent"]["run"]["runId"] for e in events if "parent" in e["run"]["facets"])
    [run] = client.search_runs([client.get_experiment_by_name("cnai/flight-delay").experiment_id],
                               f"tags.`cnai.pipeline_run_id` = '{run_id}' and tags.`cnai.pipeline` = 'cnai-training'")
    assert run.info.status == "FAILED" and run.data.tags["cnai.status"] == "failed"
    holdout = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/train/holdout")))
    assert infer(project["port"], holdout, model_features)["model_version"] == "1"


def test_lineage_traces_the_served_model_to_its_source_files(project, first_run, capsys, small_tables):
    assert main(["--config", str(project["config"]), "lineage"]) == 0
    trace = capsys.readouterr().out
    for expected in ("serves version 1", "registered version 1", "written by train", "written by features",
                     "written by validate", "written by ingest", small_tables["events"].name, small_tables["side"].name):
        assert expected in trace, expected


def _send(project, frame: pd.DataFrame, features: list[str]) -> str:
    import datetime as dt

    from examples.flights.drift_demo import send_traffic

    start = dt.datetime.now(dt.UTC).isoformat()
    send_traffic(f"http://127.0.0.1:{project['port']}", "flight-delay", frame[features])
    return start


def _monitor(project, since: str) -> list[dict]:
    from cnai.core.config import load_config
    from cnai.orchestration.monitor import monitor

    log_dir = project["home"] / "serving" / "inference_log" / "flight-delay"
    ok, _ = monitor(load_config(project["config"]), project["config"], str(log_dir), since=since)
    assert ok
    return events_of_last_run(project["home"])


def test_monitoring_without_drift_skips_retraining(project, first_run, model_features):
    reference = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/feast-features/training_set")))
    since = _send(project, reference.sample(600, random_state=1), model_features)
    events = _monitor(project, since)
    assert completed_steps(events) == {"drift_check": 1}
    drift = next(e for e in events if e["eventType"] == "COMPLETE")
    assert drift["run"]["facets"]["cnai_step"]["facts"]["drift_detected"] is False
    assert drift["run"]["facets"]["cnai_step"]["facts"]["current_rows"] == 600
    # The report of this run says the retraining steps were skipped, not cached (a new user's finding).
    assert main(["--config", str(project["config"]), "report", "--no-open"]) == 0
    page = (project["home"] / "report.html").read_text()
    assert "skipped (no drift) (shown: its last run," in page and "cached (computed in run" not in page


def test_monitoring_with_drift_retrains_behind_the_gate(project, first_run, model_features):
    reference = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/feast-features/training_set")))
    shifted = reference.sample(600, random_state=2)
    shifted = shifted.assign(temp=shifted.temp + 25, dewp=shifted.dewp + 25, wind_speed=shifted.wind_speed * 3,
                             visib=shifted.visib / 3, hour=20)
    since = _send(project, shifted, model_features)
    events = _monitor(project, since)
    steps = completed_steps(events)
    drift = next(e for e in events if e["job"]["name"].endswith(".drift_check") and e["eventType"] == "COMPLETE")
    assert drift["run"]["facets"]["cnai_step"]["facts"]["drift_detected"] is True
    # The nested training pipeline ran: its data steps from cache (same sources), then the gate,
    # which keeps production because the retrained model is the same model.
    assert steps == {"drift_check": 1, "evaluate": 1, "register": 1, "run_summary": 1}
    holdout = pd.read_parquet(next((project["home"] / "pipeline_root").glob("*/train/holdout")))
    assert infer(project["port"], holdout, model_features)["model_version"] == "1"
    lineage = drift["inputs"]
    assert {d["facets"]["cnai_content"]["argument"] for d in lineage} == {"current", "reference", "model"}


def test_monitoring_raw_events_types_and_joins_them_as_training_does(project, first_run, small_tables):
    """`cnai monitor --current <raw events file>`: the events as ingested (types, derived columns
    such as day_of_week) and joined with the feature views before the drift check, which then sees
    the same distribution training saw: no drift."""
    from cnai.core.config import load_config
    from cnai.orchestration.monitor import monitor

    raw = small_tables["events"]
    ok, _ = monitor(load_config(project["config"]), project["config"], str(raw))
    assert ok
    events = [json.loads(line) for line in (project["home"] / "lineage" / "events.jsonl").read_text().splitlines()]
    prepared = next(e for e in reversed(events) if e["job"]["name"].endswith(".prepare_current") and e["eventType"] == "COMPLETE")
    assert prepared["run"]["facets"]["cnai_step"]["facts"]["feature_views"] == 2
    drift = next(e for e in reversed(events) if e["job"]["name"].endswith(".drift_check") and e["eventType"] == "COMPLETE")
    facts = drift["run"]["facets"]["cnai_step"]["facts"]
    assert facts["current_rows"] == sum(1 for _ in raw.open()) - 1 and facts["drift_detected"] is False
    [current] = [d for d in drift["inputs"] if d["facets"]["cnai_content"]["argument"] == "current"]
    assert "monitoring/current-" in current["name"]


# What a plotted chart has once drawn: lines with a path, points, bars, or a heatmap's image.
MARKS_JS = ("el => Array.from(el.querySelectorAll('.main-svg path.js-line, .main-svg .point path, .main-svg path.point, "
            ".main-svg .hm image')).filter(n => n.tagName === 'image' || (n.getAttribute('d') || '').length > 4).length")


def test_cnai_ui_in_chromium_draws_the_run_its_charts_lineage_and_monitoring(project, first_run):
    """`cnai ui` as a person uses it, in Debian's chromium driven by Playwright (no browser download):
    the runs, a run's DAG with a node per step, a step's charts, the lineage graph and the
    monitoring history all draw marks, nothing logs an error, and MLflow's UI answers beside it.
    Screenshots go to build/test-artifacts/ui/."""
    import subprocess
    import sys
    import time

    from playwright.sync_api import sync_playwright

    from cnai.orchestration.lineage import lineage_chain
    from conftest import free_port

    port, mlflow_port = free_port(), free_port()
    shots = REPO / "build" / "test-artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    log = shots / "cnai-ui.log"
    process = subprocess.Popen([sys.executable, "-m", "cnai.cli", "--config", str(project["config"]), "ui", "--port", str(port),
                                "--mlflow-port", str(mlflow_port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(base, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            def charts_drawn(name: str, expected: int) -> None:
                page.wait_for_selector(".js-plotly-plot")
                charts = page.query_selector_all(".chart")
                assert len(charts) == expected, (name, len(charts))
                for chart in charts:
                    assert chart.evaluate(MARKS_JS) > 0, f"{name}: chart {chart.get_attribute('id')} is an empty frame"
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            page.goto(base)
            charts_drawn("runs", 1)
            page.click(f"a[href='/runs/{first_run[-1]['run']['facets']['parent']['run']['runId']}']")
            charts_drawn("run", 2)
            nodes = page.eval_on_selector("#dag", "el => el.data[1].x.length")
            assert nodes == len(STEPS), nodes  # a node per step, the deploy branch included
            page.click(".steps a:text-is('train')")
            charts_drawn("train", 3)  # ROC, precision-recall, confusion matrix
            assert "ROC curve" in page.content() and "Confusion matrix" in page.content()
            # The curve drawn is the model's: its area is the holdout ROC AUC the train step reported.
            import numpy as np

            fpr, tpr = page.eval_on_selector("#chart-0", "el => [Array.from(el.data[0].x), Array.from(el.data[0].y)]")
            train = next(e for e in first_run if e["job"]["name"].endswith(".train") and e["eventType"] == "COMPLETE")
            assert abs(np.trapezoid(tpr, fpr) - train["run"]["facets"]["cnai_step"]["facts"]["scores"]["roc_auc"]) < 1e-6
            page.go_back()
            page.click(".steps a:text-is('tune')")
            charts_drawn("tune", 1)
            page.goto(f"{base}/lineage")
            charts_drawn("lineage", 1)
            steps_in_chain = sum(1 for _, event, _ in lineage_chain("flight-delay") if "source" not in event and "seen" not in event)
            shown = page.eval_on_selector("#lineage", "el => el.data[1].marker.symbol.filter(s => s === 'circle').length")
            assert shown == steps_in_chain >= 6
            page.goto(f"{base}/monitoring")
            charts_drawn("monitoring", 1)
            assert page.locator("table tr").count() >= 3  # the header and the two drift checks above
            browser.close()
        assert not errors, errors
        deadline = time.monotonic() + 90
        while True:  # MLflow's UI, on the same store
            try:
                if requests.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (REPO / "build").as_posix()
            time.sleep(1)
        experiments = requests.get(f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/get-by-name",
                                   params={"experiment_name": "cnai/flight-delay"}, timeout=10)
        assert experiments.status_code == 200, experiments.text
    finally:
        import signal

        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
