"""`cnai schedule` against a loopback server speaking KFP's v2beta1 REST API.

No live KFP server is used. Every request body is parsed with kfp-server-api's own models (the
API's OpenAPI types) and must survive that round-trip unchanged, so a field the API does not know
fails the test; uploaded pipelines must parse as a PipelineSpec.
"""

from __future__ import annotations

import json
import threading
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from cnai.cli import main
from cnai.core.config import ScheduleConfig
from conftest import REPO

API = "/apis/v2beta1"


def _int64_as_text(value):
    """proto-JSON carries int64 as text; the API accepts either spelling."""
    if isinstance(value, dict):
        return {k: _int64_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_int64_as_text(v) for v in value]
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def as_model(body: dict, model: str):
    """Parse with kfp-server-api's model; the round-trip must not drop or change anything."""
    client = kfp_server_api.ApiClient()
    parsed = client.deserialize(SimpleNamespace(data=json.dumps(body)), model)
    assert _int64_as_text(client.sanitize_for_serialization(parsed)) == _int64_as_text(body), \
        f"fields the {model} model does not know or types it refuses: {body}"
    return parsed


class FakeKfp:
    def __init__(self) -> None:
        self.uploaded_targets: list[str] = []
        self.experiments, self.pipelines, self.versions, self.recurring_runs, self.requests = {}, {}, {}, [], []

    def matches(self, query: dict, items: dict) -> list[dict]:
        predicates = json.loads(query.get("filter", ["{}"])[0] or "{}").get("predicates", [])
        names = [p.get("stringValue", p.get("string_value")) for p in predicates if p.get("key") in ("display_name", "name")]
        return [i for i in items.values() if not names or i["display_name"] in names]

    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        self.requests.append((method, path))
        if method == "GET" and path == f"{API}/healthz":
            return {"multi_user": False}
        if path == f"{API}/experiments":
            if method == "GET":
                return {"experiments": self.matches(query, self.experiments)} if self.matches(query, self.experiments) else {}
            experiment = as_model(json.loads(body), "V2beta1Experiment").to_dict()
            experiment = {"experiment_id": str(uuid.uuid4()), "display_name": experiment["display_name"]}
            self.experiments[experiment["experiment_id"]] = experiment
            return experiment
        if method == "GET" and path == f"{API}/pipelines":
            found = self.matches(query, self.pipelines)
            return {"pipelines": found, "total_size": len(found)} if found else {}
        if method == "POST" and path in (f"{API}/pipelines/upload", f"{API}/pipelines/upload_version"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body)
            package = next(p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "uploadfile")
            spec = json_format.ParseDict(next(yaml.safe_load_all(package.get_payload(decode=True))), pipeline_spec_pb2.PipelineSpec())
            if path.endswith("upload"):
                pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": query["name"][0]}
                self.pipelines[pipeline["pipeline_id"]] = pipeline
                pipeline_id = pipeline["pipeline_id"]
            else:
                pipeline_id = query["pipelineid"][0]
            version = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()),
                       "display_name": query["name"][0], "spec_name": spec.pipeline_info.name}
            self.uploaded_targets.append(spec.root.input_definitions.parameters["target"].default_value.string_value)
            self.versions.setdefault(pipeline_id, []).append(version)
            return as_model(self.pipelines[pipeline_id] if path.endswith("upload") else
                            {k: v for k, v in version.items() if k != "spec_name"},
                            "V2beta1Pipeline" if path.endswith("upload") else "V2beta1PipelineVersion").to_dict()
        if method == "GET" and path.startswith(f"{API}/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[-2]
            return {"pipeline_versions": [{k: v for k, v in item.items() if k != "spec_name"}
                                          for item in self.versions.get(pipeline_id, [])]}
        if method == "POST" and path == f"{API}/recurringruns":
            raw = json.loads(body)
            as_model(raw, "V2beta1RecurringRun")
            self.recurring_runs.append(raw)
            return {**raw, "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED"}
        raise KeyError(f"{method} {path}")


@pytest.fixture
def kfp_api():
    fake = FakeKfp()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method):
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                answer, status = fake.handle(method, url.path, parse_qs(url.query), self.headers, body), 200
            except (KeyError, ValueError, AssertionError) as exc:
                answer, status = {"error": str(exc), "code": 3}, 400
                fake.requests.append(("REJECTED", str(exc)))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_schedule_uploads_and_creates_recurring_runs(kfp_api, tmp_path, capsys):
    fake, host = kfp_api
    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    config["schedule"].update(training_cron="0 0 3 * * 0", parameters={"registry_uri": "https://model-registry:8080"})
    (tmp_path / "cnai.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "flights.json").write_text((REPO / "expectations" / "flights.json").read_text())
    args = ["--config", str(tmp_path / "cnai.yaml"), "schedule", "--host", host, "--output-dir", str(tmp_path / "build")]

    assert main(args) == 0
    assert not [r for r in fake.requests if r[0] == "REJECTED"], fake.requests
    runs = {run["display_name"].split(" ")[0]: run for run in fake.recurring_runs}
    assert set(runs) == {"cnai-monitoring", "cnai-training"}
    nightly = runs["cnai-monitoring"]
    assert nightly["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert int(nightly["max_concurrency"]) == 1
    assert nightly["no_catchup"] is True and nightly["mode"] == "ENABLE"
    assert nightly["experiment_id"] in fake.experiments
    assert nightly["runtime_config"]["parameters"]["registry_uri"] == "https://model-registry:8080"
    assert nightly["service_account"] == "cnai-pipeline-runner", "steps run with the manifests' least-privilege identity"
    reference = nightly["pipeline_version_reference"]
    assert reference["pipeline_version_id"] in {v["pipeline_version_id"] for v in fake.versions[reference["pipeline_id"]]}
    assert {v["spec_name"] for vs in fake.versions.values() for v in vs} == {"cnai-monitoring", "cnai-training"}
    assert "recurring run" in capsys.readouterr().out
    assert set(fake.uploaded_targets) == {"kubeflow"}, "scheduled pipelines use the cluster's services"

    # Again: the pipelines exist, so new versions are uploaded beside the old ones.
    fake.recurring_runs.clear()
    assert main(args) == 0
    assert ("POST", f"{API}/pipelines/upload_version") in fake.requests
    assert all(len(versions) == 2 for versions in fake.versions.values())
    assert len(fake.experiments) == 1, "the experiment is reused, not created again"


def test_cron_must_have_kfps_six_fields():
    with pytest.raises(ValueError, match="6 \\(seconds first\\)"):
        ScheduleConfig(monitoring_cron="0 2 * * *")


def test_no_kfp_api_at_the_host_is_said_in_a_line(tmp_path):
    """From a new user's trial: `cnai schedule` without a cluster ended in an 80-line traceback of
    urllib3's retries (kfp.Client's health check)."""
    import socket

    from cnai.core.errors import ClusterError
    from cnai.orchestration.schedule import schedule_pipelines

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing answers there
    packages = {"cnai-monitoring": tmp_path / "m.yaml", "cnai-training": tmp_path / "t.yaml"}
    with pytest.raises(ClusterError, match=rf"^no Kubeflow Pipelines API answers at http://127.0.0.1:{port} \(ConnectionError\): "
                                           r"port-forward .* the pipelines are compiled \(.*m\.yaml, .*t\.yaml\)"):
        schedule_pipelines(ScheduleConfig(), packages, host=f"http://127.0.0.1:{port}")
