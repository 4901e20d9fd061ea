"""manifests/: every overlay builds with kustomize, every resource validates, every pod is "restricted"."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest
import yaml
from kubeflow_trainer_api.models import TrainerV1alpha1TrainingRuntime

from cnai.backends.kubeflow import katib

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (REPO / "manifests" / "overlays").iterdir())
K8S_VERSION = "1.32"
CORE_KINDS = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "PersistentVolumeClaim",
              "NetworkPolicy", "Job"}


def kustomize(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to build manifests/"
    built = subprocess.run([kubectl, "kustomize", str(REPO / "manifests" / "overlays" / overlay)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request) -> tuple[str, list[dict]]:
    return request.param, kustomize(request.param)


def kserve_round_trip(document: dict, model: str) -> dict:
    import kserve.models
    import kubernetes.client.models
    from kserve.api_client import ApiClient

    for name in dir(kubernetes.client.models):  # KServe's models embed Kubernetes' ones
        if name.startswith("V1") and not hasattr(kserve.models, name):
            setattr(kserve.models, name, getattr(kubernetes.client.models, name))
    client = ApiClient()
    return client.sanitize_for_serialization(client.deserialize(SimpleNamespace(data=json.dumps(document)), model))


def test_overlays_exist_and_set_their_namespace(built):
    overlay, documents = built
    assert OVERLAYS == ["dev", "prod"]
    assert {d["metadata"].get("namespace") for d in documents} == {"kubeflow-user-example-com" if overlay == "dev" else "cnai-prod"}


def test_every_resource_validates_against_its_schema(built):
    _, documents = built
    kinds = {d["kind"] for d in documents}
    assert kinds == CORE_KINDS | {"ServingRuntime", "TrainingRuntime"}
    for document in documents:
        if document["kind"] in CORE_KINDS:
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)
        elif document["kind"] == "ServingRuntime":
            assert kserve_round_trip(document, "V1alpha1ServingRuntime") == document
        elif document["kind"] == "TrainingRuntime":
            assert TrainerV1alpha1TrainingRuntime.from_dict(document).to_dict() == document


def pod_specs(document: dict) -> list[dict]:
    """Every pod spec in a resource, wherever its kind keeps it."""
    kind, spec = document["kind"], document.get("spec", {})
    if kind in ("Deployment", "Job"):
        return [spec["template"]["spec"]]
    if kind == "ServingRuntime":
        return [spec]
    if kind == "TrainingRuntime":
        return [job["template"]["spec"]["template"]["spec"] for job in spec["template"]["spec"]["replicatedJobs"]]
    return []


def assert_restricted(pod: dict, where: str) -> None:
    """Pod Security Standard "restricted", plus a read-only root filesystem and resource limits."""
    pod_context = pod.get("securityContext", {})
    for container in pod["containers"]:
        context = {**pod_context, **container.get("securityContext", {})}
        name = f"{where} container {container['name']}"
        assert context.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
        assert context.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation"
        assert context.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities must drop ALL"
        assert context.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem"
        assert (context.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{name}: seccompProfile"
        limits = container.get("resources", {}).get("limits", {})
        assert {"cpu", "memory"} <= set(limits), f"{name}: cpu and memory limits"
        assert not container["image"].endswith(":latest") and ":" in container["image"], f"{name}: a pinned image tag"


def test_every_pod_runs_restricted(built):
    _, documents = built
    pods = [(f"{d['kind']}/{d['metadata']['name']}", pod) for d in documents for pod in pod_specs(d)]
    assert len(pods) == 5
    for where, pod in pods:
        assert_restricted(pod, where)


def test_pods_the_steps_create_run_restricted_too():
    job = katib.trial_job("registry.example/cnai:1.2.3", {}, "s3://b/t", ["a"], "y", "t", "roc_auc", 0.15, 1,
                          [{"name": "max_iter", "parameter_type": "int", "min": 50, "max": 100}])
    assert_restricted(job["spec"]["template"]["spec"], "Katib trial Job")


def test_no_secret_is_in_the_manifests(built):
    _, documents = built
    assert not [d for d in documents if d["kind"] == "Secret"], "Secrets are created by the user, never committed"
    text = yaml.safe_dump_all(documents)
    for needle in ("AWS_SECRET_ACCESS_KEY:", "password:", "token:"):
        assert needle not in text


def test_the_runner_role_grants_only_namespaced_verbs_it_needs(built):
    _, documents = built
    roles = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Role"}
    assert set(roles) == {"cnai-pipeline-runner", "cnai-scheduler", "cnai-spark"}
    assert not [d for d in documents if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert "secrets" not in rule["resources"], "no step reads Secrets through the API"


def test_dockerfile_builds_a_pinned_non_root_image_with_everything_installed():
    """Docker cannot run on the CI machine, so the Dockerfile is read, not built (README says so)."""
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip() and not line.startswith("#")]
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert bases and all(":" in b and not b.endswith(":latest") and "slim" in b for b in bases)
    assert [line for line in lines if line.startswith("USER ")][-1] == "USER 10001"
    copied = [line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line]
    for path in copied:
        assert (REPO / path).exists(), f"Dockerfile copies {path}, which is not in the repository"
    assert {"cnai", "feature_repo"} <= set(copied)
    assert "pip install --no-cache-dir ." in " ".join(lines)
    manifests_images = {c["image"].split(":")[0] for d in kustomize("dev") for pod in pod_specs(d) for c in pod["containers"]}
    assert "ghcr.io/cnai-pipelines/cnai" in manifests_images
