"""The tune step on a cluster: the same declaration as a Katib Experiment.

A model kind that trains across nodes (the PyTorch network) with grid or random search is tuned
through the Kubeflow SDK's `OptimizerClient`: every trial is a TrainJob on Trainer's
`torch-distributed` runtime, `processes` nodes each running `katib_trial` (the same scoring, one
DDP rank per node). The SDK covers only grid and random search, so for every other algorithm, and
every other kind, the Experiment is built here with the SDK's own `kubeflow_katib_api` models
(which validate it); for grid and random the algorithm spec is the one the SDK itself produces (a
test holds us to that). Each trial is a batch Job in the project image
running `python -m cnai.backends.kubeflow.trial`, which prints `metric=value` after every
`ITERATIONS_PER_REPORT` boosting rounds: Katib's StdOut collector reads those lines, and its
medianstop early stopping judges the intermediate ones, as Optuna's pruner does locally.
"""

from __future__ import annotations

import hashlib
import json
import logging
from types import SimpleNamespace
from typing import Any

from cnai.backends.kubeflow import kube
from cnai.core.artifacts import atomic_output
from cnai.core.config import cluster_config
from cnai.core.errors import ClusterError, ConfigError
from cnai.core.kfp_settings import COMPONENT_IMAGE, OBJECT_STORE_SECRET, RUN_AS_USER

log = logging.getLogger(__name__)

