"""The Kubeflow Model Registry backend, through the Kubeflow SDK, against the registry's REST API."""

from __future__ import annotations

import pytest

from cnai.backends import registry
from cnai.core.errors import RegistryError


def uri(model_registry) -> str:
    return f"model-registry+{model_registry.url}"


def register(model_registry, model_hash: str, model_uri: str = "s3://mlpipeline/v2/artifacts/run/train/model"):
    return registry.register_version(uri(model_registry), "flight-delay", "/local/model", model_hash,
                                     {"max_iter": 100}, {"roc_auc": 0.66}, {"training_set_uri": "s3://b/ts", "training_set_hash": "sha256:ab"},
                                     "trained on sha256:ab", model_uri=model_uri)


def test_versions_are_numbered_found_by_hash_and_point_at_the_stored_model(model_registry):
    assert registry.production_version(uri(model_registry), "flight-delay") is None
    first = register(model_registry, "sha256:111")
    second = register(model_registry, "sha256:222", "s3://mlpipeline/v2/artifacts/run2/train/model")
    assert (first.version, second.version) == ("1", "2")
    found = registry.find_version(uri(model_registry), "flight-delay", "sha256:111")
    assert found.version == "1" and found.source == "s3://mlpipeline/v2/artifacts/run/train/model"
    assert found.tags["training_set_uri"] == "s3://b/ts" and found.tags["metric.roc_auc"] == "0.66"
    assert registry.find_version(uri(model_registry), "flight-delay", "sha256:999") is None
    assert registry.storage_uri(uri(model_registry), "flight-delay", "2") == "s3://mlpipeline/v2/artifacts/run2/train/model"
    artifact = next(a for a in model_registry.objects["artifacts"].values() if a["uri"].endswith("run2/train/model"))
    assert artifact["modelFormatName"] == "sklearn"
    assert registry.describe(found)["version"] == "1"


def test_promotion_moves_production_and_nothing_is_overwritten(model_registry):
    register(model_registry, "sha256:111")
    register(model_registry, "sha256:222")
    registry.promote(uri(model_registry), "flight-delay", "1")
    assert registry.production_version(uri(model_registry), "flight-delay").version == "1"
    registry.promote(uri(model_registry), "flight-delay", "2")
    assert registry.production_version(uri(model_registry), "flight-delay").version == "2"
    assert len(model_registry.objects["model_versions"]) == 2 and len(model_registry.objects["artifacts"]) == 2


def test_a_local_path_is_refused_with_the_reason(model_registry):
    with pytest.raises(RegistryError, match="is a local path"):
        register(model_registry, "sha256:333", model_uri="/tmp/model")
    assert not model_registry.objects["model_versions"]


def test_an_unreachable_registry_names_itself():
    with pytest.raises(RegistryError, match="127.0.0.1:9"):
        registry.register_version("model-registry+http://127.0.0.1:9", "m", "/x", "sha256:1", {}, {}, {}, "d",
                                  model_uri="s3://b/m")


def test_register_step_records_the_object_store_uris_on_a_cluster(model_registry, trained_model, training_set, tmp_path):
    from cnai.components.registry.register.executor import register_model

    evaluation = tmp_path / "comparison.md"
    evaluation.write_text("candidate better")
    uris = {"model": "minio://mlpipeline/v2/artifacts/run/train/model",
            "training_set": "minio://mlpipeline/v2/artifacts/run/feast-features/training_set"}
    facts = register_model(trained_model["model"], training_set, str(evaluation), str(tmp_path / "card.md"), uri(model_registry),
                           "flight-delay", deploy_decision=True, artifact_uris=uris)
    assert facts["version"] == "1" and not facts["reused_existing_version"]
    version = registry.find_version(uri(model_registry), "flight-delay", facts["model_hash"])
    assert version.source == uris["model"] and version.tags["training_set_uri"] == uris["training_set"]
    again = register_model(trained_model["model"], training_set, str(evaluation), str(tmp_path / "card2.md"), uri(model_registry),
                           "flight-delay", deploy_decision=True, artifact_uris=uris)
    assert again["version"] == "1" and again["reused_existing_version"], "the same model is never registered twice"
