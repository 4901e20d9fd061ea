"""The model registry: MLflow's registry on SQLite by default (no server). Versions are immutable.

A `model-registry+http(s)://host:port` URI selects the Kubeflow Model Registry instead
(cnai.backends.kubeflow.model_registry, through the Kubeflow SDK); every function here dispatches on it, so
the steps are the same for both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnai.core.artifacts import content_hash
from cnai.core.errors import RegistryError

PRODUCTION_ALIAS = "production"


def default_registry_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def _sqlite_file(registry_uri: str) -> Path | None:
    """The file of a local SQLite registry URI (its ?query is not part of the path), else None."""
    if not registry_uri.startswith("sqlite:///"):
        return None
    return Path(registry_uri.removeprefix("sqlite:///").split("?", 1)[0])


def _client(registry_uri: str):
    import logging

    import mlflow
    from mlflow.tracking import MlflowClient

    # A new store's schema is created on first use: MLflow and Alembic announce each migration at INFO.
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Fetching a version's files drew MLflow's progress bars on `cnai serve` (unless the user asks for them).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    if (sqlite_file := _sqlite_file(registry_uri)) is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(registry_uri)
    mlflow.set_registry_uri(registry_uri)
    return MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)


def _absent(error: Exception) -> bool:
    """MLflow's "no such model / alias / version": the only failure that means "nothing there"."""
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException) and (
        error.error_code == "RESOURCE_DOES_NOT_EXIST"
        or (error.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(error)))


@contextlib.contextmanager
def _readable(registry_uri: str, doing: str) -> Iterator[None]:
    """A registry that cannot be read stops the step by name: a corrupt or locked store must never
    read as "no model in production" (a first model would then replace the serving one)."""
    try:
        yield
    except RegistryError:
        raise
    except Exception as error:
        if _absent(error):
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise RegistryError(
            f"model registry {registry_uri}: could not {doing} ({first_line}). Nothing was changed. If the "
            "file is damaged, restore it from a backup, or move it away to start a new registry "
            "(then run `cnai stop`: the server may be serving a version the new registry does not know)"
        ) from error


def _artifact_root(registry_uri: str) -> str:
    # The SQLite store would otherwise put artifacts in ./mlruns of whatever directory a step runs in.
    if (sqlite_file := _sqlite_file(registry_uri)) is not None:
        return (sqlite_file.parent / "artifacts").resolve().as_uri()
    return ""


def _kubeflow(registry_uri: str):
    """The Kubeflow Model Registry backend when the URI names it, else None (MLflow)."""
    from cnai.backends.kubeflow import model_registry

    return model_registry if model_registry.is_model_registry(registry_uri) else None


def version_numbers(registry_uri: str, model_name: str) -> list[int]:
    """The numbers of the versions registered for `model_name` ([] on a Kubeflow Model Registry, whose
    UI lists them)."""
    if _kubeflow(registry_uri):
        return []
    with _readable(registry_uri, f"search the versions of {model_name}"):
        versions = _client(registry_uri).search_model_versions(f"name='{model_name}'")
    return sorted(int(v.version) for v in versions)


def find_version(registry_uri: str, model_name: str, model_hash: str):
    """The version already registered for this exact model file, if any (re-runs register nothing new)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.find_version(registry_uri, model_name, model_hash)
    with _readable(registry_uri, f"search the versions of {model_name}"):
        versions = _client(registry_uri).search_model_versions(f"name='{model_name}'")
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
    with _readable(registry_uri, f"register a version of {model_name}"):
        return _register_in_mlflow(registry_uri, model_name, model_dir, model_hash, params, metrics, tags, description)


def _register_in_mlflow(registry_uri: str, model_name: str, model_dir: str, model_hash: str, params: dict[str, Any],
                        metrics: dict[str, float], tags: dict[str, str], description: str):
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
    except Exception as error:
        if not _absent(error):
            raise
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
    """Copy a version's files into `target`, and check they are the registered ones (`model_hash`).

    Files already in `target` are kept only if their hash is the version's: a registry started
    again from scratch numbers its versions from 1, and an old v1's files must not pass for the new v1.
    """
    target = Path(target)
    expected = registered_hash(registry_uri, model_name, version)
    if target.exists():
        if (target / "model_meta.json").exists() and expected in ("", content_hash(target)):
            return target
        shutil.rmtree(target)  # another model's files under this version's name: fetched again below
    if kubeflow := _kubeflow(registry_uri):
        kubeflow.download_version(registry_uri, model_name, version, target)
    else:
        import mlflow

        with _readable(registry_uri, f"read version {version} of {model_name}"):
            source = _client(registry_uri).get_model_version(model_name, str(version)).source
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=scratch))
                local.replace(target)
    if expected and content_hash(target) != expected:
        shutil.rmtree(target, ignore_errors=True)
        raise RegistryError(f"model registry {registry_uri}: the files of {model_name} v{version} hash to something "
                            f"other than the registered {expected}: the store was changed; the version is not served")
    return target


def registered_hash(registry_uri: str, model_name: str, version: str) -> str:
    """The content hash register recorded for a version ("" for a version registered without one)."""
    return version_tags(registry_uri, model_name, version).get("model_hash", "")


def version_tags(registry_uri: str, model_name: str, version: str) -> dict[str, str]:
    """What register recorded on a version (kind, serving format, task, lineage)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.version_tags(registry_uri, model_name, version)
    with _readable(registry_uri, f"read version {version} of {model_name}"):
        return dict(_client(registry_uri).get_model_version(model_name, str(version)).tags)


