"""The shared lineage and carbon mechanism, outside any pipeline."""

import json
from pathlib import Path

import pytest

from cnai.core.artifacts import content_hash
from cnai.core.tracking import LocalArtifact, event_outputs, read_events, run_step


class MetricsArtifact(LocalArtifact):
    schema_title = "system.Metrics"


def double(source: str, doubled: str, metrics: str, factor: int) -> dict:
    text = Path(source).read_text() * factor
    Path(doubled).write_text(text)
    Path(metrics).write_text("{}")
    return {"length": len(text), "output_metadata": {"doubled": {"length": len(text)}, "metrics": {"length": len(text)}}}


def test_step_records_lineage_and_carbon(tmp_path):
    (tmp_path / "in.txt").write_text("abc")
    doubled, metrics = LocalArtifact(str(tmp_path / "out.txt")), MetricsArtifact(str(tmp_path / "m.json"))
    before = len(read_events())
    facts = run_step("double", double, inputs={"source": str(tmp_path / "in.txt")},
                     outputs={"doubled": doubled, "metrics": metrics}, params={"factor": 2})
    assert facts == {"length": 6}
    start, complete = read_events()[before:]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["inputs"][0]["facets"]["cnai_content"]["content_hash"] == content_hash(tmp_path / "in.txt")
    output = next(o for o in complete["outputs"] if o["facets"]["cnai_content"]["argument"] == "doubled")
    assert output["facets"]["cnai_content"]["content_hash"] == content_hash(tmp_path / "out.txt")
    carbon = complete["run"]["facets"]["cnai_carbon"]
    assert carbon["energy_kwh"] > 0 and carbon["emissions_kg_co2eq"] > 0
    step = complete["run"]["facets"]["cnai_step"]
    assert step["parameters"] == {"factor": 2} and step["duration_s"] > 0 and step["code_version"]
    # Artifact metadata (what KFP stores in ML Metadata) carries the same record...
    assert doubled.metadata["content_hash"] == content_hash(tmp_path / "out.txt")
    assert doubled.metadata["carbon"]["energy_kwh"] == carbon["energy_kwh"]
    assert doubled.metadata["inputs"]["source"]["content_hash"] == content_hash(tmp_path / "in.txt")
    assert doubled.metadata["length"] == 6
    # ...except metrics artifacts, whose every entry the KFP UI shows as a metric.
    assert metrics.metadata == {"length": 6}


def test_failed_step_emits_fail_with_error(tmp_path):
    def broken(out: str) -> None:
        raise ValueError("column 'x' is broken")

    before = len(read_events())
    with pytest.raises(ValueError):
        run_step("broken", broken, outputs={"out": LocalArtifact(str(tmp_path / "o"))})
    start, fail = read_events()[before:]
    assert fail["eventType"] == "FAIL"
    assert "column 'x' is broken" in fail["run"]["facets"]["errorMessage"]["message"]
    assert "cnai_carbon" in fail["run"]["facets"]
    # No stack frames: events leave the machine, and frames name local paths (the home directory).
    assert str(Path(__file__).parent) not in json.dumps(fail) and 'File "' not in json.dumps(fail)


def test_events_name_local_files_without_the_users_home(tmp_path, monkeypatch):
    """Events leave this machine: a path under the home directory is written `~/...` (in datasets
    and in a failure's message), and read back as the real path; a home with a space too."""
    tmp_path = tmp_path / "the home"
    tmp_path.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "in.txt").write_text("abc")
    before = len(read_events())
    run_step("double", double, inputs={"source": str(tmp_path / "in.txt")},
             outputs={"doubled": LocalArtifact(str(tmp_path / "out.txt")), "metrics": MetricsArtifact(str(tmp_path / "m.json"))},
             params={"factor": 2})

    def missing(source: str, out: str, registry_uri: str) -> None:
        raise FileNotFoundError(f"{tmp_path / 'nowhere.csv'}: no such file")

    with pytest.raises(FileNotFoundError):
        run_step("missing", missing, inputs={"source": str(tmp_path / "in.txt")}, outputs={"out": LocalArtifact(str(tmp_path / "o"))},
                 params={"registry_uri": f"sqlite:///{tmp_path}/mlflow.db"})
    events = read_events()[before:]
    assert str(tmp_path) not in json.dumps(events)
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    assert [d["name"] for d in complete["inputs"]] == ["~/in.txt"]
    assert event_outputs(complete)["doubled"] == tmp_path / "out.txt"
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert "~/nowhere.csv: no such file" in fail["run"]["facets"]["errorMessage"]["message"]
    assert fail["run"]["facets"]["cnai_step"]["parameters"] == {"registry_uri": "sqlite:///~/mlflow.db"}


