"""The tune step on Katib: the Experiment we send, the trial it runs, and the step against an API server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from kubeflow.optimizer.types.algorithm_types import GridSearch, RandomSearch
from kubeflow_katib_api.models import V1beta1Experiment

from cnai.backends.kubeflow import katib
from cnai.components.training.tune.executor import tune_hyperparameters
from cnai.core.config import KATIB_ALGORITHMS
from cnai.core.errors import ClusterError

K8S_VERSION = "1.32"
SPACE = [
    {"name": "learning_rate", "parameter_type": "double", "min": 0.03, "max": 0.3, "log": True},
    {"name": "max_leaf_nodes", "parameter_type": "int", "min": 15, "max": 127},
    {"name": "max_iter", "parameter_type": "int", "min": 50, "max": 100, "step": 50},
    {"name": "loss", "parameter_type": "categorical", "values": ["log_loss"]},
]
CLUSTER = {"namespace": "team-a", "image": "registry.example/cnai:1.2.3",
           "object_store_endpoint": "http://minio-service.kubeflow:9000", "experiment_timeout_s": 60}
# Katib's StdOut collector: the default metrics filter from katib/pkg/metricscollector (name=value lines).
KATIB_DEFAULT_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")


def build(algorithm: str, early_stopping: str = "median") -> dict:
    return katib.experiment("cnai-tune-test", "team-a", "minio://mlpipeline/v2/artifacts/run/training_set",
                            ["month", "origin"], "delayed", "time_hour", SPACE, algorithm, "roc_auc", "maximize",
                            12, 3, early_stopping, 0.15, 42, CLUSTER)


@pytest.mark.parametrize("algorithm", [*KATIB_ALGORITHMS])
def test_every_algorithm_name_is_a_valid_experiment_that_loses_nothing(algorithm):
    body = build(algorithm)
    model = V1beta1Experiment.from_dict(body)
    assert model.to_dict() == body, "a field the Katib API models do not know would be dropped on the way"
    spec = body["spec"]
    assert spec["algorithm"]["algorithmName"] == algorithm
    assert spec["objective"] == {"type": "maximize", "objectiveMetricName": "roc_auc"}
    assert spec["parameters"][0]["feasibleSpace"] == {"min": "0.03", "max": "0.3", "distribution": "logUniform"}
    assert spec["parameters"][1]["feasibleSpace"] == {"min": "15", "max": "127"}
    assert spec["parameters"][3]["feasibleSpace"] == {"list": ["log_loss"]}
    if algorithm == "hyperband":  # hyperband stops trials itself; medianstop would fight it
        assert "earlyStopping" not in spec
    else:
        assert spec["earlyStopping"]["algorithmName"] == "medianstop"


def test_grid_and_random_match_the_kubeflow_sdks_own_algorithm_specs():
    assert katib.algorithm_spec("grid", 42, SPACE) == GridSearch()._to_katib_spec().to_dict()
    assert katib.algorithm_spec("random", 42, SPACE) == RandomSearch(random_state=42)._to_katib_spec().to_dict()


def test_no_early_stopping_when_none_is_asked():
    assert "earlyStopping" not in build("tpe", early_stopping="none")["spec"]


def test_trial_job_is_a_valid_restricted_batch_job_that_fills_every_parameter():
    template = build("tpe")["spec"]["trialTemplate"]
    job = json.loads(json.dumps(template["trialSpec"]))
    references = re.findall(r"\$\{trialParameters\.(\w+)\}", json.dumps(job))
    assert sorted(references) == sorted(p["name"] for p in template["trialParameters"])
    assert {p["reference"] for p in template["trialParameters"]} == {p["name"] for p in SPACE}
    job["metadata"] = {"name": "trial-1", "namespace": "team-a"}
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["name"] == template["primaryContainerName"] and container["image"] == CLUSTER["image"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"]["runAsNonRoot"] is True and "limits" in container["resources"]
    secrets = [e for e in container["env"] if "valueFrom" in e]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in secrets} == {"cnai-object-store"}
    assert all("value" not in e for e in secrets), "credentials are referenced, never inlined"


def test_trial_prints_what_katibs_collector_reads_and_scores_like_the_local_tuner(training_set, model_features):
    params = {"learning_rate": 0.1, "max_leaf_nodes": 15, "max_iter": 100}
    command = [sys.executable, "-m", "cnai.backends.kubeflow.trial", "--training-set", training_set,
               "--feature-columns", json.dumps(model_features), "--label", "delayed", "--timestamp", "time_hour",
               "--metric", "roc_auc", *[a for k, v in params.items() for a in ("--param", f"{k}={v}")]]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    reported = [float(m.group(2)) for m in KATIB_DEFAULT_FILTER.finditer(printed) if m.group(1) == "roc_auc"]
    assert len(reported) == 2, "one report per 50 boosting rounds: medianstop's intermediate values"

    import pandas as pd

    from cnai.models.tuning import staged_scores, tuning_split

    fit_part, valid_part = tuning_split(pd.read_parquet(training_set), "time", "time_hour", 0.15, 100_000, 42)
    local = [value for _, value in staged_scores("hist_gradient_boosting", "binary", params, fit_part, valid_part,
                                                 model_features, "delayed", [0, 1], "roc_auc", 42)]
    assert reported == pytest.approx(local, abs=1e-6)


def katib_controller(outcome: str):
    """Plays Katib: on create, run two trials and mark the Experiment `outcome`."""

    def reconcile(experiment: dict, api) -> None:
        if experiment.get("status"):
            return
        name, ns = experiment["metadata"]["name"], experiment["metadata"]["namespace"]
        for index, (rate, auc, condition) in enumerate([("0.05", "0.61", "Succeeded"), ("0.2", "0.66", "EarlyStopped")]):
            api.put("kubeflow.org", "trials", {
                "apiVersion": "kubeflow.org/v1beta1", "kind": "Trial",
                "metadata": {"name": f"{name}-t{index}", "namespace": ns, "labels": {"katib.kubeflow.org/experiment": name}},
                "spec": {"parameterAssignments": [{"name": "learning_rate", "value": rate}, {"name": "max_iter", "value": "100"}]},
                "status": {"conditions": [{"type": condition, "status": "True"}],
                           "observation": {"metrics": [{"name": "roc_auc", "latest": auc, "max": auc, "min": auc}]}},
            })
        if outcome == "Succeeded":
            experiment["status"] = {
                "conditions": [{"type": "Created", "status": "True"}, {"type": "Succeeded", "status": "True", "reason": "ExperimentMaxTrialsReached"}],
                "trialsSucceeded": 1, "trialsEarlyStopped": 1,
                "currentOptimalTrial": {"bestTrialName": f"{name}-t0",
                                        "parameterAssignments": [{"name": "learning_rate", "value": "0.05"}, {"name": "max_iter", "value": "100"}],
                                        "observation": {"metrics": [{"name": "roc_auc", "latest": "0.61", "max": "0.61", "min": "0.61"}]}},
            }
        else:
            experiment["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "ExperimentFailed",
                                                    "message": "max failed trials reached"}], "trialsFailed": 3}

    return reconcile


def run_tune(tmp_path: Path, training_set: str, model_features: list[str], **overrides) -> dict:
    space = [SPACE[0], SPACE[2]]
    arguments = dict(algorithm="tpe", max_trials=2, parallel_trials=2, target="kubeflow", cluster=CLUSTER,
                     artifact_uris={"training_set": "minio://mlpipeline/v2/artifacts/run/training_set"})
    arguments.update(overrides)
    return tune_hyperparameters(training_set, str(tmp_path / "trials.md"), str(tmp_path / "m.json"),
                                str(tmp_path / "plot.html"), model_features, "delayed", "time_hour", space, **arguments)


def test_tune_step_creates_the_experiment_waits_and_returns_the_best_trial(kube_api, tmp_path, training_set, model_features):
    kube_api.reconcile["experiments"] = katib_controller("Succeeded")
    facts = run_tune(tmp_path, training_set, model_features)
    assert facts["best_params"] == {"learning_rate": 0.05, "max_iter": 100}  # typed back from Katib's strings
    assert facts["best_value"] == pytest.approx(0.61) and facts["trials_pruned"] == 1
    created = kube_api.sent("POST", "experiments")
    assert len(created) == 1 and created[0].path == "/apis/kubeflow.org/v1beta1/namespaces/team-a/experiments"
    sent = created[0].body
    assert V1beta1Experiment.from_dict(sent).to_dict() == sent
    assert "minio://mlpipeline/v2/artifacts/run/training_set" in sent["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "| succeeded |" in (tmp_path / "trials.md").read_text() and "| earlystopped |" in (tmp_path / "trials.md").read_text()
    assert json.loads((tmp_path / "m.json").read_text())["best_roc_auc"] == pytest.approx(0.61)

    # A retried step finds its Experiment instead of starting another.
    run_tune(tmp_path / "again", training_set, model_features)
    assert len(kube_api.sent("POST", "experiments")) == 1


def test_a_failed_experiment_fails_the_step_with_its_condition_and_writes_nothing(kube_api, tmp_path, training_set, model_features):
    kube_api.reconcile["experiments"] = katib_controller("Failed")
    with pytest.raises(ClusterError, match=r"Experiment team-a/cnai-tune-\w+ failed: Failed=True \(ExperimentFailed: max failed trials reached\)"):
        run_tune(tmp_path, training_set, model_features)
    assert not (tmp_path / "trials.md").exists()


def test_an_experiment_that_never_finishes_times_out_clearly(kube_api, tmp_path, training_set, model_features):
    with pytest.raises(ClusterError, match="not done after 0 s: no conditions yet"):
        run_tune(tmp_path, training_set, model_features, cluster={**CLUSTER, "experiment_timeout_s": 0})


def test_an_unreachable_api_server_is_a_clear_error(monkeypatch, tmp_path, training_set, model_features):
    monkeypatch.setenv("CNAI_KUBE_API_URL", "http://127.0.0.1:9")
    with pytest.raises(Exception, match="127.0.0.1"):
        run_tune(tmp_path, training_set, model_features)


@pytest.mark.parametrize("added, refused", [
    ("nothing", r"feature column\(s\) \['nothing'\] have no value in any of its \d+ rows"),
    ("scheduled", r"feature column 'scheduled' holds times")], ids=["empty", "time"])
def test_what_would_fail_every_trial_pod_is_refused_before_any_experiment(kube_api, tmp_path, training_set,
                                                                          model_features, added, refused):
    """Found in review: the Katib branch skipped the local path's checks and the trial runs none, so
    every trial pod failed with a bare error (scikit-learn's on an empty column)."""
    import numpy as np
    import pandas as pd

    from cnai.core.errors import DataError

    frame = pd.read_parquet(training_set)
    frame.assign(nothing=np.nan, scheduled=frame["time_hour"]).to_parquet(tmp_path / "checked.parquet")
    with pytest.raises(DataError, match=refused):
        run_tune(tmp_path, str(tmp_path / "checked.parquet"), [*model_features, added])
    assert kube_api.requests == []


KIND_SPACES = {
    "hist_gradient_boosting": {"learning_rate": 0.1, "max_iter": 100},
    "xgboost": {"learning_rate": 0.1, "n_estimators": 100},
    "lightgbm": {"learning_rate": 0.1, "n_estimators": 100},
    "sklearn.ensemble.RandomForestClassifier": {"n_estimators": 30, "max_depth": 6},
}


@pytest.mark.parametrize("kind", KIND_SPACES)
def test_each_model_kinds_experiment_runs_its_own_trial(kind, training_set, model_features):
    """The Experiment per model kind: valid for Katib's models, and its trial template, filled in as
    Katib fills it, runs our trial entry point on that kind and prints the objective Katib collects."""
    params = KIND_SPACES[kind]
    space = [{"name": name, "parameter_type": "double" if isinstance(v, float) else "int", "min": v, "max": v * 2}
             for name, v in params.items()]
    spec = {"kind": kind, "task": "binary", "split": "time", "positive_label": 1}
    body = katib.experiment("cnai-tune-kind", "team-a", training_set, model_features, "delayed", "time_hour", space,
                            "tpe", "roc_auc", "maximize", 4, 2, "none", 0.15, 42, CLUSTER, model_spec=spec)
    assert V1beta1Experiment.from_dict(body).to_dict() == body
    template = body["spec"]["trialTemplate"]
    container = template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    assert json.loads(container["args"][container["args"].index("--model-spec") + 1]) == spec
    filled = json.dumps(container["args"])
    for trial_parameter in template["trialParameters"]:
        filled = filled.replace(f"${{trialParameters.{trial_parameter['name']}}}", str(params[trial_parameter["reference"]]))
    printed = subprocess.run([sys.executable, "-m", "cnai.backends.kubeflow.trial", *json.loads(filled)],
                             capture_output=True, text=True, check=True).stdout
    reported = [float(m.group(2)) for m in KATIB_DEFAULT_FILTER.finditer(printed) if m.group(1) == "roc_auc"]
    assert reported and 0.5 < reported[-1] <= 1.0, printed[-500:]


TORCH_SPACE = [{"name": "learning_rate", "parameter_type": "double", "min": 0.001, "max": 0.01, "log": True},
               {"name": "max_epochs", "parameter_type": "int", "min": 2, "max": 3}]


def test_a_distributed_kind_is_tuned_through_the_sdks_optimizer_client_with_trainjob_trials(
        kube_api, tmp_path, training_set, model_features):
    """torch_tabular with random search: the Kubeflow SDK's OptimizerClient creates the Experiment,
    each trial a TrainJob on Trainer's torch-distributed runtime with `processes` nodes; the step
    waits for it and types the best trial back like any other. The trial's node, run as Katib fills
    it in, scores with our trial entry point and prints what Katib's collector reads."""
    from kubeflow_trainer_api.models import TrainerV1alpha1TrainJobSpec

    def reconcile(experiment: dict, api) -> None:
        if not experiment.get("status"):
            experiment["status"] = {
                "conditions": [{"type": "Succeeded", "status": "True"}], "trialsSucceeded": 2,
                "currentOptimalTrial": {"bestTrialName": "t0", "parameterAssignments": [
                    {"name": "learning_rate", "value": "0.005"}, {"name": "max_epochs", "value": "2"}],
                    "observation": {"metrics": [{"name": "roc_auc", "latest": "0.6"}]}}}

    kube_api.reconcile["experiments"] = reconcile

    def tune(where: Path) -> dict:
        where.mkdir(parents=True, exist_ok=True)
        return tune_hyperparameters(training_set, str(where / "trials.md"), str(where / "m.json"), str(where / "plot.html"),
                                    model_features, "delayed", "time_hour", TORCH_SPACE, algorithm="random", max_trials=2,
                                    parallel_trials=1, target="kubeflow", cluster=CLUSTER, model_kind_name="torch_tabular",
                                    task="binary", model_params={"processes": 2},
                                    artifact_uris={"training_set": training_set})

    facts = tune(tmp_path)
    assert facts["best_params"] == {"learning_rate": 0.005, "max_epochs": 2}
    [created] = kube_api.sent("POST", "experiments")
    body = created.body
    assert V1beta1Experiment.from_dict(body).to_dict() == body
    assert body["spec"]["algorithm"] == RandomSearch(random_state=42)._to_katib_spec().to_dict()
    template = body["spec"]["trialTemplate"]
    assert template["trialSpec"]["kind"] == "TrainJob" and template["primaryContainerName"] == "node"
    job = TrainerV1alpha1TrainJobSpec.from_dict(template["trialSpec"]["spec"])
    assert job.runtime_ref.name == "torch-distributed" and job.trainer.num_nodes == 2 and job.trainer.image == CLUSTER["image"]
    tune(tmp_path / "again")  # a retried step finds the Experiment it started
    assert len(kube_api.sent("POST", "experiments")) == 1

    # One node of a trial, as Katib fills it in and bash runs it: the SDK's script writes our
    # function and its call to a file (torchrun, here python, runs it).
    script = "\n".join(job.trainer.command[2:])
    assert set(re.findall(r"\$\{trialParameters\.(\w+)\}", script)) == {"learning_rate", "max_epochs"}, "all Katib knows"
    script = script.replace("${trialParameters.learning_rate}", "0.005").replace("${trialParameters.max_epochs}", "2")
    script = script.replace('torchrun "katib.py"', f'{sys.executable} "katib.py"')
    ran = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    reported = [m.group(1) for m in KATIB_DEFAULT_FILTER.finditer(ran.stdout)]
    assert reported and set(reported) == {"roc_auc"}


def test_a_trial_reads_katibs_values_as_the_local_tuner_has_them():
    """Katib writes a categorical's values as text: `early_stopping: [true, false]` (searchable since
    HistGradientBoosting keeps scikit-learn's early stopping) arrives as "True" or "False", which the
    trial passed on as text and scikit-learn refused in every trial."""
    from cnai.backends.kubeflow.trial import _value

    assert [_value(v) for v in ("True", "False", "0.1", "150", "log_loss")] == [True, False, 0.1, 150, "log_loss"]
