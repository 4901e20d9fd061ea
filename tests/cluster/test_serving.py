"""Deploy and smoke test on KServe: the InferenceService we send, canary rollout, promotion and rollback."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from kserve.api_client import ApiClient as KServeClient

from cnai.backends.kubeflow import kserve as serving
from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
from cnai.core.errors import ServingError

CLUSTER = {"namespace": "team-a", "serving_runtime": "cnai-sklearn", "canary_traffic_percent": 10.0,
           "min_replicas": 1.0, "max_replicas": 3.0, "scale_metric": "concurrency", "scale_target": 10.0,
           "ready_timeout_s": 0, "inference_logger_url": "http://cnai-inference-log-sink",
           "resources": {"cpu": "1", "memory": "2Gi", "cpu_limit": "2", "memory_limit": "4Gi"}}
# KFP hands dict parameters over as JSON, so whole numbers arrive as floats: the code must cope.


def as_kserve_model(body: dict) -> dict:
    """Parse with KServe's SDK; its models embed Kubernetes' (V1ObjectMeta, V1EnvVar...), so those are
    made visible to KServe's deserializer, which looks types up in `kserve.models` only."""
    import kserve.models
    import kubernetes.client.models

    for name in dir(kubernetes.client.models):
        if name.startswith("V1") and not hasattr(kserve.models, name):
            setattr(kserve.models, name, getattr(kubernetes.client.models, name))
    client = KServeClient()
    parsed = client.deserialize(SimpleNamespace(data=json.dumps(body)), "V1beta1InferenceService")
    return client.sanitize_for_serialization(parsed)


def test_inference_service_is_a_valid_kserve_resource_with_logger_autoscaling_and_runtime():
    body = serving.to_manifest(serving.inference_service("flight-delay", "team-a", "s3://mlflow/1/abc/artifacts/model",
                                                         "3", CLUSTER, canary_traffic_percent=10))
    assert as_kserve_model(body) == body, "a field the KServe SDK does not know would be dropped"
    predictor = body["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"} and predictor["model"]["runtime"] == "cnai-sklearn"
    assert predictor["model"]["storageUri"] == "s3://mlflow/1/abc/artifacts/model"
    assert predictor["model"]["env"] == [{"name": "CNAI_SERVING_VERSION", "value": "3"}]
    assert predictor["model"]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleMetric"], predictor["scaleTarget"]) == (1, 3, "concurrency", 10)
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["logger"] == {"mode": "all", "url": "http://cnai-inference-log-sink"}
    assert body["metadata"]["annotations"]["serving.kserve.io/enable-tag-routing"] == "true"


def test_the_logger_carries_the_sinks_token_from_the_deploy_pods_secret(monkeypatch):
    """The sink takes events only from its token's holders, and KServe's logger can carry it only in
    its URL: the deploy step's pod gets it from the sink's Secret (never the compiled pipeline)."""
    monkeypatch.setenv("CNAI_LOG_SINK_TOKEN", "t0ken")
    body = serving.to_manifest(serving.inference_service("flight-delay", "team-a", "s3://m", "3", CLUSTER))
    assert body["spec"]["predictor"]["logger"]["url"] == "http://cnai-inference-log-sink/t0ken"
    # (tests/test_compile.py: the deploy pod's env comes from the Secret)


@pytest.mark.parametrize("model_format", ["xgboost", "lightgbm", "sklearn", "pytorch"])
def test_the_inference_service_declares_the_registered_kinds_format_and_the_runtime_serves_it(model_format):
    import yaml

    body = serving.to_manifest(serving.inference_service("churn", "team-a", "s3://models/1", "1", CLUSTER,
                                                         model_format=model_format))
    assert as_kserve_model(body) == body
    assert body["spec"]["predictor"]["model"]["modelFormat"] == {"name": model_format}
    runtime = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifests" / "base" / "serving-runtime.yaml").read_text())
    assert model_format in {f["name"] for f in runtime["spec"]["supportedModelFormats"]}, \
        "KServe would find no runtime for the InferenceService"


def kserve_controller(ready: bool = True):
    """Plays KServe: every spec change creates a revision; Ready (or RevisionFailed) when reconciled."""

    def reconcile(isvc: dict, api) -> None:
        generation = isvc["metadata"]["generation"]
        name, ns = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
        revision = f"{name}-predictor-{generation:05d}"
        previous = ((isvc.get("status") or {}).get("components") or {}).get("predictor", {}).get("latestReadyRevision")
        canary = isvc["spec"]["predictor"].get("canaryTrafficPercent")
        traffic = [{"revisionName": revision, "tag": "latest", "latestRevision": True,
                    "url": f"http://latest-{name}-predictor.{ns}.svc.cluster.local", "percent": 100 if canary is None else canary}]
        if previous and canary is not None:
            traffic.append({"revisionName": previous, "tag": "prev", "percent": 100 - canary})
        isvc["status"] = {
            "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            **({} if ready else {"reason": "RevisionFailed", "message": "CrashLoopBackOff"})}],
            "components": {"predictor": {"latestCreatedRevision": revision,
                                         "latestReadyRevision": revision if ready else previous, "traffic": traffic}},
        }

    return reconcile


