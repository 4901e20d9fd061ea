"""The train step as a Kubeflow Trainer TrainJob: what the Kubeflow SDK sends, and the step around it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob

from cnai.backends.kubeflow import train_job
from cnai.components.training.train.executor import train_model
from cnai.core.errors import ClusterError
from cnai.models.saved import LoadedModel

CLUSTER = {"namespace": "team-a", "image": "registry.example/cnai:1.2.3", "object_store_endpoint": "http://minio:9000",
           "experiment_timeout_s": 5, "resources": {"cpu_limit": "2", "memory_limit": "4Gi"}}
PARAMS = {"max_iter": 50, "learning_rate": 0.1}


def trainer_controller(outcome: str):
    """Plays Kubeflow Trainer: runs the TrainJob's node command (our real entry point) and sets its condition."""

    def reconcile(job: dict, api) -> None:
        if job.get("status"):
            return
        if outcome == "Complete":
            train_job.main(job["spec"]["trainer"]["args"])
            job["status"] = {"conditions": [{"type": "Complete", "status": "True", "reason": "JobsCompleted"}]}
        else:
            job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "JobsFailed",
                                             "message": "node-0: OOMKilled"}]}

    return reconcile


def run_train(tmp_path: Path, training_set: str, model_features: list[str]) -> tuple[dict, dict[str, str]]:
    outputs = {name: str(tmp_path / "step" / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
    # The object store is a local folder here: the step and the "node" read and write the same URIs.
    uris = {"training_set": training_set, **{name: str(tmp_path / "store" / name) for name in outputs}}
    facts = train_model(training_set, feature_columns=model_features, label="delayed", timestamp="time_hour",
                        params=PARAMS, target="kubeflow", cluster=CLUSTER, artifact_uris=uris, **outputs)
    return facts, outputs


def test_trainjob_from_the_sdk_is_valid_and_runs_our_entry_point_with_our_image(kube_api, tmp_path, training_set, model_features):
    kube_api.reconcile["trainjobs"] = trainer_controller("Complete")
    facts, outputs = run_train(tmp_path, training_set, model_features)
    created = kube_api.sent("POST", "trainjobs")
    assert len(created) == 1 and created[0].path == "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a/trainjobs"
    body = created[0].body
    assert TrainerV1alpha1TrainJob.from_dict(body).to_dict() == body, "nothing the Trainer API models do not know"
    assert body["spec"]["runtimeRef"] == {"name": "cnai-sklearn", "kind": "TrainingRuntime"}
    trainer = body["spec"]["trainer"]
    assert trainer["image"] == CLUSTER["image"] and trainer["numNodes"] == 1
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert {"name": "AWS_ENDPOINT_URL", "value": "http://minio:9000"} in trainer["env"]
    assert json.loads(trainer["args"][trainer["args"].index("--params") + 1]) == PARAMS
    assert body["metadata"]["labels"]["app.kubernetes.io/part-of"] == "cnai-pipelines"

    # The step's outputs are the node's, copied in: a loadable model and the same scores.
    assert facts["train_job"].startswith("team-a/cnai-train-")
    model = LoadedModel(outputs["model"])
    holdout = pd.read_parquet(outputs["holdout"])
    assert len(model.scores(holdout[model.feature_columns].head(5))) == 5
    assert json.loads(Path(outputs["metrics"]).read_text()) == facts["scores"]
    assert not (Path(outputs["model"]) / "facts.json").exists(), "the model folder holds only the model"


def test_same_inputs_find_the_same_trainjob_instead_of_starting_another(kube_api, tmp_path, training_set, model_features):
    kube_api.reconcile["trainjobs"] = trainer_controller("Complete")
    run_train(tmp_path / "first", training_set, model_features)
    run_train(tmp_path / "first", training_set, model_features)
    assert len(kube_api.sent("POST", "trainjobs")) == 1


def test_a_failed_trainjob_fails_the_step_and_writes_no_output(kube_api, tmp_path, training_set, model_features):
    kube_api.reconcile["trainjobs"] = trainer_controller("Failed")
    with pytest.raises(ClusterError, match=r"TrainJob team-a/cnai-train-\w+ failed: Failed=True \(JobsFailed: node-0: OOMKilled\)"):
        run_train(tmp_path, training_set, model_features)
    assert not (tmp_path / "step").exists() or not any((tmp_path / "step").iterdir())


@pytest.mark.parametrize("kind, params, serving_format", [
    ("xgboost", {"n_estimators": 30}, "xgboost"), ("lightgbm", {"n_estimators": 30}, "lightgbm"),
    ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20}, "sklearn")])
