"""The model registry: MLflow's registry on SQLite by default (no server). Versions are immutable.

A `model-registry+http(s)://host:port` URI selects the Kubeflow Model Registry instead
(cnai.backends.kubeflow.model_registry, through the Kubeflow SDK); every function here dispatches on it, so
the steps are the same for both.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from cnai.core.errors import RegistryError

PRODUCTION_ALIAS = "production"


def default_registry_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def _client(registry_uri: str):
    import mlflow
    from mlflow.tracking import MlflowClient

    if registry_uri.startswith("sqlite:///"):
        Path(registry_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(registry_uri)
    mlflow.set_registry_uri(registry_uri)
    return MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)


def _artifact_root(registry_uri: str) -> str:
    # The SQLite store would otherwise put artifacts in ./mlruns of whatever directory a step runs in.
    if registry_uri.startswith("sqlite:///"):
        return (Path(registry_uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return ""


def _kubeflow(registry_uri: str):
    """The Kubeflow Model Registry backend when the URI names it, else None (MLflow)."""
    from cnai.backends.kubeflow import model_registry

    return model_registry if model_registry.is_model_registry(registry_uri) else None


def find_version(registry_uri: str, model_name: str, model_hash: str):
    """The version already registered for this exact model file, if any (re-runs register nothing new)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.find_version(registry_uri, model_name, model_hash)
    client = _client(registry_uri)
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except Exception:
        return None
    return next((v for v in versions if v.tags.get("model_hash") == model_hash), None)


def register_version(
    registry_uri: str,
    model_name: str,
    model_dir: str,
    model_hash: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    description: str,
    model_uri: str = "",
):
    """Log a run with the model files, then create a new model version pointing at them.

    The Kubeflow Model Registry stores `model_uri` (where KFP stored the model) instead of files.
    """
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.register_version(registry_uri, model_name, model_uri or model_dir, model_hash, params, metrics,
                                         tags, description)
    import mlflow

    client = _client(registry_uri)
    experiment_name = f"cnai/{model_name}"
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(experiment_name, artifact_location=_artifact_root(registry_uri) or None)
    )
    try:
        client.get_registered_model(model_name)
    except Exception:
        client.create_registered_model(model_name, description="Registered by cnai-pipelines.")
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"register-{model_hash[7:19]}") as run:
        mlflow.log_params({k: v for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags({**tags, "model_hash": model_hash})
        mlflow.log_artifacts(model_dir, artifact_path="model")
    version = client.create_model_version(
        name=model_name,
        source=f"{run.info.artifact_uri}/model",
        run_id=run.info.run_id,
        tags={**tags, "model_hash": model_hash},
        description=description,
    )
    if version.status not in ("READY", "PENDING_REGISTRATION"):
        raise RegistryError(f"registry {registry_uri}: version {version.version} of {model_name} is {version.status}")
    return version


def download_version(registry_uri: str, model_name: str, version: str, target: str | Path) -> Path:
    """Copy a version's files into `target` (once; versions never change)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.download_version(registry_uri, model_name, version, target)
    import mlflow

    target = Path(target)
    if (target / "model_meta.json").exists():  # written last by every model kind (cnai.models.saved)
        return target
    client = _client(registry_uri)
    model_version = client.get_model_version(model_name, str(version))
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_version.source, dst_path=scratch))
        target.parent.mkdir(parents=True, exist_ok=True)
        local.replace(target)
    return target


def version_tags(registry_uri: str, model_name: str, version: str) -> dict[str, str]:
    """What register recorded on a version (kind, serving format, task, lineage)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.version_tags(registry_uri, model_name, version)
    return dict(_client(registry_uri).get_model_version(model_name, str(version)).tags)


def storage_uri(registry_uri: str, model_name: str, version: str) -> str:
    """Where a version's files live (what KServe's storage initializer downloads)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.storage_uri(registry_uri, model_name, version)
    return _client(registry_uri).get_model_version_download_uri(model_name, str(version))


def production_version(registry_uri: str, model_name: str):
    """The version with the `production` alias, or None before the first deployment."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.production_version(registry_uri, model_name)
    client = _client(registry_uri)
    try:
        return client.get_model_version_by_alias(model_name, PRODUCTION_ALIAS)
    except Exception:
        return None


def promote(registry_uri: str, model_name: str, version: str) -> None:
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.promote(registry_uri, model_name, version)
    _client(registry_uri).set_registered_model_alias(model_name, PRODUCTION_ALIAS, str(version))


def describe(version) -> dict[str, Any]:
    return {"name": version.name, "version": str(version.version), "source": version.source, "run_id": version.run_id,
            "tags": dict(version.tags), "status": version.status}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
