"""Talking to the Kubernetes API: one client, create-or-update, and waiting with progress and a deadline.

Inside a pipeline pod the client uses the pod's service account (`cnai-pipeline-runner`, RBAC in
manifests/); elsewhere the kubeconfig. `CNAI_KUBE_API_URL` points it at an API server explicitly
(a `kubectl proxy`, or the recording server the tests use).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnai.core.errors import ClusterError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """A custom resource type: what the CustomObjects API needs to address it."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


EXPERIMENT = Kind("kubeflow.org", "v1beta1", "experiments", "Experiment")
TRIAL = Kind("kubeflow.org", "v1beta1", "trials", "Trial")
TRAINJOB = Kind("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob")
INFERENCE_SERVICE = Kind("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService")
SPARK_APPLICATION = Kind("sparkoperator.k8s.io", "v1beta2", "sparkapplications", "SparkApplication")


def configuration():
    """The `kubernetes.client.Configuration` for this process (see the module docstring)."""
    from kubernetes import client, config

    explicit = os.environ.get("CNAI_KUBE_API_URL")
    if explicit:
        configuration = client.Configuration()
        configuration.host = explicit.rstrip("/")
        return configuration
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except config.ConfigException as exc:
            raise ClusterError(
                "no Kubernetes API: not in a pod, no kubeconfig, and CNAI_KUBE_API_URL unset "
                f"(settings.target is kubeflow): {exc}") from exc
    return client.Configuration.get_default_copy()


def _call(what: str, request: Callable[[Any], Any], missing_ok: bool = False, conflict_ok: bool = False) -> Any:
    """Run one API request; every failure becomes a ClusterError naming `what` and the API's answer.

    Returns None for 404 when `missing_ok` and the string "conflict" for 409 when `conflict_ok`.
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    configuration_ = configuration()
    try:
        return request(custom_objects(configuration_))
    except ApiException as error:
        if error.status == 404 and missing_ok:
            return None
        if error.status == 409 and conflict_ok:
            return "conflict"
        raise ClusterError(f"{what}: HTTP {error.status} {error.reason}: {(error.body or '')[:300]}") from error
    except HTTPError as error:
        raise ClusterError(f"{what}: cannot reach the Kubernetes API at {configuration_.host}: {error}") from error


def custom_objects(configuration_=None):
    from kubernetes import client

    return client.CustomObjectsApi(client.ApiClient(configuration_ or configuration()))


def apply(kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create `body`, or merge-patch it over the existing object of the same name."""
    name = body["metadata"]["name"]
    what = f"{kind.kind} {namespace}/{name}"
    created = _call(f"{what}: create", lambda api: api.create_namespaced_custom_object(
        kind.group, kind.version, namespace, kind.plural, body), conflict_ok=True)
    if created != "conflict":
        return created
    return patch(kind, namespace, name, body)


def patch(kind: Kind, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return _call(f"{kind.kind} {namespace}/{name}: patch", lambda api: api.patch_namespaced_custom_object(
        kind.group, kind.version, namespace, kind.plural, name, body))


def get(kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    return _call(f"{kind.kind} {namespace}/{name}: read", lambda api: api.get_namespaced_custom_object(
        kind.group, kind.version, namespace, kind.plural, name), missing_ok=True)


def list_objects(kind: Kind, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    found = _call(f"{kind.kind} in {namespace} ({label_selector}): list", lambda api: api.list_namespaced_custom_object(
        kind.group, kind.version, namespace, kind.plural, label_selector=label_selector))
    return found.get("items", [])


def condition(obj: dict[str, Any], condition_type: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == condition_type:
            return item
    return None


def is_true(obj: dict[str, Any], condition_type: str) -> bool:
    found = condition(obj, condition_type)
    return bool(found) and found.get("status") == "True"


def last_condition(obj: dict[str, Any]) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    if not conditions:
        return "no conditions yet"
    last = conditions[-1]
    return f"{last.get('type')}={last.get('status')} ({last.get('reason', '')}: {last.get('message', '')})"


def wait_for(
    kind: Kind,
    namespace: str,
    name: str,
    done: Callable[[dict[str, Any]], bool],
    failed: Callable[[dict[str, Any]], bool],
    timeout_s: float,
    poll_s: float = 10.0,
    progress: Callable[[dict[str, Any]], str] = last_condition,
) -> dict[str, Any]:
    """Poll until `done` (returns the object) or `failed`/timeout (raises, naming the last condition)."""
    deadline = time.monotonic() + timeout_s
    last_report = ""
    while True:
        obj = get(kind, namespace, name)
        if obj is None:
            raise ClusterError(f"{kind.kind} {namespace}/{name} disappeared while waiting for it")
        if done(obj):
            return obj
        if failed(obj):
            raise ClusterError(f"{kind.kind} {namespace}/{name} failed: {last_condition(obj)}")
        report = progress(obj)
        if report != last_report:
            log.warning("%s %s: %s", kind.kind, name, report)
            last_report = report
        if time.monotonic() >= deadline:
            raise ClusterError(f"{kind.kind} {namespace}/{name} not done after {timeout_s:.0f} s: {last_condition(obj)}")
        time.sleep(poll_s)