def test_content_hash_ignores_spark_bookkeeping_and_part_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for directory, part in ((a, "part-0001-x.parquet"), (b, "part-0001-y.parquet")):
        directory.mkdir()
        (directory / part).write_bytes(b"data")
        (directory / "_SUCCESS").write_text("")
    (b / ".part-0001-y.parquet.crc").write_bytes(b"crc")
    assert content_hash(a) == content_hash(b)
    (b / "part-0002.parquet").write_bytes(b"more")
    assert content_hash(a) != content_hash(b)


def test_events_go_to_an_openlineage_http_endpoint_when_configured(tmp_path, monkeypatch):
    """Marquez's API (POST /api/v1/lineage), played by a real HTTP server on loopback."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received = []

    class Marquez(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Marquez)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        monkeypatch.setenv("CNAI_LINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        before = len(read_events())
        (tmp_path / "in.txt").write_text("x")
        run_step("remote", double, inputs={"source": str(tmp_path / "in.txt")},
                 outputs={"doubled": LocalArtifact(str(tmp_path / "o")), "metrics": LocalArtifact(str(tmp_path / "m"))},
                 params={"factor": 1})
    finally:
        server.shutdown()
        thread.join()
    assert [(path, event["eventType"]) for path, _, event in received] == [("/api/v1/lineage", "START"), ("/api/v1/lineage", "COMPLETE")]
    assert received[0][1].startswith("application/json")
    assert received[1][2]["run"]["facets"]["cnai_carbon"]["energy_kwh"] > 0
    assert len(read_events()) == before, "with an endpoint configured, nothing goes to the file"


def test_events_equal_what_the_official_openlineage_client_builds(monkeypatch):
    """We write events without importing openlineage-python (it costs a step ~0.35 s); the
    client's own classes, serialized by its Serde, must give the same event."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import DatasetFacet, RunFacet, error_message_run, parent_run
    from openlineage.client.serde import Serde

    from cnai.core import tracking

    monkeypatch.setenv("CNAI_PIPELINE_RUN_ID", "0193a1b2-0000-7000-8000-000000000001")
    monkeypatch.setenv("CNAI_PIPELINE_NAME", "training")
    run_id = "0193a1b2-0000-7000-8000-000000000002"
    carbon = {"energy_kwh": 1e-6, "emissions_kg_co2eq": 2e-7, "cpu_power_w": 42.5, "country_iso_code": "DEU", "tracker": "offline"}
    step = {"step": "train", "parameters": {"n": 3}, "code_version": "0.1.0", "started_at": "t0", "ended_at": "t1",
            "duration_s": 1.5, "facts": {"rows": 10}}
    error = tracking._error_facet(ValueError("column 'y' is broken"))
    ours = tracking.run_event("FAIL", "train", run_id, {"dataset": {"uri": "file:///data/in.parquet", "content_hash": "sha256:a"}},
                              {"model": {"uri": "s3://bucket/model", "content_hash": "sha256:b"}},
                              {**tracking._run_facets(carbon, step), "errorMessage": error})

    def custom(facet_class, name, **fields):
        facet = facet_class().with_additional_properties(**fields)
        facet._producer, facet._schemaURL = tracking.PRODUCER, tracking.FACET_SCHEMA + name
        return facet

    def dataset(cls, namespace, name, argument, digest):
        return cls(namespace=namespace, name=name,
                   facets={"cnai_content": custom(DatasetFacet, "ContentHashDatasetFacet", argument=argument, content_hash=digest)})

    theirs = Serde.to_dict(RunEvent(
        eventType=RunState.FAIL,
        eventTime=ours["eventTime"],
        run=Run(runId=run_id, facets={
            "cnai_carbon": custom(RunFacet, "CarbonRunFacet", **carbon),
            "cnai_step": custom(RunFacet, "StepRunFacet", **step),
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message="ValueError: column 'y' is broken", programmingLanguage="python", stackTrace=error["stackTrace"]),
            "parent": parent_run.ParentRunFacet(run=parent_run.Run(runId="0193a1b2-0000-7000-8000-000000000001"),
                                                job=parent_run.Job(namespace="cnai", name="training")),
        }),
        job=Job(namespace="cnai", name="training.train"),
        producer=tracking.PRODUCER,
        inputs=[dataset(InputDataset, "file", "/data/in.parquet", "dataset", "sha256:a")],
        outputs=[dataset(OutputDataset, "s3", "bucket/model", "model", "sha256:b")],
    ))
    # The spec's own facets carry the client as their producer and its newest facet schema
    # version; both are valid, so only those two fields may differ.
    for name in ("errorMessage", "parent"):
        theirs_facet, ours_facet = theirs["run"]["facets"][name], ours["run"]["facets"][name]
        assert theirs_facet["_schemaURL"].rsplit("/", 1)[1] == ours_facet["_schemaURL"].rsplit("/", 1)[1]
        theirs_facet["_producer"], theirs_facet["_schemaURL"] = ours_facet["_producer"], ours_facet["_schemaURL"]
    # The client also writes the optional empty facet maps of the parent's run and job.
    for part in ("run", "job"):
        assert theirs["run"]["facets"]["parent"][part].pop("facets") == {}
    assert ours == theirs


