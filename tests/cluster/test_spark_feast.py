"""Spark on Kubernetes for ingest, and Feast's cluster configuration (Spark offline, Redis online)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from feast.repo_config import load_repo_config

from cnai.cluster import spark
from cnai.errors import DataError
from cnai.steps.ingest import ingest_table

REPO = Path(__file__).resolve().parents[2]
CLUSTER = {"namespace": "team-a", "image": "registry.example/cnai:1.2.3", "object_store_endpoint": "http://minio:9000",
           "resources": {"cpu": "1", "memory": "2Gi"}, "spark_executors": 3.0}


def test_spark_on_kubernetes_settings_run_executors_as_restricted_pods_of_our_image():
    conf = spark.kubernetes_conf(CLUSTER, "cnai-ingest")
    assert conf["spark.kubernetes.namespace"] == "team-a"
    assert conf["spark.kubernetes.container.image"] == "registry.example/cnai:1.2.3"
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "cnai-spark"
    assert (conf["spark.executor.instances"], conf["spark.executor.memory"], conf["spark.executor.cores"]) == ("3", "2g", "1")
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert not any("SECRET" in key.upper() or "secret" in value for key, value in conf.items()), "keys come from the Secret via env"
    template = yaml.safe_load(Path(conf["spark.kubernetes.executor.podTemplateFile"]).read_text())
    template["metadata"]["name"] = "executor"
    template["spec"]["containers"][0]["image"] = conf["spark.kubernetes.container.image"]
    kubernetes_validate.validate(template, "1.32", strict=True)
    container = template["spec"]["containers"][0]
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e} == {"cnai-object-store"}


def test_s3a_reads_the_object_store_kfp_writes():
    assert spark.s3a("minio://mlpipeline/v2/artifacts/x") == "s3a://mlpipeline/v2/artifacts/x"
    assert spark.s3a("s3://bucket/key") == "s3a://bucket/key"
    assert spark.s3a("/local/path") == "/local/path"


def test_kubernetes_ingest_outside_a_cluster_step_is_refused_before_any_work(tmp_path):
    with pytest.raises(DataError, match="has no object-store URI"):
        ingest_table(str(tmp_path / "in.csv"), str(tmp_path / "out"), {"a": "int"},
                     spark_master="k8s://https://kubernetes.default.svc", cluster=CLUSTER)
    assert not (tmp_path / "out").exists()


def test_feast_cluster_config_loads_with_feasts_own_model_and_points_at_the_manifests_redis():
    config = load_repo_config(REPO / "feature_repo", REPO / "feature_repo" / "feature_store.cluster.yaml")
    assert type(config.offline_store).__name__ == "SparkOfflineStoreConfig"
    assert type(config.online_store).__name__ == "RedisOnlineStoreConfig"
    local = load_repo_config(REPO / "feature_repo", REPO / "feature_repo" / "feature_store.yaml")
    assert config.project == local.project, "one repo, two deployments"
    redis = next(d for d in yaml.safe_load_all((REPO / "manifests/base/feast-online-store.yaml").read_text())
                 if d["kind"] == "Service")
    assert config.online_store.connection_string == f"{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}"


def test_executor_pods_start_pysparks_own_jvm_backend_as_spark_asks():
    from cnai.cluster.spark_executor import executor_command, spark_home

    template = yaml.safe_load(Path(spark.EXECUTOR_POD_TEMPLATE).read_text())
    assert template["spec"]["containers"][0]["command"] == ["python", "-m", "cnai.cluster.spark_executor"]
    env = {"SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.5:7078", "SPARK_EXECUTOR_ID": "3",
           "SPARK_EXECUTOR_CORES": "1", "SPARK_APPLICATION_ID": "spark-app-1", "SPARK_EXECUTOR_POD_IP": "10.0.0.9",
           "SPARK_EXECUTOR_MEMORY": "2g", "SPARK_RESOURCE_PROFILE_ID": "0", "SPARK_EXECUTOR_POD_NAME": "cnai-ingest-exec-3",
           "SPARK_JAVA_OPT_1": "-Dspark.driver.port=7078", "SPARK_JAVA_OPT_0": "-Dspark.app.id=spark-app-1"}
    command = executor_command(env)
    assert command[1:3] == ["-Dspark.app.id=spark-app-1", "-Dspark.driver.port=7078"], "options in Spark's order"
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in command
    classpath = command[command.index("-cp") + 1].split(":")
    jars = Path(classpath[0].removesuffix("*"))
    assert jars == spark_home() / "jars" and any(jars.glob("spark-kubernetes_*.jar")), "PySpark ships the K8s backend"
    assert command[command.index("--hostname") + 1] == "10.0.0.9"
    with pytest.raises(SystemExit, match="SPARK_DRIVER_URL"):
        executor_command({})
