"""Ingest on the Spark Operator, the image's Spark entrypoint, and Feast's cluster configuration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from feast.repo_config import load_repo_config
from kubeflow_spark_api.models import SparkV1beta2SparkApplication

from cnai.backends.kubeflow import spark_ingest
from cnai.components.data.ingest.executor import ingest_table
from cnai.core import storage
from cnai.core.errors import ClusterError, DataError

REPO = Path(__file__).resolve().parents[2]
CLUSTER = {"namespace": "team-a", "image": "registry.example/cnai:1.2.3", "object_store_endpoint": "http://minio:9000",
           "resources": {"cpu": "1", "memory": "2Gi"}, "spark_executors": 3.0}


def spark_operator(outcome: str):
    """Plays the Spark Operator: runs the application's driver program (our real one) on this test run's
    Spark session, then sets the state the operator would."""

    def reconcile(application: dict, api) -> None:
        if application.get("status"):
            return
        if outcome == "COMPLETED":
            from cnai.backends.local.spark import spark_session

            # The driver's session has the application's settings (the operator passes its sparkConf to
            # spark-submit); the driver program then finds it.
            session = spark_session()
            for key, value in application["spec"]["sparkConf"].items():
                if key.startswith("spark.sql."):
                    session.conf.set(key, value)
            spark_ingest.main(application["spec"]["arguments"])
            application["status"] = {"applicationState": {"state": "COMPLETED"}}
        else:
            application["status"] = {"applicationState": {"state": "FAILED", "errorMessage": "driver container failed with ExitCode: 1"}}

    return reconcile


def run_ingest(tmp_path: Path, small_tables, project_config) -> dict:
    events = project_config.data.events
    uris = {"dataset": (tmp_path / "store" / "flights").as_uri()}  # the object store is a local folder here
    return ingest_table(str(small_tables["events"]), str(tmp_path / "step" / "flights"), events.columns,
                        events.derived_columns, spark_master="spark-operator", cluster=CLUSTER, artifact_uris=uris)


def test_the_spark_operator_runs_our_ingest_and_the_step_copies_its_result(kube_api, tmp_path, small_tables, project_config, ingested):
    kube_api.reconcile["sparkapplications"] = spark_operator("COMPLETED")
    facts = run_ingest(tmp_path, small_tables, project_config)
    created = kube_api.sent("POST", "sparkapplications")
    assert len(created) == 1 and created[0].path == "/apis/sparkoperator.k8s.io/v1beta2/namespaces/team-a/sparkapplications"
    body = created[0].body
    assert SparkV1beta2SparkApplication.from_dict(body).to_dict() == body, "nothing the Spark API models do not know"
    spec = body["spec"]
    assert spec["image"] == "registry.example/cnai:1.2.3" and spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["mainApplicationFile"].endswith("cnai/backends/kubeflow/spark_ingest.py")
    assert spec["driver"]["serviceAccount"] == "cnai-spark" and spec["executor"]["instances"] == 3
    for role in ("driver", "executor"):
        pod = spec[role]
        assert pod["podSecurityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                          "capabilities": {"drop": ["ALL"]}}
        assert {ref["name"] for ref in pod["envSecretKeyRefs"].values()} == {"cnai-object-store"}
    assert not any("secret" in str(v).lower() for v in spec["sparkConf"].values()), "keys come from the Secret via env"
    # The same rows as the local step's, and the step's own output holds them.
    local = pd.read_parquet(ingested["events"])
    on_cluster = pd.read_parquet(tmp_path / "step" / "flights")
    assert facts["rows"] == len(local) == len(on_cluster)
    assert list(on_cluster.columns) == list(local.columns)


def test_a_failed_spark_application_fails_the_step_with_its_message_and_writes_nothing(kube_api, tmp_path, small_tables, project_config):
    kube_api.reconcile["sparkapplications"] = spark_operator("FAILED")
    with pytest.raises(ClusterError, match=r"SparkApplication team-a/cnai-ingest-\w+ FAILED: driver container failed"):
        run_ingest(tmp_path, small_tables, project_config)
    assert not (tmp_path / "step" / "flights").exists()


def test_s3a_reads_the_object_store_kfp_writes():
    assert storage.s3a("minio://mlpipeline/v2/artifacts/x") == "s3a://mlpipeline/v2/artifacts/x"
    assert storage.s3a("s3://bucket/key") == "s3a://bucket/key"
    assert storage.s3a("/local/path") == "/local/path"


def test_spark_operator_ingest_outside_a_cluster_step_is_refused_before_any_work(tmp_path):
    with pytest.raises(DataError, match="has no object-store URI"):
        ingest_table(str(tmp_path / "in.csv"), str(tmp_path / "out"), {"a": "int"}, spark_master="spark-operator", cluster=CLUSTER)
    assert not (tmp_path / "out").exists()


def test_the_images_entrypoint_starts_sparks_driver_and_executors_with_pysparks_own_jars():
    from cnai.backends.kubeflow.spark_entrypoint import command_for, spark_home

    env = {"SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.5:7078", "SPARK_EXECUTOR_ID": "3",
           "SPARK_EXECUTOR_CORES": "1", "SPARK_APPLICATION_ID": "spark-app-1", "SPARK_EXECUTOR_POD_IP": "10.0.0.9",
           "SPARK_EXECUTOR_MEMORY": "2g", "SPARK_RESOURCE_PROFILE_ID": "0", "SPARK_EXECUTOR_POD_NAME": "cnai-ingest-exec-3",
           "SPARK_JAVA_OPT_1": "-Dspark.driver.port=7078", "SPARK_JAVA_OPT_0": "-Dspark.app.id=spark-app-1"}
    command = command_for(["executor"], env)
    assert command[1:3] == ["-Dspark.app.id=spark-app-1", "-Dspark.driver.port=7078"], "options in Spark's order"
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in command
    jars = Path(command[command.index("-cp") + 1].split(":")[0].removesuffix("*"))
    assert jars == spark_home() / "jars" and any(jars.glob("spark-kubernetes_*.jar")), "PySpark ships the K8s backend"
    driver = command_for(["driver", "--properties-file", "/opt/spark/conf/spark.properties", "local:///app.py"], {})
    assert Path(driver[0]) == spark_home() / "bin" / "spark-submit" and Path(driver[0]).exists()
    assert driver[-3:] == ["--properties-file", "/opt/spark/conf/spark.properties", "local:///app.py"]
    assert command_for(["python", "-m", "cnai.backends.local.model_server"], {}) == ["python", "-m", "cnai.backends.local.model_server"], "others run as given"
    with pytest.raises(SystemExit, match="SPARK_DRIVER_URL"):
        command_for(["executor"], {})


def test_feast_cluster_config_loads_with_feasts_own_model_and_points_at_the_manifests_redis():
    config = load_repo_config(REPO / "feature_repo", REPO / "feature_repo" / "feature_store.cluster.yaml")
    assert type(config.offline_store).__name__ == "SparkOfflineStoreConfig"
    assert type(config.online_store).__name__ == "RedisOnlineStoreConfig"
    local = load_repo_config(REPO / "feature_repo", REPO / "feature_repo" / "feature_store.yaml")
    assert config.project == local.project, "one repo, two deployments"
    redis = next(d for d in yaml.safe_load_all((REPO / "manifests/base/feast-online-store.yaml").read_text())
                 if d["kind"] == "Service")
    assert config.online_store.connection_string == f"{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}"


def test_the_drivers_ingest_reads_a_quoted_line_break_as_the_local_step_does(tmp_path):
    """The driver typed with typed_frame, whose frame is lazy: Spark's MALFORMED_CSV_RECORD came at
    its write, past the retry that reads such a file whole, and left the driver as a bare error."""
    import json

    source = tmp_path / "challenges.csv"
    source.write_text('baker,signature,technical\nMiranda,"Triple Layered Cake\nwith Raspberry Cream",8.0\n'
                      'Ruth,"""Simmer Dim"" Sunset Cake",\nLea,"Cake, with Icing",10.0\n')
    columns = {"baker": "string", "signature": "string", "technical": "double"}
    assert spark_ingest.main(["--source", str(source), "--output", str(tmp_path / "out"),
                              "--column-types", json.dumps(columns)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out"), pd.read_csv(source))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"ragged.csv: Spark could not read it as csv"):
        spark_ingest.main(["--source", str(ragged), "--output", str(tmp_path / "out2"),
                           "--column-types", json.dumps({"a": "int", "b": "int"})])
