import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from cnai.components.training.tune.executor import grid_space, tune_hyperparameters
from cnai.core.config import KATIB_ALGORITHMS, Settings, default_of
from cnai.core.errors import ConfigError, DataError
from conftest import LABEL, TIME

SPACE = [
    {"name": "learning_rate", "parameter_type": "double", "min": 0.05, "max": 0.2, "step": 0.05},
    {"name": "max_leaf_nodes", "parameter_type": "int", "min": 8, "max": 16, "step": 8},
    {"name": "max_iter", "parameter_type": "int", "min": 50, "max": 100, "step": 50},
]


HAS_TORCH = importlib.util.find_spec("torch") is not None
# Optuna's GPSampler needs PyTorch (the `bayesopt` extra); without it the name is refused clearly (below).
LOCAL_ALGORITHMS = [a for a in KATIB_ALGORITHMS if a != "bayesianoptimization" or HAS_TORCH]


@pytest.mark.parametrize("algorithm", LOCAL_ALGORITHMS)
def test_every_katib_algorithm_name_runs(algorithm, training_set, model_features, tmp_path):
    facts = tune_hyperparameters(training_set, str(tmp_path / "trials.md"), str(tmp_path / "m.json"), str(tmp_path / "plot.html"), model_features,
                                 LABEL, TIME, SPACE, algorithm=algorithm, max_trials=3, parallel_trials=2)
    assert set(facts["best_params"]) == {"learning_rate", "max_leaf_nodes", "max_iter"}
    assert 0.05 <= facts["best_params"]["learning_rate"] <= 0.2
    assert facts["trials_completed"] + facts["trials_pruned"] == 3
    assert f"# Tuning: {algorithm}" in (tmp_path / "trials.md").read_text()
    assert json.loads((tmp_path / "m.json").read_text())["best_roc_auc"] == pytest.approx(facts["best_value"])
    plot = (tmp_path / "plot.html").read_text()
    assert plot.count("<circle") == 3 and "<script" not in plot


def test_median_stopping_prunes_weak_trials(training_set, model_features, tmp_path):
    space = [{"name": "learning_rate", "parameter_type": "double", "min": 0.0001, "max": 0.3, "log": True},
             {"name": "max_iter", "parameter_type": "int", "min": 200, "max": 200}]
    facts = tune_hyperparameters(training_set, str(tmp_path / "t.md"), str(tmp_path / "m.json"), str(tmp_path / "p.html"), model_features, LABEL,
                                 TIME, space, algorithm="random", max_trials=8, parallel_trials=1, seed=3)
    assert facts["trials_pruned"] >= 1


def test_a_seed_gives_the_same_trials_in_every_run(training_set, model_features, tmp_path):
    """Whatever parallel_trials says (the cluster's count), local trials run one at a time: with
    trials at once, which trials are drawn and pruned depends on the order they finish in."""
    space = [{"name": "learning_rate", "parameter_type": "double", "min": 0.0001, "max": 0.3, "log": True},
             {"name": "max_leaf_nodes", "parameter_type": "int", "min": 4, "max": 64},
             {"name": "max_iter", "parameter_type": "int", "min": 20, "max": 120}]
    tables = []
    for run in ("first", "second"):
        out = tmp_path / run
        facts = tune_hyperparameters(training_set, str(out / "t.md"), str(out / "m.json"), str(out / "p.html"),
                                     model_features, LABEL, TIME, space, algorithm="tpe", max_trials=8, parallel_trials=4,
                                     seed=11)
        trials = json.loads(json.dumps(facts["output_metadata"]["trials"]["trials"]))
        tables.append([{k: v for k, v in t.items() if k != "duration_s"} for t in trials])
    assert len(tables[0]) == 8 and {t["state"] for t in tables[0]} <= {"complete", "pruned"}
    assert tables[0] == tables[1]


