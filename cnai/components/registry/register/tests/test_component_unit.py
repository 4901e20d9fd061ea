import uuid

from cnai.backends import registry
from cnai.components.registry.register.executor import register_model
from cnai.components.training.train.executor import train_model
from cnai.core.artifacts import content_hash
from conftest import LABEL, TIME


def test_versions_are_new_and_reruns_reuse_them(training_set, model_features, tmp_path):
    uri = registry.default_registry_uri(tmp_path / "registry")
    name = f"reg-{uuid.uuid4().hex[:6]}"
    models = []
    for i, rate in enumerate((0.1, 0.2)):
        paths = {n: str(tmp_path / f"{n}{i}") for n in ("model", "holdout", "metrics", "classification_metrics")}
        train_model(training_set, feature_columns=model_features, label=LABEL, timestamp=TIME,
                    params={"learning_rate": rate, "max_iter": 30}, **paths)
        models.append(paths["model"])
    (tmp_path / "eval.md").write_text("gate")
    upstream = {"evaluation": {"reason": "better"}, "model": {"carbon": {"energy_kwh": 0.5, "emissions_kg_co2eq": 0.2}}}

    def reg(model):
        return register_model(model, training_set, str(tmp_path / "eval.md"), str(tmp_path / "card.md"), uri, name,
                              deploy_decision=True, upstream_metadata=upstream)

    first, second, again = reg(models[0]), reg(models[1]), reg(models[0])
    assert (first["version"], second["version"]) == ("1", "2")
    assert again["version"] == "1" and again["reused_existing_version"] is True
    version = registry.find_version(uri, name, content_hash(models[0]))
    assert version.tags["training_set_hash"] == content_hash(training_set)
    assert version.tags["carbon.energy_kwh"] == "0.5" and version.tags["evaluation.reason"] == "better"
    downloaded = registry.download_version(uri, name, "1", tmp_path / "v1")
    assert content_hash(downloaded / "model.joblib") == content_hash(f"{models[0]}/model.joblib")


def test_the_model_card_says_how_it_split_and_whole_parameters_as_whole():
    """Found by a new user: "Trained on 23225 rows up to None" for a random split, and a tuner's
    max_iter 50.0 where the estimator took 50."""
    from cnai.components.registry.register.executor import _model_card

    tags = {"training_set_uri": "t", "training_set_hash": "h", "carbon.steps": "s", "carbon.energy_kwh": "0",
            "carbon.emissions_kg_co2eq": "0", "evaluation.deploy": "True", "evaluation.reason": "r"}
    card = _model_card({"name": "m", "version": "1", "source": "s"}, {
        "trained_rows": 10, "trained_until": None, "split": "random", "params": {"max_iter": 50.0, "learning_rate": 0.1},
        "rounds_fitted": 37}, tags, reused=False)
    assert "Trained on 10 rows (a random split)" in card and "up to None" not in card
    assert "| max_iter | 50 |" in card and "| learning_rate | 0.1 |" in card
    assert "| rounds fitted | 37 |" in card  # max_iter is a bound once a fit may stop early
