"""Spark on Kubernetes for the ingest step, through the Spark Operator: `spark_master: spark-operator`.

The step submits a SparkApplication (built here and checked with the Kubeflow Spark API models,
`kubeflow_spark_api`) whose driver runs `cnai.backends.kubeflow.spark_ingest` — the same typing, checks and
derived columns as the local step — with executors as pods, all from the project image (its
entrypoint, `cnai.backends.kubeflow.spark_entrypoint`, starts Spark's driver and executor processes). The
driver writes the dataset to the object store with s3a; the step waits for the application to
complete, then copies the result into its output (nothing when it fails).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from cnai.backends.kubeflow import kube
from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING, cluster_config
from cnai.core.kfp_settings import COMPONENT_IMAGE, OBJECT_STORE_SECRET, RUN_AS_USER
from cnai.core.tabular import SESSION_CONF

log = logging.getLogger(__name__)

SPARK_OPERATOR = "spark-operator"  # the `spark_master` value that selects this path
DRIVER_SERVICE_ACCOUNT = "cnai-spark"  # manifests/base: may create its executor pods, nothing else
HADOOP_AWS_JARS = "local:///opt/spark-jars/*"  # put there by the Dockerfile at build time


def is_spark_operator(master: str) -> bool:
    return master == SPARK_OPERATOR


def _pod(cluster: dict[str, Any], cores: str, memory: str) -> dict[str, Any]:
    """The parts of the driver and executor specs that make their pods restricted and give them the keys."""
    return {
        "cores": int(float(cores)),
        "memory": memory.replace("Gi", "g"),
        "labels": {"app.kubernetes.io/part-of": "cnai-pipelines"},
        "annotations": {"sidecar.istio.io/inject": "false"},
        "env": [{"name": "AWS_ENDPOINT_URL", "value": cluster_config(cluster).object_store_endpoint}, {"name": "HOME", "value": "/tmp"}],
        "envSecretKeyRefs": {key: {"name": OBJECT_STORE_SECRET, "key": key} for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def spark_application(name: str, namespace: str, arguments: list[str], cluster: dict[str, Any]) -> dict[str, Any]:
    """The SparkApplication as the Kubernetes API receives it, checked by the Kubeflow Spark API models."""
    import pyspark
    from kubeflow_spark_api.models import SparkV1beta2SparkApplication

    from cnai.backends.kubeflow import spark_ingest

    resources = cluster_config(cluster).resources.model_dump()
    endpoint = cluster_config(cluster).object_store_endpoint
    body = {
        "apiVersion": kube.SPARK_APPLICATION.api_version,
        "kind": kube.SPARK_APPLICATION.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "cnai-pipelines"}},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": cluster.get("image") or COMPONENT_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            # The same file in the same image as the step's: the driver runs our code, not a copy.
            "mainApplicationFile": f"local://{Path(spark_ingest.__file__).resolve()}",
            "arguments": arguments,
            "sparkVersion": pyspark.__version__,
            "restartPolicy": {"type": "Never"},
            "timeToLiveSeconds": 3600,
            "deps": {"jars": [HADOOP_AWS_JARS]},
            "sparkConf": {
                # What a local session sets (a windows-1252 CSV, pandas' nanosecond Parquet), for the same answer.
                **SESSION_CONF,
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
                # Keys come from the env the Secret fills in, never from a setting.
                "spark.hadoop.fs.s3a.aws.credentials.provider":
                    "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
            },
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "driver": {**_pod(cluster, resources.get("cpu", "1"), resources.get("memory", "2Gi")),
                       "serviceAccount": DRIVER_SERVICE_ACCOUNT},
            "executor": {**_pod(cluster, resources.get("cpu", "1"), resources.get("memory", "2Gi")),
                         "instances": int(cluster_config(cluster).spark_executors), "deleteOnTermination": True},
        },
    }
    SparkV1beta2SparkApplication.from_dict(body)  # raises on a field of the wrong type or shape
    return body


def application_name(parts: list[Any]) -> str:
    """Deterministic: a retried step finds the application it started."""
    return f"cnai-ingest-{hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]}"


def _state(obj: dict[str, Any]) -> str:
    return (((obj.get("status") or {}).get("applicationState")) or {}).get("state", "")


def ingest_on_spark_operator(source: str, dataset: str, column_types: dict[str, str], derived_columns: dict[str, str],
                             source_format: str, limit_rows: int, cluster: dict[str, Any], output_uri: str,
                             null_values: list[str] | None = None, delimiter: str = CSV_DELIMITER,
                             encoding: str = CSV_ENCODING, decimal: str = CSV_DECIMAL) -> str:
    """Run the ingest as a SparkApplication; returns the object-store prefix it wrote the dataset to."""
    from cnai.core.errors import ClusterError
    from cnai.core.storage import copy_tree

    namespace = cluster_config(cluster).namespace
    staged = f"{output_uri.rstrip('/')}.spark"
    arguments = ["--source", source, "--output", staged, "--column-types", json.dumps(column_types),
                 "--derived-columns", json.dumps(derived_columns or {}), "--format", source_format,
                 "--limit-rows", str(limit_rows), "--null-values", json.dumps(null_values or []),
                 "--delimiter", delimiter, "--encoding", encoding, "--decimal", decimal]
    name = application_name(arguments)
    if kube.get(kube.SPARK_APPLICATION, namespace, name) is None:
        kube.apply(kube.SPARK_APPLICATION, namespace, spark_application(name, namespace, arguments, cluster))
        log.warning("created SparkApplication %s/%s", namespace, name)

    def failed(obj: dict[str, Any]) -> bool:
        if _state(obj) in ("FAILED", "SUBMISSION_FAILED"):
            message = ((obj.get("status") or {}).get("applicationState") or {}).get("errorMessage", "")
            raise ClusterError(f"SparkApplication {namespace}/{name} {_state(obj)}: {message}")
        return False

    kube.wait_for(kube.SPARK_APPLICATION, namespace, name, done=lambda o: _state(o) == "COMPLETED", failed=failed,
                  timeout_s=float(cluster_config(cluster).experiment_timeout_s), progress=lambda o: _state(o) or "submitted")
    copy_tree(staged, dataset)
    return staged