def test_grid_needs_steps_and_space_must_not_be_empty(training_set, model_features, tmp_path):
    with pytest.raises(ConfigError, match="learning_rate.step"):
        grid_space([{"name": "learning_rate", "parameter_type": "double", "min": 0.1, "max": 0.2}])
    with pytest.raises(ConfigError, match="search space is empty"):
        tune_hyperparameters(training_set, str(tmp_path / "t.md"), str(tmp_path / "m.json"), str(tmp_path / "p.html"), model_features,
                             LABEL, TIME, [])
    assert grid_space(SPACE)["max_leaf_nodes"] == [8, 16]


def test_bayesian_optimization_without_pytorch_names_the_fix(training_set, model_features, tmp_path):
    if HAS_TORCH:
        assert "bayesianoptimization" in LOCAL_ALGORITHMS  # then it runs in the test above
        return
    with pytest.raises(ConfigError, match=r"cnai-pipelines\[bayesopt\]"):
        tune_hyperparameters(training_set, str(tmp_path / "t.md"), str(tmp_path / "m.json"), str(tmp_path / "p.html"),
                             model_features, LABEL, TIME, SPACE, algorithm="bayesianoptimization", max_trials=2)
    assert not (tmp_path / "t.md").exists()


def test_tuning_rows_with_one_class_are_refused_by_name_before_any_trial(training_set, model_features, tmp_path):
    """The holdout had both classes but the rows trials score on had one: every trial scored NaN and
    the step said only '2 of 2 trials failed; first: see the log above'."""
    from cnai.models.tuning import tuning_split

    frame = pd.read_parquet(training_set).sort_values(TIME, kind="stable").reset_index(drop=True)
    frame["row"] = range(len(frame))
    _, scored_on = tuning_split(frame, "time", TIME, default_of(Settings, "holdout_fraction"), 100_000, 0)
    frame.loc[scored_on["row"], LABEL] = 0  # the newest training rows: one class only
    frame = frame.drop(columns="row")
    frame.to_parquet(tmp_path / "one_class_before_the_holdout.parquet")
    with pytest.raises(DataError, match=f"rows trials are scored on .* have no {LABEL!r} = \\[1\\]") as error:
        tune_hyperparameters(str(tmp_path / "one_class_before_the_holdout.parquet"), str(tmp_path / "t.md"),
                             str(tmp_path / "m.json"), str(tmp_path / "p.html"), model_features, LABEL, TIME, SPACE, max_trials=2)
    # What gives trials more rows (a new user followed "a larger holdout_fraction" and got fewer).
    assert "a smaller settings.holdout_fraction" in str(error.value) and "larger" not in str(error.value)


def test_only_arguments_the_model_takes_may_be_tuned():
    from cnai.components.training.tune.executor import check_hyperparameters

    space = [{"name": "min_sample_leaf", "parameter_type": "int", "min": 1, "max": 5},  # a typo
             {"name": "random_state", "parameter_type": "int", "min": 1, "max": 5}]     # the kind sets it itself
    with pytest.raises(ConfigError) as error:
        check_hyperparameters("hist_gradient_boosting", "binary", space)
    assert "tuning.parameters.min_sample_leaf: not a parameter the model takes (HistGradientBoostingClassifier)" in str(error.value)
    assert "tuning.parameters.random_state: set by cnai itself (the seed is tuning.seed), not here" in str(error.value)
    check_hyperparameters("hist_gradient_boosting", "regression", SPACE)  # the same space suits the regressor


