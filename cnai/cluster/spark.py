"""Spark on Kubernetes for the ingest step: `spark_master: k8s://https://kubernetes.default.svc`.

The step's pod is the driver (client mode); executors are pods in the same namespace, from the
project image, as the `cnai-spark` service account (no API access), restricted by the pod
template beside this module. Executors cannot write into the driver pod's local output folder, so
a Kubernetes run writes the dataset to the object store with s3a (the Hadoop AWS jars are in the
image) and the step copies it into its output, as the train step does with a TrainJob's outputs.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from cnai.kfp_settings import COMPONENT_IMAGE

EXECUTOR_POD_TEMPLATE = Path(__file__).with_name("spark-executor-pod.yaml")
HADOOP_AWS_JARS = "/opt/spark-jars/*.jar"  # put there by the Dockerfile at build time


def is_kubernetes(master: str) -> bool:
    return master.startswith("k8s://")


def s3a(uri: str) -> str:
    """Spark's Hadoop S3 connector reads `s3a://`; KFP writes `minio://` or `s3://` URIs for the same objects."""
    scheme, sep, rest = uri.partition("://")
    return f"s3a://{rest}" if sep and scheme in ("s3", "minio") else uri


def kubernetes_conf(cluster: dict[str, Any], app_name: str) -> dict[str, str]:
    """Spark settings for executors on Kubernetes, driven from inside a pipeline step's pod."""
    resources = cluster.get("resources") or {}
    endpoint = cluster.get("object_store_endpoint", "")
    return {
        "spark.kubernetes.namespace": cluster.get("namespace") or "kubeflow",
        "spark.kubernetes.container.image": cluster.get("image") or COMPONENT_IMAGE,
        "spark.kubernetes.authenticate.executor.serviceAccountName": "cnai-spark",
        "spark.kubernetes.executor.podTemplateFile": str(EXECUTOR_POD_TEMPLATE),
        "spark.kubernetes.executor.podNamePrefix": app_name,
        "spark.kubernetes.executor.deleteOnTermination": "true",
        "spark.executor.instances": str(int(cluster.get("spark_executors", 2))),
        "spark.executor.memory": str(resources.get("memory", "2Gi")).replace("Gi", "g"),
        "spark.executor.cores": str(resources.get("cpu", "1")),
        # Executors connect back to the driver: this pod's IP, all interfaces inside the pod.
        "spark.driver.host": socket.gethostbyname(socket.gethostname()),
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.jars": HADOOP_AWS_JARS,
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
        # Keys come from the env the object-store Secret fills in (never written into a setting).
        "spark.hadoop.fs.s3a.aws.credentials.provider": "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
        "spark.executorEnv.HOME": "/tmp",
    }
