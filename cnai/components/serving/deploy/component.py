from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def deploy(
    registry_uri: str,
    model_name: str,
    version: str,
    endpoint: Output[Markdown],
    host: str = "127.0.0.1",
    port: int = 8085,
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
    feature_store: Optional[Input[Artifact]] = None,  # noqa: UP045 (KFP reads optional inputs as Optional[...])
) -> str:
    """Serve a registered version on a local KServe ModelServer and promote it to `production`.

    A running server swaps the new version in live (the old one serves until the new one is loaded);
    otherwise a server is started and left running (`cnai stop` stops it).

    Args:
        registry_uri: The MLflow registry holding the version.
        model_name: The registered model's name (also the served model's name).
        version: The version to serve.
        endpoint: The endpoint and how to call it.
        host: Address to bind; loopback by default.
        port: HTTP port.
        target: local (a KServe ModelServer on this machine) or kubeflow (a KServe InferenceService, canary first).
        cluster: The `cluster` section of cnai.yaml; used when target is kubeflow.
        feature_store: The Feast repo the features step applied: a request that lacks a feature view's
            columns but carries its join key gets them from this repo's online store (locally its
            SQLite store; on a cluster an InferenceService transformer reads the Redis one).

    Returns:
        The endpoint URL.
    """
    from cnai.components.serving.deploy.executor import deploy_model
    from cnai.core.tracking import run_step

    facts = run_step(
        "deploy",
        deploy_model,
        inputs={"feature_store": feature_store} if feature_store is not None else {},
        outputs={"endpoint": endpoint},
        params={"registry_uri": registry_uri, "model_name": model_name, "version": version, "host": host, "port": port,
                "target": target, "cluster": cluster},
    )
    return facts["endpoint"]
