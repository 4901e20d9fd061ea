"""The train step on a cluster: a Kubeflow Trainer v2 TrainJob, submitted with the Kubeflow SDK.

`TrainerClient.train` creates the TrainJob on the `cnai-sklearn` TrainingRuntime
(manifests/base/training-runtime.yaml) with our image, resources and arguments; its single node
runs `python -m cnai.backends.kubeflow.train_job`, which calls the same `train_model` as the local step and
writes the outputs under a staging prefix beside the step's own output artifacts. The step waits
for the TrainJob's `Complete` condition, then copies the staged files into its outputs, which KFP
uploads as usual. A `Failed` TrainJob, or one still running at the deadline, fails the step with
its last condition; nothing is copied, so no partial model reaches the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from cnai.backends.kubeflow import kube
from cnai.core.artifacts import atomic_output
from cnai.core.config import cluster_config
from cnai.core.kfp_settings import COMPONENT_IMAGE

log = logging.getLogger(__name__)

RUNTIME = "cnai-sklearn"
# The PyTorch network trains across nodes on Kubeflow Trainer's own runtime, which runs torchrun in
# each node with the rendezvous set: one process per node, `processes` nodes.
TORCH_RUNTIME = "torch-distributed"
DISTRIBUTED_KINDS = {"torch_tabular"}
OUTPUTS = ("model", "holdout", "metrics", "classification_metrics")


def job_name(training_set_uri: str, params: dict[str, Any], seed: int) -> str:
    """Deterministic: a retried step finds the TrainJob it started (names must start with a letter)."""
    digest = hashlib.sha256(json.dumps([training_set_uri, params, seed], sort_keys=True).encode()).hexdigest()
    return f"cnai-train-{digest[:10]}"


def trainer_client(namespace: str):
    from kubeflow.common.types import KubernetesBackendConfig
    from kubeflow.trainer import TrainerClient

    return TrainerClient(backend_config=KubernetesBackendConfig(namespace=namespace,
                                                                client_configuration=kube.configuration()))


def submit(name: str, namespace: str, args: list[str], cluster: dict[str, Any], distributed_nodes: int = 0) -> None:
    """The TrainJob: one node on our runtime, or `distributed_nodes` on Trainer's torch-distributed one."""
    from kubeflow.trainer.options.common import Name
    from kubeflow.trainer.options.kubernetes import Labels, TrainerArgs, TrainerCommand
    from kubeflow.trainer.types.types import (
        CustomTrainerContainer,
        Runtime,
        RuntimeKind,
        RuntimeTrainer,
        TrainerType,
    )

    image = cluster.get("image") or COMPONENT_IMAGE
    resources = cluster_config(cluster).resources.model_dump()
    # The runtime is named, not looked up: ours is a TrainingRuntime with a custom trainer, and the
    # step's service account needs no read access to runtimes.
    if distributed_nodes:
        runtime = Runtime(name=TORCH_RUNTIME, kind=RuntimeKind.CLUSTER_TRAINING_RUNTIME,
                          trainer=RuntimeTrainer(trainer_type=TrainerType.CUSTOM_TRAINER, framework="torch", image=image))
    else:
        runtime = Runtime(name=RUNTIME, kind=RuntimeKind.TRAINING_RUNTIME,
                          trainer=RuntimeTrainer(trainer_type=TrainerType.CUSTOM_TRAINER, framework="sklearn", image=image))
    trainer = CustomTrainerContainer(
        image=image, num_nodes=distributed_nodes or 1,
        resources_per_node={"cpu": resources.get("cpu_limit", "2"), "memory": resources.get("memory_limit", "4Gi")},
        env={"AWS_ENDPOINT_URL": cluster_config(cluster).object_store_endpoint},
    )
    options = [Name(name=name), Labels(labels={"app.kubernetes.io/part-of": "cnai-pipelines"}), TrainerArgs(args=args)]
    if distributed_nodes:  # torchrun reads the node count, rank and rendezvous from the PET_* variables Trainer sets
        options.append(TrainerCommand(command=["torchrun", "-m", "cnai.backends.kubeflow.train_job"]))
    trainer_client(namespace).train(runtime=runtime, trainer=trainer, options=options)


def train_on_trainer(training_set_uri: str, output_paths: dict[str, str], output_uris: dict[str, str],
                     feature_columns: list[str], label: str, timestamp: str, params: dict[str, Any],
                     holdout_fraction: float, seed: int, cluster: dict[str, Any],
                     model_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    from cnai.core.storage import copy_tree

    namespace = cluster_config(cluster).namespace
    name = job_name(training_set_uri, {**params, **(model_spec or {})}, seed)
    staging = output_uris["model"].rstrip("/") + f".{name}"
    args = ["--training-set", training_set_uri, "--output", staging, "--feature-columns", json.dumps(feature_columns),
            "--label", label, "--timestamp", timestamp, "--params", json.dumps(params),
            "--holdout-fraction", str(holdout_fraction), "--seed", str(seed)]
    if model_spec:
        args += ["--model-spec", json.dumps(model_spec, sort_keys=True)]
    nodes = int(params.get("processes", 2)) if (model_spec or {}).get("model_kind_name") in DISTRIBUTED_KINDS else 0
    if kube.get(kube.TRAINJOB, namespace, name) is None:
        submit(name, namespace, args, cluster, nodes)
        log.warning("created TrainJob %s/%s on runtime %s", namespace, name, TORCH_RUNTIME if nodes else RUNTIME)
    kube.wait_for(kube.TRAINJOB, namespace, name, done=lambda o: kube.is_true(o, "Complete"),
                  failed=lambda o: kube.is_true(o, "Failed"), timeout_s=float(cluster_config(cluster).experiment_timeout_s))
    with tempfile.TemporaryDirectory() as scratch:
        copy_tree(f"{staging}/facts.json", f"{scratch}/facts.json")
        facts = json.loads(Path(scratch, "facts.json").read_text())
    for output in OUTPUTS:
        with atomic_output(output_paths[output]) as staged:
            copy_tree(f"{staging}/{output}", str(staged))
    return {**facts, "train_job": f"{namespace}/{name}"}
