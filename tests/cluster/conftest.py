"""A recording Kubernetes API server on loopback (the `kube_api` fixture), for the cluster path's tests.

It speaks the custom-objects REST API (`/apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>]`):
create (409 when the name exists), get (404), JSON merge patch, list with a label selector, and
records every request. It is not a mock of our code: the official `kubernetes` client sends real
HTTP to it. A test plays the controllers by registering `reconcile` callbacks that fill in
`status` the way Katib, Trainer or KServe would.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/status)?$")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies `application/merge-patch+json`."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


@dataclass
class KubeApi:
    objects: dict[tuple[str, str, str, str], dict] = field(default_factory=dict)  # (group, plural, ns, name)
    requests: list[Request] = field(default_factory=list)
    # plural -> callback(obj, api) run after every create/patch; it may edit obj["status"] or add objects
    reconcile: dict[str, Callable[[dict, KubeApi], None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def put(self, group: str, plural: str, obj: dict) -> None:
        meta = obj["metadata"]
        self.objects[(group, plural, meta["namespace"], meta["name"])] = obj

    def sent(self, method: str, plural: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and f"/{plural}" in r.path]

    def handle(self, method: str, raw_path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        parsed = urlparse(raw_path)
        data = json.loads(body) if body else None
        with self.lock:
            self.requests.append(Request(method, parsed.path, parse_qs(parsed.query), content_type, copy.deepcopy(data)))
            match = PATH.match(parsed.path)
            if not match:
                return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
            group, ns, plural, name = match["group"], match["ns"], match["plural"], match["name"]
            key = (group, plural, ns, name)
            if method == "POST":
                name = data["metadata"]["name"]
                key = (group, plural, ns, name)
                if key in self.objects:
                    return 409, {"kind": "Status", "reason": "AlreadyExists", "code": 409}
                data["metadata"].setdefault("namespace", ns)
                data["metadata"]["generation"] = 1
                self.objects[key] = data
                self._reconcile(plural, data)
                return 201, data
            if method == "GET" and name is None:
                selector = dict(item.split("=", 1) for item in (parse_qs(parsed.query).get("labelSelector", [""])[0]).split(",") if item)
                items = [o for (g, p, n, _), o in self.objects.items() if (g, p, n) == (group, plural, ns)
                         and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
                return 200, {"kind": "List", "items": items}
            if key not in self.objects:
                return 404, {"kind": "Status", "reason": "NotFound", "code": 404}
            if method == "GET":
                return 200, self.objects[key]
            if method == "PATCH":
                updated = merge_patch(self.objects[key], data)
                updated["metadata"]["generation"] = self.objects[key]["metadata"].get("generation", 1) + 1
                self.objects[key] = updated
                self._reconcile(plural, updated)
                return 200, updated
            if method == "DELETE":
                return 200, self.objects.pop(key)
        return 405, {"kind": "Status", "code": 405}

    def _reconcile(self, plural: str, obj: dict) -> None:
        if plural in self.reconcile:
            self.reconcile[plural](obj, self)


def start(api: KubeApi) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = api.handle(self.command, self.path, self.headers.get("Content-Type", ""),
                                         self.rfile.read(length))
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


# The Kubeflow SDK's TrainerClient reads the Trainer's version from this ConfigMap when it starts and
# only logs a warning when that is forbidden (kubeflow/trainer/backends/kubernetes/backend.py), so
# the runner gets no access to kubeflow-system.
TRAINER_VERSION_PROBE = "/api/v1/namespaces/kubeflow-system/configmaps/kubeflow-trainer-public"
VERBS = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
RBAC_FILE = Path(__file__).resolve().parents[2] / "manifests" / "base" / "rbac.yaml"


def verb_of(request: Request) -> str:
    if request.method == "GET":
        return "list" if PATH.match(request.path)["name"] is None else "get"
    return VERBS[request.method]


def runner_role_rules() -> list[dict]:
    documents = yaml.safe_load_all(RBAC_FILE.read_text())
    role = next(d for d in documents if d["kind"] == "Role" and d["metadata"]["name"] == "cnai-pipeline-runner")
    return role["rules"]


def allowed(group: str, resource: str, verb: str) -> bool:
    return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
               for rule in runner_role_rules())


@pytest.fixture
def kube_api(monkeypatch) -> KubeApi:
    """A fresh recording API server; `cnai.backends.kubeflow.kube` talks to it through CNAI_KUBE_API_URL.

    Afterwards every request it received must be one the pipeline runner's Role allows.
    """
    api = KubeApi()
    server = start(api)
    monkeypatch.setenv("CNAI_KUBE_API_URL", api.url)
    yield api
    server.shutdown()
    for request in api.requests:
        if request.path == TRAINER_VERSION_PROBE:
            continue
        match = PATH.match(request.path)
        permission = (match["group"], match["plural"], verb_of(request))
        assert allowed(*permission), f"{request.method} {request.path} needs {permission}, which {RBAC_FILE.name} does not grant"


MR_API = "/api/model_registry/v1"


@dataclass
class ModelRegistryApi:
    """The Kubeflow Model Registry's REST API, the part the Kubeflow SDK's ModelRegistryClient uses.

    Request bodies are parsed with the registry's own OpenAPI models (`mr_openapi`) and must
    round-trip unchanged; responses are what those models describe.
    """

    objects: dict[str, dict[str, dict]] = field(default_factory=lambda: {"registered_models": {}, "model_versions": {}, "artifacts": {}})
    requests: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    counter: int = 0

    def _check(self, body: dict, model_name: str) -> None:
        from mr_openapi import models

        model = getattr(models, model_name)
        parsed = model.from_dict(body)
        if parsed.to_dict() != body:
            self.rejected.append(f"{model_name}: {body} != {parsed.to_dict()}")

    def _new(self, kind: str, body: dict, **extra) -> dict:
        self.counter += 1
        now = str(1_700_000_000_000 + self.counter)
        obj = {**body, **extra, "id": str(self.counter), "createTimeSinceEpoch": now, "lastUpdateTimeSinceEpoch": now}
        self.objects[kind][obj["id"]] = obj
        return obj

    def _find(self, kind: str, name: str, parent: str | None = None, parent_key: str = "") -> dict | None:
        return next((o for o in self.objects[kind].values() if o.get("name") == name
                     and (parent is None or o.get(parent_key) == parent)), None)

    @staticmethod
    def _page(items: list[dict]) -> dict:
        return {"items": items, "size": len(items), "pageSize": max(len(items), 1), "nextPageToken": ""}

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        parsed = urlparse(raw_path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        data = json.loads(body) if body else None
        path = parsed.path.removeprefix(MR_API)
        not_found = (404, {"code": "404", "message": f"{path} {query}: not found"})
        with self.lock:
            self.requests.append((method, path))
            parts = path.strip("/").split("/")
            if method == "GET" and path == "/registered_model":
                found = self._find("registered_models", query.get("name"))
                return (200, found) if found else not_found
            if method == "GET" and path == "/registered_models":
                return 200, self._page(list(self.objects["registered_models"].values()))
            if method == "POST" and path == "/registered_models":
                self._check(data, "RegisteredModelCreate")
                return 201, self._new("registered_models", data, state="LIVE")
            if parts[0] == "registered_models" and len(parts) == 2:
                found = self.objects["registered_models"].get(parts[1])
                if found is None:
                    return not_found
                if method == "PATCH":
                    self._check(data, "RegisteredModelUpdate")
                    found.update(data)
                return 200, found
            if method == "GET" and parts[0] == "registered_models" and parts[2:] == ["versions"]:
                return 200, self._page([v for v in self.objects["model_versions"].values() if v["registeredModelId"] == parts[1]])
            if method == "GET" and path == "/model_version":
                found = self._find("model_versions", query.get("name"), query.get("parentResourceId"), "registeredModelId")
                return (200, found) if found else not_found
            if method == "POST" and path == "/model_versions":
                self._check(data, "ModelVersionCreate")
                return 201, self._new("model_versions", data, state="LIVE")
            if parts[0] == "model_versions" and len(parts) == 2:
                found = self.objects["model_versions"].get(parts[1])
                if found is None:
                    return not_found
                if method == "PATCH":
                    self._check(data, "ModelVersionUpdate")
                    found.update(data)
                return 200, found
            if parts[0] == "model_versions" and parts[2:] == ["artifacts"]:
                if method == "POST":
                    self._check(data, "ArtifactCreate")
                    return 201, self._new("artifacts", data, modelVersionId=parts[1], state="LIVE")
                return 200, self._page([a for a in self.objects["artifacts"].values() if a["modelVersionId"] == parts[1]])
            if method == "GET" and path == "/model_artifact":
                found = self._find("artifacts", query.get("name"), query.get("parentResourceId"), "modelVersionId")
                return (200, found) if found else not_found
        return 404, {"code": "404", "message": f"{method} {path}: not served by this fake"}


@pytest.fixture
def model_registry():
    api = ModelRegistryApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = api.handle(self.command, self.path, self.rfile.read(length))
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield api
    server.shutdown()
    assert not api.rejected, api.rejected