def test_another_kinds_search_space_is_refused_in_one_message_that_says_how_to_write_this_kinds():
    """Found by a new user who set model.kind: lightgbm and kept hist_gradient_boosting's search
    space: LightGBM's parameter list came once per unknown name (four times), with no way out."""
    from cnai.components.training.tune.executor import check_model_parameters
    from cnai.models.kinds import model_kind

    with pytest.raises(ConfigError) as error:
        check_model_parameters("lightgbm", "binary", model_kind("hist_gradient_boosting").default_search_space(800), {})
    message = str(error.value)
    assert message.count("LGBMClassifier") == 1 and message.count("num_leaves") == 1, message
    assert ("tuning.parameters: max_leaf_nodes, min_samples_leaf, l2_regularization, max_iter are not parameters "
            "the model takes") in message
    assert "--model lightgbm --force" in message
    # A fixed setting is named by its own key, with no search space to write.
    with pytest.raises(ConfigError) as error:
        check_model_parameters("lightgbm", "binary", [], {"max_leaf_nodes": 31})
    assert "model.params.max_leaf_nodes: not a parameter the model takes (LGBMClassifier)" in str(error.value)
    assert "cnai init" not in str(error.value)


def test_a_range_the_classifier_refuses_stops_the_step_before_reading_data(tmp_path, model_features):
    space = [*SPACE, {"name": "l2_regularization", "parameter_type": "double", "min": -1.0, "max": 1.0}]
    with pytest.raises(ConfigError, match=r"tuning\.parameters\.l2_regularization: -1\.0 is refused by the model"):
        tune_hyperparameters(str(tmp_path / "never-read.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), model_features, LABEL, TIME, space, max_trials=2)
    assert not (tmp_path / "t.md").exists()


def test_a_holdout_missing_a_class_is_refused_before_any_trial(training_set, model_features, tmp_path):
    """Found by a new user: every trial ran, then train refused the holdout."""
    frame = pd.read_parquet(training_set).sort_values(TIME, kind="stable").reset_index(drop=True)
    frame.loc[int(len(frame) * 0.8):, LABEL] = 0  # the newest rows: one class only
    frame.to_parquet(tmp_path / "one_class_at_the_end.parquet")
    with pytest.raises(DataError, match=f"the held-out rows have no {LABEL!r} = \\[1\\]"):
        tune_hyperparameters(str(tmp_path / "one_class_at_the_end.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), model_features, LABEL, TIME, SPACE, max_trials=2)
    assert not (tmp_path / "t.md").exists()


def test_a_random_tuning_split_keeps_a_rare_class_on_both_sides():
    """Found by a new user: 4 rows of a class in 100 and the tuning split (not stratified) left them
    all on the fit side, so the run stopped with advice to use the split it already used."""
    from cnai.core.splits import split_frame
    from cnai.models.tuning import tuning_split

    frame = pd.DataFrame({"x": np.arange(100.0), "y": ["a"] * 60 + ["b"] * 36 + ["rare"] * 4})
    strata = frame["y"].map({"a": 0, "b": 1, "rare": 2}).to_numpy()
    for seed in range(20):
        fit, valid = tuning_split(frame, "random", "", 0.15, 100_000, seed, strata)
        train, holdout = split_frame(frame, "random", 0.15, seed=seed, strata=strata)  # the rows train fits on
        assert sorted([*fit["x"], *valid["x"]]) == sorted(train["x"]) and not set(fit["x"]) & set(holdout["x"])
        if (train["y"] == "rare").sum() >= 2:  # one row cannot be on both sides
            assert {"a", "b", "rare"} <= set(fit["y"]) and {"a", "b", "rare"} <= set(valid["y"]), seed
    fit, valid = tuning_split(frame, "random", "", 0.15, 50, 3, strata)  # a sample of the training rows
    assert len(fit) + len(valid) == 50 and "rare" in set(valid["y"])


def test_a_class_of_the_fewest_rows_tuning_needs_is_on_every_side_whatever_the_seed():
    """A class of 3 rows (ROWS_TO_TUNE_A_CLASS, what init and the run ask for) failed tuning's split
    for one seed in ten: the holdout drew 2 of them, and one row cannot be on both sides after it."""
    from cnai.core.splits import ROWS_TO_TUNE_A_CLASS, split_frame
    from cnai.models.tuning import tuning_split

    frame = pd.DataFrame({"x": np.arange(60.0), "y": ["a"] * 30 + ["b"] * (30 - ROWS_TO_TUNE_A_CLASS) + ["rare"] * ROWS_TO_TUNE_A_CLASS})
    strata = frame["y"].map({"a": 0, "b": 1, "rare": 2}).to_numpy()
    for seed in range(100):
        _train, holdout = split_frame(frame, "random", 0.2, seed=seed, strata=strata)
        fit, valid = tuning_split(frame, "random", "", 0.2, 100_000, seed, strata)
        assert all("rare" in set(part["y"]) for part in (holdout, fit, valid)), seed


def test_a_random_tuning_split_scores_on_a_fifth_of_numeric_rows():
    """Found in review: for columns of numbers alone the draws ignore the seed (pandas' hash key is
    for text), so a second unsalted draw scored trials on 6% of the training rows, not 20%."""
    from cnai.models.tuning import tuning_split

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=20_000), "y": rng.integers(0, 2, 20_000)})
    for fraction in (0.15, 0.25):
        fit, valid = tuning_split(frame, "random", "", fraction, 100_000, 7, frame["y"].to_numpy())
        assert 0.18 < len(valid) / (len(fit) + len(valid)) < 0.22, fraction
        assert list(fit.columns) == ["x", "y"]


def test_the_readme_names_every_algorithm_that_runs_locally():
    """The README's local list left out hyperband and bayesianoptimization, which run here too."""
    import re
    from pathlib import Path

    readme = " ".join((Path(__file__).parents[5] / "README.md").read_text().split())
    listed = re.search(r"Locally Optuna runs them under Katib's names: (.*?); one trial at a time", readme)
    assert listed, "README.md: the sentence listing the local tuning algorithms moved; update this test"
    assert set(re.findall(r"`([a-z-]+)`", re.sub(r"\([^)]*\)", "", listed.group(1)))) == set(KATIB_ALGORITHMS)


def test_a_class_of_one_row_is_named_as_too_rare_for_any_split(training_set, model_features, tmp_path):
    """Found by a new user (bakeoff's results: 'WD' and '[a]' one row each): tune advised
    data.split: random, already set, for a class no setting can put on both sides."""
    frame = pd.read_parquet(training_set)
    frame[LABEL] = frame[LABEL].map({0: "IN", 1: "OUT"}).astype(object)
    frame.loc[[3, 7], LABEL] = ["WD", "[a]"]
    frame.to_parquet(tmp_path / "results.parquet")
    # 3 rows, as init says (ROWS_TO_TUNE_A_CLASS): the holdout's check said 2, then tuning's split refused 2.
    with pytest.raises(DataError, match=r"have no .* = \[.*\]: 'WD' \(1 row\), '\[a\]' \(1 row\) are too rare \(a class "
                                        r"needs 3 rows or more: .*which no setting changes: merge them into the largest "
                                        r"class, .*CASE WHEN .* IN \('WD', '\[a\]'\) THEN '(IN|OUT)' ELSE"):
        tune_hyperparameters(str(tmp_path / "results.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), model_features, LABEL, TIME, SPACE, max_trials=2, task="multiclass",
                             objective_metric="log_loss", objective_goal="minimize", split="random")
    assert not (tmp_path / "t.md").exists()


def test_a_rare_class_is_named_only_when_it_is_one_the_rows_miss():
    """Found in review: a time split left 'B' (50 rows) out of the holdout while 'C' had 1 row, and
    the message blamed 'C' as too rare, which no setting changes, instead of advising on the split."""
    from cnai.core.splits import check_holdout

    classes = ["A", "B", "C"]
    training = np.array([0] * 100 + [1] * 50 + [2])
    with pytest.raises(DataError) as refused:
        check_holdout(np.array([0, 0, 2]), classes, "y", "ts.parquet", split_from=training)
    assert str(refused.value).startswith("ts.parquet: the held-out rows have no 'y' = ['B']; the metrics and the gate need")
    assert "too rare" not in str(refused.value)
    with pytest.raises(DataError, match=r"have no 'y' = \['B', 'C'\]: 'C' \(1 row\) is too rare"):
        check_holdout(np.array([0, 0]), classes, "y", "ts.parquet", split_from=training)


@pytest.mark.parametrize("kind, fixed, space, says", [
    ("hist_gradient_boosting", {"loss": "poisson"}, SPACE,
     r"model\.params\.loss: 'poisson', which needs no value below 0, not all 0"),
    ("xgboost", {}, [{"name": "objective", "parameter_type": "categorical", "values": ["reg:squarederror", "reg:gamma"]}],
     r"tuning\.parameters\.objective: 'reg:gamma', which needs every value above 0")], ids=["poisson", "gamma"])
def test_a_label_the_regression_loss_cannot_take_is_refused_before_any_trial(tmp_path, kind, fixed, space, says):
    """Found in review: scikit-learn's "loss='poisson' requires non-negative y" and XGBoost's "label
    must be positive for gamma regression" (with a C++ trace) failed every trial, naming no setting."""
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=200), "t": pd.date_range("2024-01-01", periods=200, freq="h"),
                  "y": np.r_[-2.0, 0.0, rng.uniform(1, 9, 198)]}).to_parquet(tmp_path / "amounts.parquet")
    with pytest.raises(DataError, match=rf"amounts\.parquet: label column 'y' \(lowest -2\) does not suit {says}: set "
                                        r"another \w+ \(squared error takes any number\), or choose a label that suits it$"):
        tune_hyperparameters(str(tmp_path / "amounts.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), ["x"], "y", "t", space, max_trials=2, task="regression",
                             objective_metric="rmse", objective_goal="minimize", model_kind_name=kind, model_params=fixed)
    assert not (tmp_path / "t.md").exists()


@pytest.mark.parametrize("empty", [np.nan, None], ids=["number", "text"])
def test_a_feature_empty_in_every_row_is_refused_by_name(training_set, model_features, tmp_path, empty):
    """scikit-learn's binning failed on it with a bare "window shape cannot be larger than input
    array shape" (a new user's all-empty column, and a side table's join that matched nothing)."""
    frame = pd.read_parquet(training_set).assign(nothing=empty)
    frame.to_parquet(tmp_path / "with_empty.parquet")
    with pytest.raises(DataError, match=r"with_empty.parquet: feature column\(s\) \['nothing'\] have no value in any "
                                        r"of its \d+ rows.*remove it from data.features"):
        tune_hyperparameters(str(tmp_path / "with_empty.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), [*model_features, "nothing"], LABEL, TIME, SPACE, max_trials=2)
    assert not (tmp_path / "t.md").exists()


def test_a_feature_with_values_only_in_the_holdout_is_refused(training_set, model_features, tmp_path):
    frame = pd.read_parquet(training_set)
    newest = frame[TIME] >= frame[TIME].quantile(0.95)
    frame.assign(lately=np.where(newest, 1.0, np.nan)).to_parquet(tmp_path / "lately.parquet")
    with pytest.raises(DataError, match=r"\['lately'\] have no value in the \d+ rows trained on \(what values it has are all held out\)"):
        tune_hyperparameters(str(tmp_path / "lately.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), [*model_features, "lately"], LABEL, TIME, SPACE, max_trials=2)


def test_a_feature_derived_as_a_time_is_refused_before_any_trial(training_set, model_features, tmp_path):
    """cnai.yaml refuses a column declared a time as a feature; one derived as a time arrives as one."""
    frame = pd.read_parquet(training_set)
    frame.assign(scheduled=frame[TIME]).to_parquet(tmp_path / "timed.parquet")
    with pytest.raises(DataError, match=r"feature column 'scheduled' holds times.*derived_columns in cnai.yaml"):
        tune_hyperparameters(str(tmp_path / "timed.parquet"), str(tmp_path / "t.md"), str(tmp_path / "m.json"),
                             str(tmp_path / "p.html"), [*model_features, "scheduled"], LABEL, TIME, SPACE, max_trials=2)