def test_first_deployment_takes_all_traffic_once_ready(kube_api):
    kube_api.reconcile["inferenceservices"] = kserve_controller()
    rollout = serving.deploy_on_kserve("flight-delay", "1", "s3://models/1", {**CLUSTER, "ready_timeout_s": 5})
    assert rollout["canary"] is False and rollout["service_url"] == "http://flight-delay.team-a.svc.cluster.local"
    created = kube_api.sent("POST", "inferenceservices")
    assert len(created) == 1 and created[0].path == "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices"
    assert as_kserve_model(created[0].body) == created[0].body
    assert "canaryTrafficPercent" not in created[0].body["spec"]["predictor"]


def test_new_version_goes_out_as_a_canary_then_promotion_gives_it_all_traffic(kube_api):
    kube_api.reconcile["inferenceservices"] = kserve_controller()
    serving.deploy_on_kserve("flight-delay", "1", "s3://models/1", {**CLUSTER, "ready_timeout_s": 5})
    rollout = serving.deploy_on_kserve("flight-delay", "2", "s3://models/2", {**CLUSTER, "ready_timeout_s": 5})
    assert rollout["canary"] and rollout["previous_version"] == "1" and rollout["canary_traffic_percent"] == 10
    assert rollout["endpoint"] == "http://latest-flight-delay-predictor.team-a.svc.cluster.local"
    patched = kube_api.sent("PATCH", "inferenceservices")[-1]
    assert patched.content_type == "application/merge-patch+json"
    assert patched.body["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert patched.body["spec"]["predictor"]["model"]["storageUri"] == "s3://models/2"

    serving.promote("flight-delay", CLUSTER)
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert "canaryTrafficPercent" not in stored["spec"]["predictor"]
    assert stored["metadata"]["annotations"][serving.ROLLOUT_ANNOTATION] == "promoted"
    assert stored["status"]["components"]["predictor"]["traffic"][0]["percent"] == 100


def test_a_revision_that_fails_is_rolled_back_and_the_previous_version_keeps_serving(kube_api):
    kube_api.reconcile["inferenceservices"] = kserve_controller()
    serving.deploy_on_kserve("flight-delay", "1", "s3://models/1", {**CLUSTER, "ready_timeout_s": 5})
    kube_api.reconcile["inferenceservices"] = kserve_controller(ready=False)
    with pytest.raises(ServingError, match=r"failed: Ready=False \(RevisionFailed: CrashLoopBackOff\); rolled back: version 1 keeps all traffic"):
        serving.deploy_on_kserve("flight-delay", "2", "s3://models/2", {**CLUSTER, "ready_timeout_s": 5})
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert stored["metadata"]["annotations"][serving.ROLLOUT_ANNOTATION] == "rolled-back"


def test_a_failed_smoke_test_rolls_the_canary_back(kube_api, tmp_path, trained_model):
    kube_api.reconcile["inferenceservices"] = kserve_controller()
    serving.deploy_on_kserve("flight-delay", "1", "s3://models/1", {**CLUSTER, "ready_timeout_s": 5})
    serving.deploy_on_kserve("flight-delay", "2", "s3://models/2", {**CLUSTER, "ready_timeout_s": 5})
    with pytest.raises(ServingError, match="no answer"):
        smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "report.md"), "http://127.0.0.1:9",
                            "flight-delay", "2", target="kubeflow", cluster=CLUSTER)
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert "smoke test failed" in stored["metadata"]["annotations"]["cnai.io/rollback-reason"]


def test_with_a_feature_store_a_transformer_reads_the_views_from_the_online_store(kube_api):
    """The transformer KServe starts beside the predictor: our image, the run's Feast repo fetched by
    KServe's storage initializer (STORAGE_URI on a custom transformer), and it rolls out with the
    predictor: canary, promotion and rollback move both."""
    cluster = {**CLUSTER, "image": "ghcr.io/cnai-pipelines/cnai:0.1.0", "ready_timeout_s": 5}
    store = "minio://mlpipeline/v2/artifacts/cnai-training/run-1/feast-features/feature_store"
    body = serving.to_manifest(serving.inference_service("flight-delay", "team-a", "s3://models/1", "1", cluster,
                                                         feature_store_uri=store))
    assert as_kserve_model(body) == body
    [container] = body["spec"]["transformer"]["containers"]
    assert container["image"] == cluster["image"] and container["name"] == "kserve-container"
    assert container["command"] == ["python", "-m", "cnai.backends.kubeflow.feast_transformer"]
    assert {"name": "STORAGE_URI", "value": store.replace("minio://", "s3://")} in container["env"]
    assert "transformer" not in serving.to_manifest(serving.inference_service("flight-delay", "team-a", "s3://m", "1", cluster))["spec"]

    kube_api.reconcile["inferenceservices"] = kserve_controller()
    serving.deploy_on_kserve("flight-delay", "1", "s3://models/1", cluster, feature_store_uri=store)
    serving.deploy_on_kserve("flight-delay", "2", "s3://models/2", cluster, feature_store_uri=store)
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert stored["spec"]["transformer"]["canaryTrafficPercent"] == 10 == stored["spec"]["predictor"]["canaryTrafficPercent"]
    serving.rollback("flight-delay", cluster, "smoke test failed")
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert stored["spec"]["transformer"]["canaryTrafficPercent"] == 0 == stored["spec"]["predictor"]["canaryTrafficPercent"]
    serving.promote("flight-delay", cluster)
    stored = kube_api.objects[("serving.kserve.io", "inferenceservices", "team-a", "flight-delay")]
    assert "canaryTrafficPercent" not in stored["spec"]["transformer"] and "canaryTrafficPercent" not in stored["spec"]["predictor"]