PRIMARY_CONTAINER = "trial"
OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def algorithm_spec(algorithm: str, seed: int, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """Katib's AlgorithmSpec for one of its algorithm names, seeded where the algorithm takes a seed."""
    seeded = {"random", "tpe", "multivariate-tpe", "cmaes", "bayesianoptimization"}
    settings: list[dict[str, str]] = []
    if algorithm in seeded:
        settings.append({"name": "random_state", "value": str(seed)})
    if algorithm == "bayesianoptimization":
        settings += [{"name": "base_estimator", "value": "GP"}, {"name": "n_initial_points", "value": "5"}]
    if algorithm == "hyperband":
        resource = next((p for p in parameters if p["name"] == "max_iter"), None)
        if resource is None:
            raise ConfigError("tuning.parameters: hyperband needs a max_iter parameter (its resource)")
        settings += [{"name": "resource_name", "value": "max_iter"}, {"name": "eta", "value": "3"},
                     {"name": "r_l", "value": str(int(resource["max"]))}]
    if algorithm not in seeded | {"grid", "sobol", "hyperband"}:
        raise ConfigError(f"tuning.algorithm: {algorithm!r} is not a Katib algorithm name")
    spec: dict[str, Any] = {"algorithmName": algorithm}
    if settings:
        spec["algorithmSettings"] = settings
    return spec


def parameter_specs(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our ParameterSpec shape -> Katib's (numbers as strings, `log` as the logUniform distribution)."""
    specs = []
    for p in parameters:
        kind = p["parameter_type"]
        if kind in ("categorical", "discrete"):
            space: dict[str, Any] = {"list": [str(v) for v in p["values"]]}
        else:
            as_text = (lambda v: str(int(v))) if kind == "int" else (lambda v: repr(float(v)))
            space = {"min": as_text(p["min"]), "max": as_text(p["max"])}
            if p.get("step"):
                space["step"] = as_text(p["step"])
            if p.get("log"):
                space["distribution"] = "logUniform"
        specs.append({"name": p["name"], "parameterType": kind, "feasibleSpace": space})
    return specs


def trial_job(image: str, cluster: dict[str, Any], training_set_uri: str, feature_columns: list[str], label: str,
              timestamp: str, metric: str, holdout_fraction: float, seed: int,
              parameters: list[dict[str, Any]], model_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batch/v1 Job each trial runs; `${trialParameters.x}` is filled in by Katib. `model_spec`
    ({kind, task, split, positive_label}) is what the trial fits and how it holds rows out."""
    resources = cluster_config(cluster).resources.model_dump()
    secret = OBJECT_STORE_SECRET
    args = ["--training-set", training_set_uri, "--feature-columns", json.dumps(feature_columns), "--label", label,
            "--timestamp", timestamp, "--metric", metric, "--holdout-fraction", str(holdout_fraction), "--seed", str(seed)]
    if model_spec:
        args += ["--model-spec", json.dumps(model_spec, sort_keys=True)]
    for p in parameters:
        args += ["--param", f"{p['name']}=${{trialParameters.{_trial_parameter(p['name'])}}}"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/part-of": "cnai-pipelines"},
                             "annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "serviceAccountName": "cnai-trial",  # manifests/base/service-accounts.yaml: no API access
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": PRIMARY_CONTAINER,
                        "image": image,
                        "command": ["python", "-m", "cnai.backends.kubeflow.trial"],
                        "args": args,
                        "env": [
                            {"name": "AWS_ENDPOINT_URL", "value": cluster_config(cluster).object_store_endpoint},
                            *({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                              for key in OBJECT_STORE_KEYS),
                        ],
                        "resources": {
                            "requests": {"cpu": resources.get("cpu", "1"), "memory": resources.get("memory", "2Gi")},
                            "limits": {"cpu": resources.get("cpu_limit", "2"), "memory": resources.get("memory_limit", "4Gi")},
                        },
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


SDK_ALGORITHMS = ("grid", "random")  # what the Kubeflow SDK's OptimizerClient offers


def katib_trial(**arguments):
    # Each node of a trial TrainJob runs this. The Kubeflow SDK sends its source inside a bash
    # here-document in the TrainJob's command, so it holds no backquote or dollar sign (bash would
    # expand them), and Katib fills the searched parameters into the call's arguments.
    from cnai.backends.kubeflow.trial import run_in_trial_job

    run_in_trial_job(arguments)


def optimize_with_sdk(marker: str, namespace: str, training_set_uri: str, feature_columns: list[str], label: str,
                      timestamp: str, search_space: list[dict[str, Any]], algorithm: str, objective_metric: str,
                      objective_goal: str, max_trials: int, parallel_trials: int, holdout_fraction: float, seed: int,
                      cluster: dict[str, Any], model_spec: dict[str, Any]) -> str:
    """The Experiment through `OptimizerClient.optimize`, its trial template a TrainJob; returns its
    name. The SDK names it at random, so `marker` (our deterministic name) travels in the trial's
    arguments, and a retried step finds the Experiment it started by it."""
    from kubeflow.common.types import KubernetesBackendConfig
    from kubeflow.optimizer import GridSearch, OptimizerClient, RandomSearch, TrainJobTemplate
    from kubeflow.optimizer.types.optimization_types import Direction, Objective, TrialConfig
    from kubeflow.trainer import CustomTrainer
    from kubeflow.trainer.constants import constants as trainer_constants
    from kubeflow.trainer.types.types import Runtime, RuntimeKind, RuntimeTrainer, TrainerType
    from kubeflow_katib_api.models import V1beta1ParameterSpec

    from cnai.backends.kubeflow.trainer import TORCH_RUNTIME

    for found in kube.list_objects(kube.EXPERIMENT, namespace, ""):
        if f"'cnai_experiment': '{marker}'" in json.dumps(found.get("spec", {}).get("trialTemplate", {})):
            return found["metadata"]["name"]
    image = cluster.get("image") or COMPONENT_IMAGE
    resources = cluster_config(cluster).resources.model_dump()
    trainer = RuntimeTrainer(trainer_type=TrainerType.CUSTOM_TRAINER, framework="torch", image=image)
    trainer.set_command(trainer_constants.TORCH_COMMAND)
    fixed = {"cnai_experiment": marker, "training_set": training_set_uri, "feature_columns": feature_columns,
             "label": label, "timestamp": timestamp, "metric": objective_metric, "holdout_fraction": holdout_fraction,
             "seed": seed, "model_spec": model_spec, "searched": [p["name"] for p in search_space]}
    template = TrainJobTemplate(
        runtime=Runtime(name=TORCH_RUNTIME, kind=RuntimeKind.CLUSTER_TRAINING_RUNTIME, trainer=trainer),
        trainer=CustomTrainer(func=katib_trial, func_args=fixed, image=image,
                              num_nodes=int((model_spec.get("model_params") or {}).get("processes", 2)),
                              resources_per_node={"cpu": resources.get("cpu_limit", "2"),
                                                  "memory": resources.get("memory_limit", "4Gi")},
                              env={"AWS_ENDPOINT_URL": cluster_config(cluster).object_store_endpoint},
                              packages_to_install=None))
    client = OptimizerClient(KubernetesBackendConfig(namespace=namespace, client_configuration=kube.configuration()))
    return client.optimize(
        trial_template=template,
        trial_config=TrialConfig(num_trials=max_trials, parallel_trials=parallel_trials,
                                 max_failed_trials=max(1, max_trials // 5)),
        search_space={p["name"]: V1beta1ParameterSpec.from_dict(spec)
                      for p, spec in zip(search_space, parameter_specs(search_space), strict=True)},
        objectives=[Objective(metric=objective_metric, direction=Direction(objective_goal))],
        algorithm=RandomSearch(random_state=seed) if algorithm == "random" else GridSearch(),
    )


def _trial_parameter(name: str) -> str:
    return name.replace("_", "")  # Katib's trial parameter names: letters and digits read best in ${...}


def experiment(name: str, namespace: str, training_set_uri: str, feature_columns: list[str], label: str,
               timestamp: str, search_space: list[dict[str, Any]], algorithm: str, objective_metric: str,
               objective_goal: str, max_trials: int, parallel_trials: int, early_stopping: str,
               holdout_fraction: float, seed: int, cluster: dict[str, Any],
               model_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Experiment as the Kubernetes API receives it, checked by `kubeflow_katib_api`'s models."""
    from kubeflow_katib_api.models import V1beta1Experiment

    image = cluster.get("image") or COMPONENT_IMAGE
    spec: dict[str, Any] = {
        "objective": {"type": objective_goal, "objectiveMetricName": objective_metric},
        "algorithm": algorithm_spec(algorithm, seed, search_space),
        "parameters": parameter_specs(search_space),
        "maxTrialCount": max_trials,
        "parallelTrialCount": parallel_trials,
        "maxFailedTrialCount": max(1, max_trials // 5),
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "resumePolicy": "Never",
        "trialTemplate": {
            "primaryContainerName": PRIMARY_CONTAINER,
            "retain": False,
            "trialParameters": [{"name": _trial_parameter(p["name"]), "reference": p["name"],
                                 "description": f"{p['parameter_type']} hyperparameter {p['name']}"} for p in search_space],
            "trialSpec": trial_job(image, cluster, training_set_uri, feature_columns, label, timestamp,
                                   objective_metric, holdout_fraction, seed, search_space, model_spec),
            "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
            "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
        },
    }
    if early_stopping == "median" and algorithm != "hyperband":
        spec["earlyStopping"] = {"algorithmName": "medianstop", "algorithmSettings": [
            {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "1"}]}
    body = {
        "apiVersion": kube.EXPERIMENT.api_version,
        "kind": kube.EXPERIMENT.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "cnai-pipelines"}},
        "spec": spec,
    }
    V1beta1Experiment.from_dict(body)  # raises on a field of the wrong type or shape
    return body


def experiment_name(training_set_uri: str, search_space: list[dict[str, Any]], algorithm: str, seed: int) -> str:
    """Deterministic: a retried pipeline step finds (and waits for) the Experiment it already started."""
    digest = hashlib.sha256(json.dumps([training_set_uri, search_space, algorithm, seed], sort_keys=True).encode())
    return f"cnai-tune-{digest.hexdigest()[:10]}"


def _typed(value: str, parameter: dict[str, Any]) -> Any:
    kind = parameter["parameter_type"]
    if kind == "int":
        return int(float(value))
    if kind == "double":
        return float(value)
    for original in parameter.get("values") or []:
        if str(original) == value:
            return original
    return value


def best_parameters(experiment_obj: dict[str, Any], search_space: list[dict[str, Any]]) -> tuple[dict[str, Any], float, str]:
    optimal = (experiment_obj.get("status") or {}).get("currentOptimalTrial") or {}
    assignments = {a["name"]: a["value"] for a in optimal.get("parameterAssignments") or []}
    if not assignments:
        raise ClusterError(f"Experiment {experiment_obj['metadata']['name']} succeeded without an optimal trial")
    by_name = {p["name"]: p for p in search_space}
    params = {name: _typed(value, by_name[name]) for name, value in assignments.items()}
    metrics = (optimal.get("observation") or {}).get("metrics") or []
    objective = experiment_obj["spec"]["objective"]["objectiveMetricName"]
    value = next((float(m.get("latest", m.get("max"))) for m in metrics if m["name"] == objective), float("nan"))
    return params, value, optimal.get("bestTrialName", "")


def _trial_rows(namespace: str, name: str, metric: str) -> list[dict[str, Any]]:
    rows = []
    for trial in kube.list_objects(kube.TRIAL, namespace, f"katib.kubeflow.org/experiment={name}"):
        conditions = (trial.get("status") or {}).get("conditions") or []
        state = conditions[-1]["type"].lower() if conditions else "created"
        metrics = ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []
        value = next((float(m["latest"]) for m in metrics if m["name"] == metric and m.get("latest") not in (None, "unavailable")), None)
        assignments = {a["name"]: a["value"] for a in trial["spec"].get("parameterAssignments") or []}
        rows.append({"trial": trial["metadata"]["name"], "state": state, metric: value, **assignments})
    return sorted(rows, key=lambda r: r["trial"])


def tune_on_katib(training_set_uri: str, trials: str, tuning_metrics: str, objective_plot: str,
                  feature_columns: list[str], label: str, timestamp: str, search_space: list[dict[str, Any]],
                  algorithm: str, objective_metric: str, objective_goal: str, max_trials: int, parallel_trials: int,
                  early_stopping: str, holdout_fraction: float, seed: int, cluster: dict[str, Any],
                  model_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create (or find) the Experiment, wait for it, and write the same outputs as the local search."""
    from cnai.backends.kubeflow.trainer import DISTRIBUTED_KINDS
    from cnai.core.rendering import objective_plot_html, trials_markdown
    from cnai.core.search_space import check_search_space

    check_search_space(search_space, algorithm)
    namespace = cluster_config(cluster).namespace
    name = experiment_name(training_set_uri, [*search_space, model_spec or {}], algorithm, seed)
    if (model_spec or {}).get("kind") in DISTRIBUTED_KINDS and algorithm in SDK_ALGORITHMS:
        name = optimize_with_sdk(name, namespace, training_set_uri, feature_columns, label, timestamp, search_space,
                                 algorithm, objective_metric, objective_goal, max_trials, parallel_trials,
                                 holdout_fraction, seed, cluster, model_spec or {})
        log.warning("Katib Experiment %s/%s through the Kubeflow SDK's OptimizerClient (%s, %d TrainJob trials)",
                    namespace, name, algorithm, max_trials)
    elif kube.get(kube.EXPERIMENT, namespace, name) is None:
        body = experiment(name, namespace, training_set_uri, feature_columns, label, timestamp, search_space, algorithm,
                          objective_metric, objective_goal, max_trials, parallel_trials, early_stopping, holdout_fraction,
                          seed, cluster, model_spec)
        kube.apply(kube.EXPERIMENT, namespace, body)
        log.warning("created Katib Experiment %s/%s (%s, %d trials)", namespace, name, algorithm, max_trials)

    def progress(obj: dict[str, Any]) -> str:
        status = obj.get("status") or {}
        return (f"{status.get('trialsSucceeded', 0)} succeeded, {status.get('trialsRunning', 0)} running, "
                f"{status.get('trialsEarlyStopped', 0)} stopped early, {status.get('trialsFailed', 0)} failed "
                f"of {max_trials}")

    finished = kube.wait_for(kube.EXPERIMENT, namespace, name, done=lambda o: kube.is_true(o, "Succeeded"),
                             failed=lambda o: kube.is_true(o, "Failed"),
                             timeout_s=float(cluster_config(cluster).experiment_timeout_s), progress=progress)
    params, value, best_trial = best_parameters(finished, search_space)
    table = _trial_rows(namespace, name, objective_metric)
    best_index = next((i for i, row in enumerate(table) if row["trial"] == best_trial), 0)
    status = finished.get("status") or {}
    summary = {f"best_{objective_metric}": value, "trials_completed": int(status.get("trialsSucceeded", 0)),
               "trials_pruned": int(status.get("trialsEarlyStopped", 0))}
    frozen = [SimpleNamespace(number=i, value=row[objective_metric], intermediate_values={},
                              state=SimpleNamespace(name="COMPLETE" if row["state"] == "succeeded" else "PRUNED"))
              for i, row in enumerate(table)]
    with atomic_output(trials) as staging:
        staging.write_text(trials_markdown(table, objective_metric, algorithm, best_index))
    with atomic_output(tuning_metrics) as staging:
        staging.write_text(json.dumps(summary, indent=2))
    with atomic_output(objective_plot) as staging:
        staging.write_text(objective_plot_html(frozen, objective_metric, objective_goal == "maximize", algorithm))
    return {
        "best_params": params,
        "best_value": value,
        "best_trial": best_trial,
        "experiment": f"{namespace}/{name}",
        **{k: summary[k] for k in ("trials_completed", "trials_pruned")},
        "maximize": objective_goal == "maximize",
        "output_metadata": {
            "trials": {"algorithm": algorithm, "objective": objective_metric, "experiment": f"{namespace}/{name}",
                       "trials": table},
            "tuning_metrics": summary,
        },
    }