def storage_uri(registry_uri: str, model_name: str, version: str) -> str:
    """Where a version's files live (what KServe's storage initializer downloads)."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.storage_uri(registry_uri, model_name, version)
    with _readable(registry_uri, f"read version {version} of {model_name}"):
        return _client(registry_uri).get_model_version_download_uri(model_name, str(version))


def _never_written(registry_uri: str) -> bool:
    """A local SQLite registry whose file is not there; one that cannot be looked at is left to
    MLflow, whose failure `_readable` names."""
    if (sqlite_file := _sqlite_file(registry_uri)) is None:
        return False
    try:
        return not sqlite_file.exists()
    except OSError:
        return False


def production_version(registry_uri: str, model_name: str):
    """The version with the `production` alias, or None before the first deployment."""
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.production_version(registry_uri, model_name)
    if _never_written(registry_uri):
        # A store never written has no versions: opening it would create it (MLflow's migrations)
        # in the gate of a project's first run, for this one answer.
        return None
    try:
        with _readable(registry_uri, f"read the {PRODUCTION_ALIAS} alias of {model_name}"):
            return _client(registry_uri).get_model_version_by_alias(model_name, PRODUCTION_ALIAS)
    except Exception as error:
        if _absent(error):
            return None
        raise


def promote(registry_uri: str, model_name: str, version: str) -> None:
    if kubeflow := _kubeflow(registry_uri):
        return kubeflow.promote(registry_uri, model_name, version)
    with _readable(registry_uri, f"move the {PRODUCTION_ALIAS} alias of {model_name} to v{version}"):
        _client(registry_uri).set_registered_model_alias(model_name, PRODUCTION_ALIAS, str(version))


def describe(version) -> dict[str, Any]:
    return {"name": version.name, "version": str(version.version), "source": version.source, "run_id": version.run_id,
            "tags": dict(version.tags), "status": version.status}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def record_pipeline_run(registry_uri: str, model_name: str, run_name: str, params: dict[str, Any],
                        metrics: dict[str, float], tags: dict[str, str]) -> str | None:
    """A pipeline run as an MLflow Tracking run in the model's experiment, in the registry's store,
    so MLflow's UI lists, searches and compares runs beside the registered versions; the register
    step's run of the same pipeline run is nested under it. None where the registry is not MLflow's."""
    if _kubeflow(registry_uri) is not None:
        return None
    import mlflow

    client = _client(registry_uri)
    with _readable(registry_uri, "record the pipeline run"):
        name = f"cnai/{model_name}"
        experiment = client.get_experiment_by_name(name)
        experiment_id = (experiment.experiment_id if experiment
                         else client.create_experiment(name, artifact_location=_artifact_root(registry_uri) or None))
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.log_params({k: (v if len(str(v)) <= 6000 else f"{str(v)[:5990]}…") for k, v in params.items()})
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
        if tags.get("cnai.status") == "failed":  # MLflow's own status, which its UI and searches show
            client.set_terminated(run.info.run_id, status="FAILED")
        pipeline_run = tags.get("cnai.pipeline_run_id")
        if pipeline_run:
            for step_run in client.search_runs([experiment_id], f"tags.`cnai.pipeline_run_id` = '{pipeline_run}'"):
                if step_run.info.run_id != run.info.run_id:
                    client.set_tag(step_run.info.run_id, "mlflow.parentRunId", run.info.run_id)
    return run.info.run_id