def test_cpu_model_is_what_codecarbon_would_detect():
    """We skip py-cpuinfo's slow detection (~1 s a step); the name fed to codecarbon's power table
    must stay the one it would have found itself."""
    from codecarbon.core.util import detect_cpu_model

    from cnai.core.tracking import cpu_model

    assert cpu_model() == detect_cpu_model()


def test_a_source_that_grows_while_read_fails_the_step_instead_of_recording_a_wrong_hash(tmp_path):
    """Ingest read 28,001 rows of a file still being written, and lineage kept the hash of the
    first 22,600: the hash must be of what was read, or the step must fail."""
    from cnai.core.errors import DataError

    source = tmp_path / "growing.csv"
    source.write_text("a\n1\n")

    def read_while_it_grows(source: str) -> dict:
        with open(source, "a") as handle:
            handle.write("2\n")  # the writer is not done yet
        return {}

    before = len(read_events())
    with pytest.raises(DataError, match="growing.csv: changed while the ingest step read it"):
        run_step("ingest", read_while_it_grows, inputs={"source": str(source)})
    assert [e["eventType"] for e in read_events()[before:]] == ["START", "FAIL"]


def test_a_symlink_loop_as_a_source_is_our_error_and_a_failed_step(tmp_path):
    from cnai.core.errors import DataError

    loop = tmp_path / "loop.csv"
    loop.symlink_to(tmp_path / "loop.csv")
    before = len(read_events())
    with pytest.raises(DataError, match="loop.csv: cannot be read"):
        run_step("ingest", lambda source: {}, inputs={"source": str(loop)})
    events = read_events()[before:]
    assert [e["eventType"] for e in events] == ["FAIL"] and "cannot be read" in json.dumps(events[0])


