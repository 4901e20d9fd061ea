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
    # A registry never written is read as empty without creating its store (MLflow's migrations).
    assert not (tmp_path / "registry" / "mlflow" / "mlflow.db").exists()
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


def test_a_first_model_no_better_than_a_constant_guess_is_flagged(training_set, model_features, tmp_path):
    """Found by a new user: a regression with r2 = -1.96 was deployed as the first model with only
    'no minimum is set'. A model fitted to noise (labels shuffled) scores worse than the held-out
    rows' class shares on log loss; the gate says so, and how to keep such a model out."""
    import pandas as pd

    from cnai.core.tasks import NO_MINIMUM

    uri = registry.default_registry_uri(tmp_path / "registry")
    frame = pd.read_parquet(training_set)
    frame[LABEL] = frame[LABEL].sample(frac=1.0, random_state=0).to_numpy()
    frame.to_parquet(tmp_path / "noise.parquet")
    noise = train(str(tmp_path / "noise.parquet"), model_features, tmp_path / "noise", learning_rate=0.3, max_iter=100,
                  max_leaf_nodes=127, min_samples_leaf=5)
    flagged = evaluate_candidate(noise["model"], noise["holdout"], str(tmp_path / "n.md"), uri, "noise", "log_loss", 0.0,
                                 NO_MINIMUM)
    assert flagged["reason"].startswith("WARNING: no better than a constant guess")  # what the step table shows
    assert "evaluation.minimum_for_first_model" in (tmp_path / "n.md").read_text()
    good = train(training_set, model_features, tmp_path / "good", learning_rate=0.1, max_iter=80)
    fine = evaluate_candidate(good["model"], good["holdout"], str(tmp_path / "g.md"), uri, "good", "roc_auc", 0.0, -NO_MINIMUM)
    assert "WARNING" not in fine["reason"]


def test_a_gate_on_too_few_held_out_rows_says_so(training_set, model_features, tmp_path):
    """Found by a new user: a 32-row table deployed a model judged on 7 held-out rows without a word."""
    import pandas as pd

    from cnai.core.splits import FEW_OF_A_CLASS_TO_JUDGE

    uri = registry.default_registry_uri(tmp_path / "registry")
    good = train(training_set, model_features, tmp_path / "good", learning_rate=0.1, max_iter=80)
    holdout = pd.read_parquet(good["holdout"])
    few = pd.concat([holdout[holdout[LABEL] == 0].head(40), holdout[holdout[LABEL] == 1].head(FEW_OF_A_CLASS_TO_JUDGE - 1)])
    few.to_parquet(tmp_path / "few.parquet")
    judged = evaluate_candidate(good["model"], str(tmp_path / "few.parquet"), str(tmp_path / "f.md"), uri, "few",
                                "roc_auc", 0.0, 0.5)
    assert judged["reason"].startswith(f"WARNING: judged on {len(few)} held-out row(s), "
                                       f"{FEW_OF_A_CLASS_TO_JUDGE - 1} of its rarest class, too few"), judged["reason"]
    whole = evaluate_candidate(good["model"], good["holdout"], str(tmp_path / "w.md"), uri, "whole", "roc_auc", 0.0, 0.5)
    assert "judged on" not in whole["reason"]


def test_a_version_the_gate_kept_out_can_be_made_production_by_hand(training_set, model_features, tmp_path):
    """Found by a new user: a leaky production model (roc_auc 1.0) kept every honest candidate out
    at the gate, with no way to retire it. `cnai serve --version N` makes a registered one production."""
    import pytest

    from cnai.core.errors import ConfigError
    from cnai.orchestration.serve import make_production

    uri = registry.default_registry_uri(tmp_path / "registry")
    name = f"byhand-{uuid.uuid4().hex[:6]}"
    versions = []
    for arm, params in (("good", {"learning_rate": 0.1, "max_iter": 80}), ("weak", {"learning_rate": 0.001, "max_iter": 5})):
        paths = train(training_set, model_features, tmp_path / arm, **params)
        gate = evaluate_candidate(paths["model"], paths["holdout"], str(tmp_path / f"{arm}.md"), uri, name, "roc_auc", 0.0, 0.5)
        evaluation = LocalArtifact(str(tmp_path / f"{arm}.md"), {"reason": gate["reason"]})
        versions.append(register_model(paths["model"], training_set, str(tmp_path / f"{arm}.md"), str(tmp_path / f"{arm}-card.md"),
                                       uri, name, upstream_metadata={"evaluation": evaluation.metadata})["version"])
        if gate["deploy"]:
            registry.promote(uri, name, versions[-1])
    assert str(registry.production_version(uri, name).version) == str(versions[0]), "the gate kept the weak one out"
    said = make_production(uri, name, str(versions[1]))
    assert str(registry.production_version(uri, name).version) == str(versions[1])
    assert f"{name} v{versions[1]} is production now, set by hand over the gate (which had said: candidate" in said
    with pytest.raises(ConfigError, match=f"--version 9: {name} has no such registered version"):
        make_production(uri, name, "9")
    with pytest.raises(ConfigError, match=r"--version v2: a registered version is a number"):
        make_production(uri, name, "v2")  # not read as a damaged registry
    assert str(registry.production_version(uri, name).version) == str(versions[1])


