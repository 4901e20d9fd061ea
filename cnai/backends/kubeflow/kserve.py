"""The deploy and smoke-test steps on a cluster: a KServe InferenceService with a canary rollout.

The predictor declares the model kind's format (`modelFormat: sklearn`, `xgboost` or `lightgbm`, as
registered) and the `cnai-sklearn` ServingRuntime
(manifests/base/serving-runtime.yaml), which runs the project image's `cnai.backends.local.model_server` (the same
KServe `Model` as locally) on what KServe's storage initializer downloads from `storageUri`
(`model.joblib` there is also what KServe's stock sklearn runtime loads). KServe's logger (mode
`all`) sends every request and response to the inference log sink (`cnai.backends.kubeflow.log_sink`).

A new version of a running service gets `canaryTrafficPercent` of the traffic and a `latest` tag
URL; the smoke test checks that URL, then promotes (all traffic to the new revision) or rolls back
(`canaryTrafficPercent: 0`, all traffic to the previous revision). A first deployment has no
previous revision and takes all traffic once Ready.
"""

from __future__ import annotations

import logging
from typing import Any

from cnai.backends.kubeflow import kube
from cnai.core.config import cluster_config
from cnai.core.errors import ClusterError, ServingError

log = logging.getLogger(__name__)

VERSION_ANNOTATION = "cnai.io/model-version"
PREVIOUS_ANNOTATION = "cnai.io/previous-version"
ROLLOUT_ANNOTATION = "cnai.io/rollout"  # canary | promoted | rolled-back | first


def inference_service(name: str, namespace: str, storage_uri: str, version: str, cluster: dict[str, Any],
                      canary_traffic_percent: int | None = None, model_format: str = "sklearn",
                      feature_store_uri: str | None = None) -> Any:
    """A `V1beta1InferenceService` (kserve SDK model) serving `version` with request logging; with a
    `feature_store_uri` (the run's applied Feast repo) a transformer reads the views' features a
    request lacks from the Redis online store (cnai.backends.kubeflow.feast_transformer)."""
    from kserve import constants
    from kserve.models import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1LoggerSpec,
        V1beta1ModelFormat,
        V1beta1ModelSpec,
        V1beta1PredictorSpec,
    )
    from kubernetes.client import V1EnvVar, V1ObjectMeta, V1ResourceRequirements

    resources = cluster_config(cluster).resources.model_dump()
    predictor = V1beta1PredictorSpec(
        model=V1beta1ModelSpec(
            model_format=V1beta1ModelFormat(name=model_format),
            runtime=cluster_config(cluster).serving_runtime,
            storage_uri=storage_uri,
            env=[V1EnvVar(name="CNAI_SERVING_VERSION", value=str(version))],  # answered as model_version
            resources=V1ResourceRequirements(
                requests={"cpu": resources.get("cpu", "1"), "memory": resources.get("memory", "2Gi")},
                limits={"cpu": resources.get("cpu_limit", "2"), "memory": resources.get("memory_limit", "4Gi")},
            ),
        ),
        min_replicas=int(cluster_config(cluster).min_replicas),
        max_replicas=int(cluster_config(cluster).max_replicas),
        scale_metric=cluster_config(cluster).scale_metric,
        scale_target=int(cluster_config(cluster).scale_target),
        canary_traffic_percent=canary_traffic_percent,
        logger=V1beta1LoggerSpec(mode="all", url=logger_url(cluster_config(cluster).inference_logger_url)),
        service_account_name=cluster.get("serving_service_account"),
    )
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(
            name=name, namespace=namespace, labels={"app.kubernetes.io/part-of": "cnai-pipelines"},
            annotations={VERSION_ANNOTATION: str(version), "serving.kserve.io/enable-tag-routing": "true"}),
        spec=V1beta1InferenceServiceSpec(
            predictor=predictor,
            transformer=_feast_transformer(feature_store_uri, cluster, canary_traffic_percent) if feature_store_uri else None),
    )


def logger_url(url: str) -> str:
    """The log sink's URL with its writer token as the path (KServe's logger sends no headers of
    ours), when the deploy step's pod holds the token (the sink's Secret); as given otherwise."""
    import os

    from cnai.core.kfp_settings import LOG_SINK_TOKEN_ENV

    token = os.environ.get(LOG_SINK_TOKEN_ENV, "")
    return f"{url.rstrip('/')}/{token}" if token and url else url


def _feast_transformer(feature_store_uri: str, cluster: dict[str, Any], canary_traffic_percent: int | None) -> Any:
    """KServe's transformer component: our image, the Feast repo in /mnt/models by STORAGE_URI
    (KServe's storage initializer honours it on a custom transformer container); KServe adds
    `--model_name` and `--predictor_host`."""
    from kserve.models import V1beta1TransformerSpec
    from kubernetes.client import V1Container, V1EnvVar, V1ResourceRequirements

    from cnai.core.storage import s3

    return V1beta1TransformerSpec(
        containers=[V1Container(
            name="kserve-container", image=cluster.get("image"),
            command=["python", "-m", "cnai.backends.kubeflow.feast_transformer"],
            args=["--feature_store", "/mnt/models"],
            env=[V1EnvVar(name="STORAGE_URI", value=s3(feature_store_uri))],
            resources=V1ResourceRequirements(requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "1", "memory": "2Gi"}),
        )],
        min_replicas=int(cluster_config(cluster).min_replicas),
        max_replicas=int(cluster_config(cluster).max_replicas),
        canary_traffic_percent=canary_traffic_percent,
        service_account_name=cluster.get("serving_service_account"),
    )


