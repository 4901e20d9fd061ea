"""The Kubeflow Model Registry as the model registry, through the Kubeflow SDK (`kubeflow.hub`).

Selected by the registry URI's scheme: `model-registry+http://host:port` (or `+https`), which
`cnai compile --target kubeflow` bakes in from `cluster.model_registry`. The Model Registry stores
metadata and a URI, not files: a version points at the model artifact KFP already stored
(`s3://...`/`minio://...`), which is what KServe's storage initializer downloads. What MLflow keeps
in tags and its `production` alias is kept here in custom properties: each version's
`model_hash`, lineage tags, parameters and metrics; the registered model's `production_version`.
Versions are numbered 1, 2, 3... in registration order and never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnai.core.errors import RegistryError

SCHEME_PREFIX = "model-registry+"
PRODUCTION_PROPERTY = "production_version"


@dataclass
class RegisteredVersion:
    """The attributes the steps read from a version, whichever registry holds it."""

    name: str
    version: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "READY"
    run_id: str = ""


def is_model_registry(registry_uri: str) -> bool:
    return registry_uri.startswith(SCHEME_PREFIX)


def client(registry_uri: str):
    """The SDK's client; in a pod it sends the service account's token (the SDK reads it)."""
    from kubeflow.hub import ModelRegistryClient

    base_url = registry_uri.removeprefix(SCHEME_PREFIX)
    scheme, rest = base_url.split("://", 1)
    host, _, port = rest.partition(":")
    port = port.split("/")[0]
    try:
        return ModelRegistryClient(f"{scheme}://{host}", port=int(port) if port else None, author="cnai-pipelines")
    except Exception as error:  # the SDK checks the connection on creation (aiohttp, SSL, HTTP errors)
        raise RegistryError(f"registry {registry_uri}: cannot reach the Kubeflow Model Registry: {error}") from error


def _properties(value: Any) -> dict[str, str]:
    return {k: str(v) for k, v in (getattr(value, "custom_properties", None) or {}).items()}


def _as_version(registry_uri: str, model_name: str, version) -> RegisteredVersion:
    artifact = client(registry_uri).get_model_artifact(model_name, version.name)
    return RegisteredVersion(name=model_name, version=version.name, source=artifact.uri if artifact else "",
                             tags=_properties(version), status=str(getattr(version, "state", "LIVE")))


def _versions(registry_uri: str, model_name: str) -> list:
    registry = client(registry_uri)
    try:
        registry.get_model(model_name)
    except ValueError:  # the SDK's "not found"
        return []
    return list(registry.list_model_versions(model_name))


def version_tags(registry_uri: str, model_name: str, version: str) -> dict[str, str]:
    return _properties(client(registry_uri).get_model_version(model_name, str(version)))


def find_version(registry_uri: str, model_name: str, model_hash: str) -> RegisteredVersion | None:
    for version in _versions(registry_uri, model_name):
        if _properties(version).get("model_hash") == model_hash:
            return _as_version(registry_uri, model_name, version)
    return None


def register_version(registry_uri: str, model_name: str, model_uri: str, model_hash: str, params: dict[str, Any],
                     metrics: dict[str, float], tags: dict[str, str], description: str) -> RegisteredVersion:
    if "://" not in model_uri:
        raise RegistryError(f"registry {registry_uri}: {model_uri!r} is a local path; the Kubeflow Model Registry "
                            "stores a URI KServe can download (run on the cluster, where KFP stores artifacts remotely)")
    existing = [int(v.name) for v in _versions(registry_uri, model_name) if v.name.isdigit()]
    number = str(max(existing, default=0) + 1)
    metadata = {**tags, "model_hash": model_hash, "description": description,
                **{f"param.{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()},
                **{f"metric.{k}": float(v) for k, v in metrics.items()}}
    try:
        client(registry_uri).register_model(model_name, model_uri, version=number, model_format_name=tags.get("serving_format", "sklearn"),
                                            model_format_version="1", version_description=description,
                                            metadata=metadata)
    except Exception as error:
        raise RegistryError(f"registry {registry_uri}: registering version {number} of {model_name} failed: {error}") from error
    return RegisteredVersion(name=model_name, version=number, source=model_uri,
                             tags={k: str(v) for k, v in metadata.items()})


def production_version(registry_uri: str, model_name: str) -> RegisteredVersion | None:
    registry = client(registry_uri)
    try:
        model = registry.get_model(model_name)
    except ValueError:  # the SDK's "not found": nothing registered yet
        return None
    number = _properties(model).get(PRODUCTION_PROPERTY)
    if not number:
        return None
    return _as_version(registry_uri, model_name, registry.get_model_version(model_name, number))


def promote(registry_uri: str, model_name: str, version: str) -> None:
    registry = client(registry_uri)
    model = registry.get_model(model_name)
    model.custom_properties = {**(model.custom_properties or {}), PRODUCTION_PROPERTY: str(version)}
    registry.update_model(model)


def storage_uri(registry_uri: str, model_name: str, version: str) -> str:
    artifact = client(registry_uri).get_model_artifact(model_name, str(version))
    if artifact is None or not artifact.uri:
        raise RegistryError(f"registry {registry_uri}: version {version} of {model_name} has no model artifact")
    return artifact.uri


def download_version(registry_uri: str, model_name: str, version: str, target: str | Path) -> Path:
    from cnai.core.artifacts import atomic_output
    from cnai.core.storage import copy_tree

    target = Path(target)
    if (target / "model_meta.json").exists():  # written last by every model kind (cnai.models.saved)
        return target
    with atomic_output(target) as staging:
        copy_tree(storage_uri(registry_uri, model_name, version), str(staging))
    return target
