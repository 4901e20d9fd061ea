import uuid

from cnai.backends import registry
from cnai.components.evaluation.evaluate.executor import evaluate_candidate
from cnai.components.registry.register.executor import register_model
from cnai.components.training.train.executor import train_model
from cnai.core.tracking import LocalArtifact
from conftest import LABEL, TIME


def train(training_set, features, path, **params):
    paths = {n: str(path / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(training_set, feature_columns=features, label=LABEL, timestamp=TIME, params=params, **paths)
    return paths


def test_gate_first_model_then_better_and_worse(training_set, model_features, tmp_path):
    uri = registry.default_registry_uri(tmp_path / "registry")
    name = f"gate-{uuid.uuid4().hex[:6]}"
    good = train(training_set, model_features, tmp_path / "good", learning_rate=0.1, max_iter=80)
    weak = train(training_set, model_features, tmp_path / "weak", learning_rate=0.001, max_iter=5, max_depth=1)

    first = evaluate_candidate(good["model"], good["holdout"], str(tmp_path / "c1.md"), uri, name, "roc_auc", 0.0, 0.5)
    assert first["deploy"] is True and "no model in production" in first["reason"]
    refused = evaluate_candidate(good["model"], good["holdout"], str(tmp_path / "c0.md"), uri, name, "roc_auc", 0.0, 0.99)
    assert refused["deploy"] is False and "misses the minimum" in refused["reason"]

    evaluation = LocalArtifact(str(tmp_path / "c1.md"), {"reason": first["reason"]})
    version = register_model(good["model"], training_set, str(tmp_path / "c1.md"), str(tmp_path / "card.md"), uri, name,
                             upstream_metadata={"evaluation": evaluation.metadata})["version"]
    registry.promote(uri, name, version)

    worse = evaluate_candidate(weak["model"], good["holdout"], str(tmp_path / "c2.md"), uri, name, "roc_auc", 0.0, 0.55)
    assert worse["deploy"] is False and worse["production_version"] == version
    assert worse["candidate_score"] < worse["production_score"]
    same = evaluate_candidate(good["model"], good["holdout"], str(tmp_path / "c3.md"), uri, name, "roc_auc", 0.0, 0.55)
    assert same["deploy"] is False, "a candidate no better than production is not deployed"
    assert "KEEP PRODUCTION" in (tmp_path / "c3.md").read_text()