def test_each_model_kind_trains_in_its_trainjob(kind, params, serving_format, kube_api, tmp_path, training_set, model_features):
    """The TrainJob carries the kind; its node (our entry point) fits that kind and saves it in the
    format KServe's runtime for it serves."""
    kube_api.reconcile["trainjobs"] = trainer_controller("Complete")
    outputs = {name: str(tmp_path / "step" / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
    uris = {"training_set": training_set, **{name: str(tmp_path / "store" / name) for name in outputs}}
    train_model(training_set, feature_columns=model_features, label="delayed", timestamp="time_hour", params=params,
                model_kind_name=kind, target="kubeflow", cluster=CLUSTER, artifact_uris=uris, **outputs)
    [created] = kube_api.sent("POST", "trainjobs")
    args = created.body["spec"]["trainer"]["args"]
    assert json.loads(args[args.index("--model-spec") + 1])["model_kind_name"] == kind
    model = LoadedModel(outputs["model"])
    assert model.meta["kind"] == kind and model.meta["serving_format"] == serving_format
    holdout = pd.read_parquet(outputs["holdout"])
    assert len(model.scores(holdout[model.feature_columns].head(5))) == 5


def test_the_pytorch_kind_trains_across_nodes_on_the_torch_distributed_runtime(kube_api, tmp_path, training_set, model_features):
    """torch_tabular's TrainJob: Trainer's torch-distributed runtime with `processes` nodes, each
    running torchrun on our entry point. The controller here runs that command for real with two
    ranks on loopback (two "nodes"): both train together in DDP, rank 0 alone writes the outputs."""
    import subprocess
    import sys

    def reconcile(job: dict, api) -> None:
        if job.get("status"):
            return
        trainer = job["spec"]["trainer"]
        assert trainer["command"] == ["torchrun", "-m", "cnai.backends.kubeflow.train_job"]
        # torchrun as each node starts it, here both nodes on this machine (Trainer sets PET_NNODES etc.).
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={trainer['numNodes']}",
                        "-m", "cnai.backends.kubeflow.train_job", *trainer["args"]], check=True, capture_output=True)
        job["status"] = {"conditions": [{"type": "Complete", "status": "True", "reason": "JobsCompleted"}]}

    kube_api.reconcile["trainjobs"] = reconcile
    outputs = {name: str(tmp_path / "step" / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
    uris = {"training_set": training_set, **{name: str(tmp_path / "store" / name) for name in outputs}}
    params = {"processes": 2, "max_epochs": 5, "hidden_units": 16}
    train_model(training_set, feature_columns=model_features, label="delayed", timestamp="time_hour", params=params,
                model_kind_name="torch_tabular", target="kubeflow", cluster=CLUSTER, artifact_uris=uris, **outputs)
    [created] = kube_api.sent("POST", "trainjobs")
    body = created.body
    assert TrainerV1alpha1TrainJob.from_dict(body).to_dict() == body
    assert body["spec"]["runtimeRef"] == {"name": "torch-distributed", "kind": "ClusterTrainingRuntime"}
    assert body["spec"]["trainer"]["numNodes"] == 2
    model = LoadedModel(outputs["model"])
    assert model.meta["serving_format"] == "pytorch"
    ranks = json.loads((Path(outputs["model"]) / "preprocess.json").read_text())["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["parameters"] == ranks[1]["parameters"]
    holdout = pd.read_parquet(outputs["holdout"])
    assert len(model.scores(holdout[model.feature_columns].head(5))) == 5
