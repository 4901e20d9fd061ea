"""The KServe InferenceService for a registered version, with KServe's inference logger on.

The predictor runs the project image's `cnai.serving` (the same KServe `Model` as locally) on the
files KServe's storage initializer downloads from `storage_uri` to /mnt/models; `model.joblib`
there is also what KServe's own sklearn runtime would load. The logger (mode `all`) sends every
request and response to the inference log sink (`cnai.log_sink`), which the drift check reads.
"""

from __future__ import annotations

from typing import Any

SERVING_PORT = 8080


def inference_service(
    name: str,
    namespace: str,
    image: str,
    storage_uri: str,
    version: str,
    logger_url: str,
    service_account: str | None = None,
) -> Any:
    """A `V1beta1InferenceService` (kserve SDK model) serving `version` with request logging."""
    from kserve import constants
    from kserve.models import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1LoggerSpec,
        V1beta1PredictorSpec,
    )
    from kubernetes.client import V1Container, V1ContainerPort, V1EnvVar, V1ObjectMeta

    container = V1Container(
        name="kserve-container",
        image=image,
        command=["python", "-m", "cnai.serving"],
        env=[
            V1EnvVar(name="STORAGE_URI", value=storage_uri),  # KServe's storage initializer fills /mnt/models
            V1EnvVar(name="CNAI_SERVING_MODEL", value=name),
            V1EnvVar(name="CNAI_SERVING_MODEL_DIR", value="/mnt/models"),
            V1EnvVar(name="CNAI_SERVING_VERSION", value=str(version)),
            V1EnvVar(name="CNAI_SERVING_HOST", value="0.0.0.0"),  # inside the pod; the mesh decides exposure
            V1EnvVar(name="CNAI_SERVING_PORT", value=str(SERVING_PORT)),
        ],
        ports=[V1ContainerPort(container_port=SERVING_PORT, protocol="TCP")],
    )
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(name=name, namespace=namespace, labels={"app.kubernetes.io/part-of": "cnai-pipelines"},
                              annotations={"cnai.io/model-version": str(version)}),
        spec=V1beta1InferenceServiceSpec(
            predictor=V1beta1PredictorSpec(
                containers=[container],
                logger=V1beta1LoggerSpec(mode="all", url=logger_url),
                service_account_name=service_account,
            )
        ),
    )


def to_manifest(resource: Any) -> dict:
    """The resource as the Kubernetes API receives it (camelCase keys, no empty fields)."""
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(resource)