def to_manifest(resource: Any) -> dict:
    """The resource as the Kubernetes API receives it (camelCase keys, no empty fields)."""
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(resource)


def _latest_revision_ready(isvc: dict[str, Any]) -> bool:
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    created = predictor.get("latestCreatedRevision")
    return kube.is_true(isvc, "Ready") and bool(created) and predictor.get("latestReadyRevision") == created


def _revision_failed(isvc: dict[str, Any]) -> bool:
    for item in (isvc.get("status") or {}).get("conditions") or []:
        if item.get("status") == "False" and item.get("reason") in ("RevisionFailed", "RevisionMissing"):
            return True
    return False


def _urls(isvc: dict[str, Any]) -> tuple[str, str]:
    """(the service's in-cluster URL, the URL of the latest revision)."""
    status = isvc.get("status") or {}
    service = (status.get("address") or {}).get("url") or status.get("url") or ""
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    latest = next((t.get("url") for t in traffic if t.get("tag") == "latest" and t.get("url")), service)
    return service, latest


def deploy_on_kserve(model_name: str, version: str, storage_uri: str, cluster: dict[str, Any],
                     model_format: str = "sklearn", feature_store_uri: str | None = None) -> dict[str, Any]:
    """Create the InferenceService or roll `version` out as a canary; wait until its revision is Ready.

    A revision that fails or is not Ready in time is rolled back before the error is raised, so
    the previous version keeps all the traffic.
    """
    namespace = cluster_config(cluster).namespace
    existing = kube.get(kube.INFERENCE_SERVICE, namespace, model_name)
    previous = ((existing or {}).get("metadata", {}).get("annotations") or {}).get(VERSION_ANNOTATION)
    canary = existing is not None and previous != str(version)
    percent = int(cluster_config(cluster).canary_traffic_percent) if canary else None
    body = to_manifest(inference_service(model_name, namespace, storage_uri, version, cluster, percent, model_format,
                                         feature_store_uri))
    body["metadata"]["annotations"][ROLLOUT_ANNOTATION] = "canary" if canary else "first" if existing is None else "unchanged"
    if previous:
        body["metadata"]["annotations"][PREVIOUS_ANNOTATION] = previous
    if existing is None:
        kube.apply(kube.INFERENCE_SERVICE, namespace, body)
    else:
        kube.patch(kube.INFERENCE_SERVICE, namespace, model_name, body)
    log.warning("InferenceService %s/%s: version %s %s", namespace, model_name, version,
                f"as a canary with {percent}% of traffic (previous: {previous})" if canary else "rolled out")
    try:
        ready = kube.wait_for(kube.INFERENCE_SERVICE, namespace, model_name, done=_latest_revision_ready,
                              failed=_revision_failed, timeout_s=float(cluster_config(cluster).ready_timeout_s), poll_s=5)
    except ClusterError as error:
        if canary:
            rollback(model_name, cluster, f"version {version} never became Ready")
            raise ServingError(f"{error}; rolled back: version {previous} keeps all traffic") from error
        raise ServingError(str(error)) from error
    service_url, latest_url = _urls(ready)
    return {"endpoint": latest_url, "service_url": service_url, "version": str(version), "canary": canary,
            "previous_version": previous, "canary_traffic_percent": percent or 100}


def promote(model_name: str, cluster: dict[str, Any]) -> dict[str, Any]:
    """All traffic to the latest revision (KServe: drop canaryTrafficPercent)."""
    namespace = cluster_config(cluster).namespace
    return kube.patch(kube.INFERENCE_SERVICE, namespace, model_name, {
        "metadata": {"annotations": {ROLLOUT_ANNOTATION: "promoted"}},
        "spec": _traffic(namespace, model_name, None),
    })


def rollback(model_name: str, cluster: dict[str, Any], reason: str) -> dict[str, Any]:
    """All traffic back to the previously rolled-out revision (KServe: canaryTrafficPercent 0)."""
    namespace = cluster_config(cluster).namespace
    log.warning("InferenceService %s/%s: rolling back (%s)", namespace, model_name, reason)
    return kube.patch(kube.INFERENCE_SERVICE, namespace, model_name, {
        "metadata": {"annotations": {ROLLOUT_ANNOTATION: "rolled-back", "cnai.io/rollback-reason": reason[:250]}},
        "spec": _traffic(namespace, model_name, 0),
    })


def _traffic(namespace: str, model_name: str, canary_traffic_percent: int | None) -> dict[str, Any]:
    """The canary setting for every component the service has: a transformer rolls with its predictor."""
    existing = kube.get(kube.INFERENCE_SERVICE, namespace, model_name) or {}
    components = ["predictor", *(["transformer"] if (existing.get("spec") or {}).get("transformer") else [])]
    return {component: {"canaryTrafficPercent": canary_traffic_percent} for component in components}
