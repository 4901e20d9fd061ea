"""deploy: serve a registered version locally (a KServe ModelServer, swapped live) or on KServe."""

from __future__ import annotations

from typing import Any

from cnai.backends import registry
from cnai.backends.local.deployment import deploy_locally
from cnai.core.artifacts import atomic_output


def deploy_model(
    endpoint: str,
    registry_uri: str,
    model_name: str,
    version: str,
    host: str = "127.0.0.1",
    port: int = 8085,
    ready_timeout_s: float = 90.0,
    target: str = "local",
    cluster: dict[str, Any] | None = None,
    feature_store: str = "",
    artifact_uris: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Serve `version`; if a server is up, swap it in live, else start one. Promote on success.

    With `target="kubeflow"` the version goes to a KServe InferenceService instead, as a canary
    when an older version is serving; the smoke test then promotes or rolls it back. With a
    `feature_store` (the applied Feast repo) requests may send a view's join key instead of its
    features: they are read from its online store.
    """
    if target == "kubeflow":
        store_uri = (artifact_uris or {}).get("feature_store") if feature_store else None
        return _deploy_on_cluster(endpoint, registry_uri, model_name, version, cluster or {}, store_uri)
    return deploy_locally(endpoint, registry_uri, model_name, version, host, port, ready_timeout_s, feature_store)


def _deploy_on_cluster(endpoint: str, registry_uri: str, model_name: str, version: str,
                       cluster: dict[str, Any], feature_store_uri: str | None = None) -> dict[str, Any]:
    from cnai.backends.kubeflow.kserve import deploy_on_kserve

    # The InferenceService declares the model's format (sklearn, xgboost, lightgbm): the version records it.
    model_format = registry.version_tags(registry_uri, model_name, version).get("serving_format") or "sklearn"
    rollout = deploy_on_kserve(model_name, version, registry.storage_uri(registry_uri, model_name, version), cluster,
                               model_format, feature_store_uri)
    with atomic_output(endpoint) as staging:
        staging.write_text(
            f"# Deployed {model_name} v{version} on KServe\n\n- Service: {rollout['service_url']}\n"
            f"- This version: {rollout['endpoint']}\n"
            + (f"- Canary: {rollout['canary_traffic_percent']}% of traffic until the smoke test passes "
               f"(previous: v{rollout['previous_version']})\n" if rollout["canary"] else "- All traffic\n")
        )
    return {**rollout, "output_metadata": {"endpoint": {"url": rollout["endpoint"], "version": str(version),
                                                        "canary": rollout["canary"]}}}