def test_lineage_names_the_registration_the_deploy_followed_not_a_later_one(tmp_path, monkeypatch):
    """A monitoring run retrained the same model and its register step found version 1 again: the
    trace then showed that later registration (and its run's data) under the earlier deploy."""
    import json

    from cnai.orchestration.lineage import lineage_chain

    monkeypatch.setenv("CNAI_HOME", str(tmp_path))

    def event(step: str, time: str, run: str, facts: dict, model: str = "m") -> dict:
        return {"eventType": "COMPLETE", "eventTime": time, "job": {"namespace": "cnai", "name": f"cnai.{step}"},
                "run": {"runId": run, "facets": {"cnai_step": {"facts": facts, "parameters": {"model_name": model}}}},
                "inputs": [], "outputs": []}

    events = [event("register", "2026-12-01T10:00:00Z", "first-register", {"version": "1"}),
              event("register", "2026-12-01T10:00:30Z", "other-model", {"version": "1"}, model="other"),
              event("deploy", "2026-12-01T10:01:00Z", "first-deploy", {"version": "1"}),
              event("register", "2026-12-02T03:00:00Z", "monitor-register", {"version": "1"})]
    (tmp_path / "lineage").mkdir()
    (tmp_path / "lineage" / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    chain = lineage_chain("m")
    assert [(e["run"]["runId"], link) for _, e, link in chain[:2]] == [
        ("first-deploy", "serves version 1"), ("first-register", "registered version 1")]
    # Found in a re-test: `cnai lineage --version 1` after version 2 was deployed said "serves".
    events.append(event("register", "2026-12-03T10:00:00Z", "second-register", {"version": "2"}))
    events.append(event("deploy", "2026-12-03T10:01:00Z", "second-deploy", {"version": "2"}))
    (tmp_path / "lineage" / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert lineage_chain("m", "1")[0][2] == "deployed version 1 (since replaced by version 2)"
    assert lineage_chain("m")[0][2] == "serves version 2"


def test_the_trace_of_a_model_whose_local_server_was_stopped_does_not_say_it_serves(tmp_path, monkeypatch):
    """A new user ran `cnai lineage` after `cnai stop`: it said "serves version 1"."""
    import json

    from cnai.orchestration.lineage import trace_served_model

    monkeypatch.setenv("CNAI_HOME", str(tmp_path))

    def event(step: str, time: str, target: str) -> dict:
        return {"eventType": "COMPLETE", "eventTime": time, "job": {"namespace": "cnai", "name": f"cnai.{step}"},
                "run": {"runId": f"{step}-{target}", "facets": {"cnai_step": {
                    "facts": {"version": "1"}, "parameters": {"model_name": "m", "target": target}}}},
                "inputs": [], "outputs": []}

    (tmp_path / "lineage").mkdir()
    for target, said in (("local", "deployed version 1 (no model server runs it now: `cnai serve` starts one) deploy"),
                         ("kubeflow", "serves version 1 deploy")):  # a cluster's InferenceService is not ours to look for here
        events = [event("register", "2026-12-01T10:00:00Z", target), event("deploy", "2026-12-01T10:01:00Z", target)]
        (tmp_path / "lineage" / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        assert trace_served_model("m").splitlines()[2].startswith(said)


def test_a_failed_runs_table_says_cached_for_a_step_the_cache_answered_and_not_run_after_the_failure(tmp_path, monkeypatch):
    """A run that failed at validate, with ingest from the cache, showed 'ingest not run'."""
    import json

    from cnai.orchestration.local_run import step_rows

    monkeypatch.setenv("CNAI_HOME", str(tmp_path))

    def event(step: str, kind: str) -> dict:
        return {"eventType": kind, "eventTime": "2026-12-05T10:00:00Z", "job": {"namespace": "cnai", "name": f"cnai.{step}"},
                "run": {"runId": step, "facets": {"parent": {"run": {"runId": "the-run"}}, "cnai_step": {"facts": {}},
                                                   "errorMessage": {"message": "DataError: no"}}},
                "inputs": [], "outputs": []}

    (tmp_path / "lineage").mkdir()
    (tmp_path / "lineage" / "events.jsonl").write_text(json.dumps(event("validate", "FAIL")) + "\n")
    rows = step_rows("the-run", ["ingest", "validate", "tune", "train"])
    assert [(r["step"], r["status"]) for r in rows] == [
        ("ingest", "cached"), ("validate", "FAILED"), ("tune", "not run"), ("train", "not run")]


def test_a_step_kfp_local_failed_after_its_work_was_recorded_is_failed_in_the_table(tmp_path, monkeypatch):
    """A step whose own work completed (a COMPLETE event) but which kfp.local then failed (writing
    its outputs: a holdout with one class once ended in protobuf's 'Fail to serialize NaN') showed
    'ran', and every later step 'cached'."""
    import json

    from cnai.orchestration.local_run import failed_task, step_rows

    monkeypatch.setenv("CNAI_HOME", str(tmp_path))

    def event(step: str, kind: str) -> dict:
        return {"eventType": kind, "eventTime": "2026-12-05T10:00:00Z", "job": {"namespace": "cnai", "name": f"cnai.{step}"},
                "run": {"runId": step, "facets": {"parent": {"run": {"runId": "the-run"}}, "cnai_step": {"facts": {}}}},
                "inputs": [], "outputs": []}

    (tmp_path / "lineage").mkdir()
    (tmp_path / "lineage" / "events.jsonl").write_text(json.dumps(event("tune", "COMPLETE")) + "\n" +
                                                       json.dumps(event("train", "COMPLETE")) + "\n")
    failure = RuntimeError("Pipeline \x1b[95m'p'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m. "
                           "Inner task failed: \x1b[96m'train'\x1b[0m.")
    rows = step_rows("the-run", ["ingest", "tune", "train", "evaluate", "smoke_test"], failed_task(failure))
    assert [(r["step"], r["status"]) for r in rows] == [
        ("ingest", "cached"), ("tune", "ran"), ("train", "FAILED"), ("evaluate", "not run"), ("smoke_test", "not run")]
    # A step that failed before its work began (no event of it at all) is named too.
    (tmp_path / "lineage" / "events.jsonl").write_text(json.dumps(event("tune", "COMPLETE")) + "\n")
    failure = RuntimeError("Pipeline 'p' finished with status FAILURE. Inner task failed: 'smoke-test'.")
    rows = step_rows("the-run", ["tune", "smoke_test"], failed_task(failure))
    assert [(r["step"], r["status"]) for r in rows] == [("tune", "ran"), ("smoke_test", "FAILED")]
    # Named as the step table names it (feast_features is the `features` step), KFP's suffix dropped.
    assert failed_task(RuntimeError("Inner task failed: 'feast-features-2'.")) == "features"