def test_a_quick_run_on_the_first_rows_does_not_replace_production_trained_on_more(training_set, model_features,
                                                                                     tmp_path):
    """Found by a new user: `cnai run --sample-rows 20000` replaced the model trained on all the
    rows, on a gain of 0.00002 (shown as "+0.0000 (needs > 0.0)")."""
    import pandas as pd

    uri = registry.default_registry_uri(tmp_path / "registry")
    name = f"quick-{uuid.uuid4().hex[:6]}"
    weak = train(training_set, model_features, tmp_path / "weak", learning_rate=0.001, max_iter=5, max_depth=1)
    evaluation = LocalArtifact(str(tmp_path / "w.md"), {"reason": "first"})
    (tmp_path / "w.md").write_text("first")
    version = register_model(weak["model"], training_set, str(tmp_path / "w.md"), str(tmp_path / "card.md"), uri, name,
                             upstream_metadata={"evaluation": evaluation.metadata})["version"]
    registry.promote(uri, name, version)
    frame = pd.read_parquet(training_set)
    frame.head(len(frame) * 2 // 3).to_parquet(tmp_path / "first-rows.parquet")  # as --sample-rows reads them
    quick = train(str(tmp_path / "first-rows.parquet"), model_features, tmp_path / "quick", learning_rate=0.1, max_iter=80)
    kept = evaluate_candidate(quick["model"], weak["holdout"], str(tmp_path / "q.md"), uri, name, "roc_auc", 0.0, 0.5,
                              limit_rows=len(frame) * 2 // 3)
    assert kept["deploy"] is False and kept["candidate_score"] > kept["production_score"]
    assert kept["reason"].startswith(f"kept production v{version}: this run read only the first"), kept["reason"]
    judged = evaluate_candidate(quick["model"], weak["holdout"], str(tmp_path / "j.md"), uri, name, "roc_auc", 0.0, 0.5)
    assert judged["deploy"] is True, "a run on every row it was given is judged on its score alone"


def test_a_perfect_score_is_flagged_as_a_likely_leak(training_set, model_features, tmp_path):
    """Found by new users: every trial scored roc_auc 1.0 (a column that was the label's answer),
    and the model was deployed without a word."""
    import pandas as pd

    uri = registry.default_registry_uri(tmp_path / "registry")
    frame = pd.read_parquet(training_set)
    frame["answer"] = frame[LABEL].astype(str)  # known only with the label
    frame.to_parquet(tmp_path / "leaky.parquet")
    leaky = train(str(tmp_path / "leaky.parquet"), [*model_features, "answer"], tmp_path / "leaky", max_iter=20)
    flagged = evaluate_candidate(leaky["model"], leaky["holdout"], str(tmp_path / "l.md"), uri, "leaky", "roc_auc", 0.0, 0.5)
    assert flagged["candidate_score"] == 1.0 and flagged["reason"].startswith("WARNING: a perfect roc_auc"), flagged["reason"]


def test_a_perfect_score_names_the_feature_that_gives_the_label_away_not_separable_data():
    """From new users: the leak warning fired on iris and breast cancer, whose classes separate
    cleanly by several measurements; it now names a feature that gives the label away alone, and
    otherwise says that separable data score so."""
    import numpy as np
    import pandas as pd

    from cnai.components.evaluation.evaluate.executor import _determining

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    label = (a + b > 0).astype(int)
    frame = pd.DataFrame({"a": a, "b": b, "label": label, "answer": np.where(label == 1, "yes", "no"),
                          "threshold": label * 10 + rng.uniform(size=200), "row_id": [f"r{i}" for i in range(200)]})
    features = ["a", "b", "answer", "threshold", "row_id"]
    assert _determining(frame, features, "label", "binary") == ["answer", "threshold"]
    assert _determining(frame, ["a", "b", "row_id"], "label", "binary") == []
    three = frame.assign(label=np.digitize(a, [-0.5, 0.5]))  # three classes in runs along a
    assert _determining(three, features, "label", "multiclass") == ["a"]
    amount = frame.assign(label=np.exp(b), answer=np.where(b > 0, "up", "down"))
    assert _determining(amount, features, "label", "regression") == ["b"]
    # From a review: a leak through which rows have a value (a refund paid only to one class) was missed.
    refund = frame.assign(refund=np.where(label == 1, 5 + a.clip(0), np.nan), note=np.where(label == 1, "paid", None))
    assert _determining(refund, ["a", "refund", "note"], "label", "binary") == ["refund", "note"]


def test_on_a_few_rows_a_perfect_score_is_not_called_a_leak(training_set, model_features, tmp_path):
    """Review of the leak warning: on 10 held-out rows with 1 of a class, roc_auc 1.0 is easily
    chance; the few-rows warning leads, and no leak is claimed."""
    import pandas as pd

    uri = registry.default_registry_uri(tmp_path / "registry")
    good = train(training_set, model_features, tmp_path / "good", learning_rate=0.1, max_iter=80)
    holdout = pd.read_parquet(good["holdout"])
    from cnai.models.saved import LoadedModel

    scores = LoadedModel(good["model"]).scores(holdout)
    positive = holdout[(holdout[LABEL] == 1).to_numpy() & (scores > 0.6)].head(1)
    negatives = holdout[(holdout[LABEL] == 0).to_numpy() & (scores < 0.3)].head(9)
    pd.concat([negatives, positive]).to_parquet(tmp_path / "ten.parquet")
    judged = evaluate_candidate(good["model"], str(tmp_path / "ten.parquet"), str(tmp_path / "t.md"), uri, "ten",
                                "roc_auc", 0.0, 0.5)
    assert judged["candidate_score"] == 1.0
    assert judged["reason"].startswith("WARNING: judged on 10 held-out row(s)") and "leak" not in judged["reason"]
