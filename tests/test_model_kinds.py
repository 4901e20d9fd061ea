"""Every model kind on every table shape and task: fitted, saved, loaded and scored as serving
scores (a DataFrame, and plain lists as the model server has them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnai.models.base import model_input
from cnai.models.kinds import model_kind
from cnai.models.saved import LoadedModel, save_model

KINDS = ["hist_gradient_boosting", "xgboost", "lightgbm", "sklearn.ensemble.RandomForest{task}", "torch_tabular"]
# A few epochs in 2 processes is enough to check the seam; the network's own tests train for real.
PARAMS = {"torch_tabular": {"max_epochs": 3}}
SHAPES = {"numeric only": (["a", "b"], []), "categorical only": ([], ["c", "d"]), "mixed": (["a"], ["c"])}
TASKS = {"binary": [0, 1], "multiclass": ["x", "y", "z"], "regression": None}


def table(numeric: list[str], categorical: list[str], task: str, rows: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({**{c: rng.normal(size=rows) for c in numeric},
                          **{c: rng.choice(["p", "q", "r"], size=rows) for c in categorical}})
    signal = sum(frame[c] for c in numeric) + sum(frame[c].map({"p": 0.0, "q": 1.0, "r": 2.0}) for c in categorical)
    if task == "regression":
        return frame, signal.to_numpy(dtype=float)
    classes = len(TASKS[task])
    return frame, np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_scores_every_shape(kind, task, shape, tmp_path):
    kind = kind.format(task="Regressor" if task == "regression" else "Classifier")
    numeric, categorical = SHAPES[shape]
    frame, y = table(numeric, categorical, task)
    estimator = model_kind(kind).build(task, categorical, numeric, PARAMS.get(kind, {}), 0)
    estimator.fit(frame, y)
    classes = TASKS[task] or []
    save_model(kind, estimator, tmp_path, {"task": task, "classes": classes, "feature_columns": list(frame.columns),
                                          "categorical": categorical, "numeric": numeric, "label": "y"})
    loaded = LoadedModel(tmp_path)
    from_frame = loaded.scores(frame)
    from_lists = loaded.scores({c: frame[c].tolist() for c in frame.columns})
    expected = estimator.predict(frame) if task == "regression" else estimator.predict_proba(frame)
    expected = expected[:, 1] if task == "binary" else expected
    np.testing.assert_allclose(from_frame, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(from_lists, expected, rtol=1e-6, atol=1e-9)
    loaded.prepare_for_serving()  # the compiled fast path, where the kind has one
    for row in (0, 1, 2):  # one row at a time, as single requests arrive
        one = loaded.scores({c: [frame[c].iloc[row]] for c in frame.columns})
        np.testing.assert_allclose(one, expected[row:row + 1], rtol=1e-6, atol=1e-9)
    predictions = loaded.predictions(from_frame)
    assert len(predictions) == len(frame) and (task == "regression" or set(predictions) <= set(classes))


@pytest.mark.parametrize("kind", KINDS)
def test_a_key_like_column_with_more_categories_than_bins_is_learned_from(kind, tmp_path):
    """A plane's tail number (1,009 values in 2,500 flights) made every HistGradientBoosting trial
    fail with "Categorical feature ... cardinality <= 255"; unseen and missing values still score."""
    kind = kind.format(task="Classifier")
    rng = np.random.default_rng(1)
    rows = 2500
    frame = pd.DataFrame({"tail": rng.choice([f"N{i}" for i in range(1000)], rows).astype(object), "a": rng.normal(size=rows)})
    frame.loc[::13, "tail"] = None
    y = (frame["a"] + frame["tail"].isin([f"N{i}" for i in range(100)])).gt(0.5).astype(int).to_numpy()
    estimator = model_kind(kind).build("binary", ["tail"], ["a"], PARAMS.get(kind, {}), 0)
    estimator.fit(model_input(frame, ["tail", "a"], ["tail"]), y)  # as training fits
    save_model(kind, estimator, tmp_path, {"task": "binary", "classes": [0, 1], "feature_columns": ["tail", "a"],
                                          "categorical": ["tail"], "numeric": ["a"], "label": "y"})
    loaded = LoadedModel(tmp_path)
    loaded.prepare_for_serving()
    probe = pd.concat([frame.head(50), pd.DataFrame({"tail": ["never seen", None], "a": [0.3, -0.2]})], ignore_index=True)
    expected = estimator.predict_proba(model_input(probe, ["tail", "a"], ["tail"]))[:, 1]
    np.testing.assert_allclose(loaded.scores(probe), expected, rtol=1e-6, atol=1e-9)
    for row in (0, 50, 51):
        np.testing.assert_allclose(loaded.scores({c: [probe[c].iloc[row]] for c in probe.columns}), expected[row:row + 1],
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind, params", [("xgboost", {"tree_method": "hist"}), ("lightgbm", {"boosting_type": "gbdt"})])
def test_a_parameter_the_kind_also_defaults_is_the_users(kind, params):
    """The README's own `model.params: {tree_method: hist}` crashed every trial: "got multiple
    values for keyword argument 'tree_method'"."""
    frame, y = table(["a"], ["c"], "binary")
    estimator = model_kind(kind).build("binary", ["c"], ["a"], params, 0)
    estimator.fit(frame, y)
    assert all(estimator.named_steps["model"].get_params()[k] == v for k, v in params.items())


@pytest.mark.parametrize("kind, name, chosen, unknown", [
    ("hist_gradient_boosting", "loss", "poisson", "huber"),
    ("xgboost", "objective", "count:poisson", "reg:huber"),
    ("lightgbm", "objective", "poisson", "huberish")])
def test_a_regression_takes_the_users_loss_and_a_classification_keeps_its_own(kind, name, chosen, unknown, tmp_path):
    """Found by a new user on diamonds' price: `model.params.loss: absolute_error` was refused as
    "set by cnai itself", so no regression could fit anything but squared error."""
    from cnai.components.training.tune.executor import check_model_parameters
    from cnai.core.errors import ConfigError

    check_model_parameters(kind, "regression", [], {name: chosen})
    check_model_parameters(kind, "regression", [{"name": name, "parameter_type": "categorical", "values": [chosen]}], {})
    with pytest.raises(ConfigError, match=rf"^model\.params\.{name}: {unknown!r} is refused by the model"):
        check_model_parameters(kind, "regression", [], {name: unknown})
    with pytest.raises(ConfigError, match=rf"^model\.params\.{name}: set by cnai itself \(a binary model's scores are"):
        check_model_parameters(kind, "binary", [], {name: chosen})
    frame, y = table(["a"], ["c"], "regression")
    estimator = model_kind(kind).build("regression", ["c"], ["a"], {name: chosen}, 0).fit(frame, np.exp(y))
    assert estimator.named_steps["model"].get_params()[name] == chosen
    save_model(kind, estimator, tmp_path, {"task": "regression", "classes": [], "feature_columns": list(frame.columns),
                                          "categorical": ["c"], "numeric": ["a"], "label": "y"})
    np.testing.assert_allclose(LoadedModel(tmp_path).scores(frame), estimator.predict(frame), rtol=1e-6)


def test_a_loss_the_regressor_does_not_take_is_named_with_those_it_does():
    from cnai.components.training.tune.executor import check_model_parameters
    from cnai.core.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        check_model_parameters("hist_gradient_boosting", "regression", [], {"loss": "huber"})
    assert str(refused.value) == ("model.params.loss: 'huber' is refused by the model (HistGradientBoostingRegressor: use one of "
                                  "['absolute_error', 'gamma', 'poisson', 'quantile', 'squared_error'])")
    check_model_parameters("hist_gradient_boosting", "regression", [], {"loss": "quantile", "quantile": 0.9})
    with pytest.raises(ConfigError, match=r"^model\.params\.loss: 'quantile' needs .*model\.params\.quantile"):
        model_kind("hist_gradient_boosting").build("regression", [], ["a"], {"loss": "quantile"}, 0)


def test_a_quantile_loss_without_its_quantile_is_refused_before_the_run():
    """Found in review: only `build` refused it, at the first trial, after the data steps."""
    from cnai.components.training.tune.executor import check_model_parameters
    from cnai.core.errors import ConfigError

    quantile = {"name": "quantile", "parameter_type": "double", "min": 0.1, "max": 0.9}
    losses = {"name": "loss", "parameter_type": "categorical", "values": ["squared_error", "quantile"]}
    with pytest.raises(ConfigError) as refused:
        check_model_parameters("hist_gradient_boosting", "regression", [], {"loss": "quantile"})
    with pytest.raises(ConfigError, match=r"^model\.params\.loss: 'quantile' needs the quantile"):
        check_model_parameters("hist_gradient_boosting", "regression", [losses], {})
    with pytest.raises(ConfigError) as built:
        model_kind("hist_gradient_boosting").build("regression", [], ["a"], {"loss": "quantile"}, 0)
    assert str(refused.value) == str(built.value)
    check_model_parameters("hist_gradient_boosting", "regression", [quantile], {"loss": "quantile"})
    check_model_parameters("hist_gradient_boosting", "regression", [losses], {"quantile": 0.5})


def test_whole_numbers_come_back_as_the_estimator_takes_them_and_no_further():
    """KFP's dict parameters and Katib turn `n_estimators: 30` into 30.0 (a user's RandomForest died
    on it in tune). The old rule (a name starting max_/n_) also made `max_features: 1.0`, every
    feature, into 1: one feature."""
    from sklearn.ensemble import RandomForestClassifier

    from cnai.models.base import whole_numbers_restored

    restored = whole_numbers_restored(RandomForestClassifier, {"n_estimators": 30.0, "max_features": 1.0, "max_depth": 4.0,
                                                               "min_samples_leaf": 0.5, "criterion": "gini"})
    assert restored == {"n_estimators": 30, "max_features": 1.0, "max_depth": 4, "min_samples_leaf": 0.5, "criterion": "gini"}
    assert [type(restored[k]) for k in ("n_estimators", "max_features", "max_depth")] == [int, float, int]
    kind = model_kind("sklearn.ensemble.RandomForestClassifier")
    assert kind.build("binary", [], ["a"], {"max_features": 1.0}, 0).get_params()["model__max_features"] == 1.0


def test_a_teams_one_step_pipeline_is_tuned_in_stages(tmp_path, monkeypatch):
    """Tuning encodes a Pipeline's validation rows once, through every step but the model: a
    team's Pipeline of the model alone has no such steps (it raised AttributeError)."""
    from cnai.models.tuning import staged_scores

    (tmp_path / "one_step_models.py").write_text(
        "from sklearn.ensemble import HistGradientBoostingClassifier\n"
        "from sklearn.pipeline import make_pipeline\n\n\n"
        "def build(task, categorical, numeric, params, seed):\n"
        "    return make_pipeline(HistGradientBoostingClassifier(random_state=seed, **params))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    frame, y = table(["a", "b"], [], "binary")
    frame["y"] = y
    scores = list(staged_scores("one_step_models:build", "binary", {"max_iter": 20}, frame.iloc[:200], frame.iloc[200:],
                                ["a", "b"], "y", [0, 1], "roc_auc", 0))
    assert len(scores) == 1 and 0.5 < scores[0][1] <= 1.0


def test_a_fit_of_few_rows_runs_on_one_thread(monkeypatch, tmp_path):
    """Found by new users on a busy machine: a trial on a few thousand rows took 5 to 10 times as long
    on every core as on one (OpenMP waiting on descheduled threads). Fits of fewer than
    ONE_THREAD_BELOW rows run on one thread, in tuning's trials and train's fit alike; larger ones on
    every thread. A team's own model, which records the OpenMP threads it was given, tells."""
    from threadpoolctl import threadpool_info

    from cnai.models.base import ONE_THREAD_BELOW
    from cnai.models.tuning import staged_scores

    (tmp_path / "thread_models.py").write_text(
        "import sklearn.ensemble  # loads OpenMP\n"
        "from sklearn.base import BaseEstimator, ClassifierMixin\n"
        "from sklearn.dummy import DummyClassifier\n"
        "from threadpoolctl import threadpool_info\n\n"
        "SEEN = []\n\n\n"
        "class Recorder(ClassifierMixin, BaseEstimator):\n"
        "    def fit(self, X, y):\n"
        "        SEEN.append(max(p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp'))\n"
        "        self.inner_ = DummyClassifier(strategy='prior').fit(X, y)\n"
        "        self.classes_ = self.inner_.classes_\n"
        "        return self\n\n"
        "    def predict_proba(self, X):\n"
        "        return self.inner_.predict_proba(X)\n\n\n"
        "def build(task, categorical, numeric, params, seed):\n"
        "    return Recorder()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import thread_models

    every_thread = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp")
    if every_thread < 2:
        pytest.skip("one core: nothing to limit")
    frame, y = table(["a", "b"], [], "binary", rows=ONE_THREAD_BELOW + 2_000)
    frame["y"] = y
    for fit_rows, threads in ((1_000, 1), (ONE_THREAD_BELOW, every_thread)):
        list(staged_scores("thread_models:build", "binary", {}, frame.iloc[:fit_rows], frame.iloc[-2_000:], ["a", "b"], "y",
                           [0, 1], "roc_auc", 0))
        assert thread_models.SEEN[-1] == threads, f"a trial fitting {fit_rows} rows"
    from cnai.models.training import fit_and_evaluate

    frame.iloc[:1_000].to_parquet(tmp_path / "small.parquet", index=False)
    out = {name: str(tmp_path / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
    fit_and_evaluate(str(tmp_path / "small.parquet"), *out.values(), ["a", "b"], "y", "", {}, 0.2, 0,
                     task="binary", model_kind_name="thread_models:build", split="random")
    assert thread_models.SEEN[-1] == 1, "train's fit of 800 rows"


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_category_scores_alike_however_it_arrives(kind, tmp_path):
    """Found by a new user: fitted on Parquet's None (a category of its own to an encoder), a model
    scored the same row up to 0.7 apart when pandas read it from a CSV as NaN, and a one-row frame
    whose text column was all NaN ended in scikit-learn's TypeError. Training fits what
    `model_input` gives; None, NaN and pd.NA then score alike, from a frame or from lists."""
    kind = kind.format(task="Classifier")
    rng = np.random.default_rng(2)
    rows = 600
    frame = pd.DataFrame({"c": rng.choice(["p", "q", "r"], rows).astype(object), "a": rng.normal(size=rows)})
    frame.loc[::4, "c"] = None  # as Parquet gives a missing text value
    y = ((frame["c"].isna() * 2.0 + frame["a"]) > 0.5).astype(int).to_numpy()  # missing itself is a signal
    estimator = model_kind(kind).build("binary", ["c"], ["a"], PARAMS.get(kind, {}), 0)
    estimator.fit(model_input(frame, ["c", "a"], ["c"]), y)
    save_model(kind, estimator, tmp_path, {"task": "binary", "classes": [0, 1], "feature_columns": ["c", "a"],
                                          "categorical": ["c"], "numeric": ["a"], "label": "y"})
    loaded = LoadedModel(tmp_path)
    loaded.prepare_for_serving()
    a = [0.1, 0.9, -0.4]
    answers = [loaded.scores(pd.DataFrame({"c": [missing] * 3, "a": a})) for missing in (None, np.nan, pd.NA)]
    answers += [loaded.scores({"c": [missing] * 3, "a": a}) for missing in (None, np.nan)]
    answers.append([loaded.scores(pd.DataFrame({"c": [np.nan], "a": [v]}))[0] for v in a])  # a float column of NaN
    for answer in answers[1:]:
        np.testing.assert_allclose(np.ravel(answer), np.ravel(answers[0]), rtol=1e-6, atol=1e-9)
    seen = loaded.scores(pd.DataFrame({"c": ["p"] * 3, "a": a}))
    assert not np.allclose(seen, answers[0]), "the check needs missing to score unlike a seen category"


@pytest.mark.parametrize("kind", KINDS)
def test_a_boolean_feature_takes_true_and_false_however_they_are_spelt(kind, tmp_path):
    """Found by a new user: a `boolean` column was served as BYTES; JSON's true was refused, and
    "true", 1 or "garbage" were scored silently as a category never seen."""
    from cnai.core.errors import DataError
    from cnai.models.base import boolean_columns

    kind = kind.format(task="Classifier")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"w": rng.random(400) < 0.5, "a": rng.normal(size=400)})
    y = (frame["w"] * 2.0 + frame["a"] > 0.8).astype(int).to_numpy()
    assert boolean_columns(frame, ["w"]) == ["w"] and boolean_columns(frame.assign(w=frame["w"].astype(str)), ["w"]) == []
    estimator = model_kind(kind).build("binary", ["w"], ["a"], PARAMS.get(kind, {}), 0)
    estimator.fit(model_input(frame, ["w", "a"], ["w"]), y)
    save_model(kind, estimator, tmp_path, {"task": "binary", "classes": [0, 1], "feature_columns": ["w", "a"],
                                          "categorical": ["w"], "numeric": ["a"], "boolean": ["w"], "label": "y"})
    loaded = LoadedModel(tmp_path)
    loaded.prepare_for_serving()
    for value, spellings in ((True, ["true", "TRUE", "True", 1, "yes", "t", "1"]), (False, ["false", 0, "no", "F"])):
        expected = estimator.predict_proba(pd.DataFrame({"w": [value], "a": [0.2]}))[:, 1]
        for spelt in [value, *spellings]:
            np.testing.assert_allclose(loaded.scores({"w": [spelt], "a": [0.2]}), expected, rtol=1e-6, err_msg=repr(spelt))
    with pytest.raises(DataError, match="input 'w' is true or false; 'garbage' is neither"):
        loaded.scores({"w": ["garbage"], "a": [0.2]})


@pytest.mark.parametrize("kind, parameter, refused", [
    ("xgboost", {"name": "subsample", "parameter_type": "double", "min": 0.5, "max": 1.5}, r"subsample: 1\.5 is refused.*exceed bound"),
    ("lightgbm", {"name": "num_leaves", "parameter_type": "int", "min": 1, "max": 4}, r"num_leaves: 1 is refused.*num_leaves\) > \(1\)\)"),
])
def test_a_boosters_value_out_of_its_range_is_refused_before_the_run(kind, parameter, refused):
    """Found by a new user: XGBoost and LightGBM check their arguments only in fit, so a range
    beyond them failed the first trial after the data steps, in the library's own words only."""
    from cnai.components.training.tune.executor import check_hyperparameters
    from cnai.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"tuning.parameters.{refused}"):
        check_hyperparameters(kind, "binary", [parameter])
    for task in TASKS:  # the kind's own search space passes, for every task
        check_hyperparameters(kind, task, model_kind(kind).default_search_space(1000))


def test_hist_gradient_boosting_stops_early_as_scikit_learn_does_by_default():
    """As scikit-learn's default (early_stopping="auto"): past 10,000 rows a fit stops once 10 rounds
    in a row brought no gain on a tenth of its rows, in a tuning trial and in the final fit alike,
    and a trial reports no stage after its stop. The kind had turned it off: every trial ran every
    round its max_iter asked, slower, and the long ones overfit (BENCHMARKS.md, time-to-model)."""
    from cnai.models.tuning import staged_scores

    frame, y = table(["a", "b"], ["c"], "binary", rows=12_000)
    frame["y"] = y
    kind = model_kind("hist_gradient_boosting")
    fitted = kind.build("binary", ["c"], ["a", "b"], {"max_iter": 1000}, 0).fit(frame[["a", "b", "c"]], y)
    assert fitted.named_steps["model"].n_iter_ < 1000
    stages = [stage for stage, _ in staged_scores("hist_gradient_boosting", "binary", {"max_iter": 1000},
                                                  frame.iloc[:11_000], frame.iloc[11_000:], ["a", "b", "c"], "y",
                                                  [0, 1], "roc_auc", 0)]
    assert stages == list(range(50, stages[-1] + 1, 50)) and stages[-1] < 1000
    # Fewer rows than scikit-learn holds a tenth out of: every round, as scikit-learn does.
    small = kind.build("binary", ["c"], ["a", "b"], {"max_iter": 60}, 0).fit(frame[["a", "b", "c"]][:2000], y[:2000])
    assert small.named_steps["model"].n_iter_ == 60
    # A team can set scikit-learn's own early-stopping parameters, or turn it off.
    assert kind.parameter_problems("binary", [{"name": "early_stopping", "parameter_type": "categorical", "values": [False]},
                                              {"name": "n_iter_no_change", "parameter_type": "int", "min": 5, "max": 20}]) == []


def test_a_class_of_one_row_is_fitted_without_early_stopping():
    """Found by reading the change: scikit-learn's early stopping splits a classifier's rows by class,
    and a class with one row among more than 10,000 failed the fit (train's, or a trial's)."""
    from cnai.models.tuning import staged_scores

    frame, y = table(["a", "b"], ["c"], "binary", rows=12_000)
    y = np.where(np.arange(len(y)) == 0, 2, y)  # a third class, once
    frame["y"] = y
    kind = model_kind("hist_gradient_boosting")
    estimator = kind.build("multiclass", ["c"], ["a", "b"], {"max_iter": 20}, 0)
    kind.before_fit(estimator, frame[["a", "b", "c"]], y)
    assert estimator.fit(frame[["a", "b", "c"]], y).named_steps["model"].n_iter_ == 20
    assert [stage for stage, _ in staged_scores("hist_gradient_boosting", "multiclass", {"max_iter": 20}, frame.iloc[:11_500],
                                                frame.iloc[11_500:], ["a", "b", "c"], "y", [0, 1, 2], "log_loss", 0)] == [20]


def test_dates_written_as_text_are_refused_as_features_with_the_number_to_derive(tmp_path):
    """Left from an earlier new user's trial: a text date listed by hand as a feature became a
    category of 800 values without a word (a new row's date is never one of them). cnai init leaves
    such a column out, as the run refuses it (found by a review: init kept 3/1/13-style dates)."""
    from cnai.core.errors import DataError
    from cnai.models.base import feature_kinds
    from cnai.orchestration.init_project import project_config

    rows = 40
    for dates, recipe in (([f"{m}/{d}/2013" for m, d in zip(range(1, 13), range(1, 13), strict=True)],
                           "to_timestamp(when, 'M/d/yyyy')"),
                          ([f"{d}/{m}/13" for m, d in zip(range(1, 13), range(13, 25), strict=True)], "to_timestamp(when, 'd/M/yy')"),
                          # Day first though the first rows' days are 12 or less (found by a new user: told M/d/yyyy).
                          ([f"{d}/{m}/2009" for m, d in zip(range(1, 13), [5, 7, *range(13, 23)], strict=True)],
                           "to_timestamp(when, 'd/M/yyyy')"),
                          ([f"2013-01-{d:02d}T0{d % 10}:30:00Z" for d in range(1, 29)], "to_timestamp(when)")):
        frame = pd.DataFrame({"when": (dates * rows)[:rows], "a": np.arange(rows) % 7, "y": np.arange(rows) % 2})
        with pytest.raises(DataError) as refused:
            feature_kinds(frame, ["when", "a"])
        assert f"feature column 'when' holds dates written as text (e.g. '{dates[0]}')" in str(refused.value)
        assert f'when_year: "year({recipe})"' in str(refused.value), str(refused.value)
        frame.to_csv(tmp_path / "events.csv", index=False)
        proposed, _, _ = project_config(str(tmp_path / "events.csv"), label="y")
        assert "when" not in proposed["data"]["features"], proposed["data"]["features"]
    # Codes that look a little like dates (a bank's sort code), and a few dates among words, stay categories.
    for values in (["A-12", "B-7", "C-1"], ["12-34-56", "40-11-99", "77-88-12"], ["2013-01-01", "soon", "later", "never"]):
        frame = pd.DataFrame({"when": (values * rows)[:rows], "a": np.arange(rows)})
        assert feature_kinds(frame, ["when", "a"]) == (["when"], ["a"])


@pytest.mark.parametrize("categories", [9, 10, 11])
def test_the_encoders_category_limit_is_lifted_only_where_it_changes_nothing(categories):
    """hist_gradient_boosting's encoder keeps a column's max_bins most frequent categories (the rest
    share a code), which made it count every value, in Python for text. The limit is lifted only
    when no column reaches it: the codes equal those of the limited encoder on each side of the
    boundary (at `max_bins` categories the rarest are grouped, and lifting it there would not)."""
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(0)
    values = np.array([f"v{i}" for i in range(categories)], dtype=object)[rng.zipf(1.5, 2_000) % categories]
    frame = pd.DataFrame({"c": values, "small": rng.choice(["x", "y", None], 2_000), "a": rng.normal(size=2_000)})
    frame = model_input(frame, ["c", "small", "a"], ["c", "small"])
    kind = model_kind("hist_gradient_boosting")
    estimator = kind.build("binary", ["c", "small"], ["a"], {"max_bins": 10, "max_iter": 5}, 0)
    kind.before_fit(estimator, frame, rng.integers(0, 2, 2_000))
    fitted = estimator.named_steps["encode"].fit(frame).named_transformers_["categorical"]
    limited = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
                             max_categories=10).fit(frame[["c", "small"]])
    np.testing.assert_array_equal(fitted.transform(frame[["c", "small"]]), limited.transform(frame[["c", "small"]]))
    assert (fitted.max_categories is None) == (categories < 10)


@pytest.mark.parametrize("kind_name", ["hist_gradient_boosting", "xgboost", "lightgbm",
                                       "xgboost:dart", "xgboost:gblinear", "lightgbm:dart", "lightgbm:rf"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_stage_scores_as_a_fit_of_that_many_rounds(kind_name, task):
    """A trial's stages are scored from fewer fits than stages (a fit per stage took two to three
    times one fit's time): each stage's scores are still those of a model fitted with that many
    rounds alone, and with early stopping (hist_gradient_boosting past 10,000 rows) no stage is
    reported past the stop, as a fit per stage stopped there."""
    from threadpoolctl import threadpool_limits

    from cnai.models.base import predicted_scores, stages
    from cnai.models.tuning import ROUNDS_PER_REPORT

    kind_name, _, booster = kind_name.partition(":")  # dart re-weighs earlier trees, gblinear has none, rf averages
    rows = 13_000 if kind_name == "hist_gradient_boosting" else 1_500  # its early stopping: past 10,000 rows fitted
    frame, y = table(["a", "b"], ["c"], task, rows=rows)
    noisy = np.random.default_rng(1).random(rows) < 0.3  # a label the features do not fully tell: fits stop early
    y = np.where(noisy, y + np.random.default_rng(2).normal(size=rows), y) if task == "regression" else \
        np.where(noisy, np.random.default_rng(2).integers(0, y.max() + 1, rows), y)
    kind = model_kind(kind_name)
    rounds_name, total = kind.stage_parameter, 4 * ROUNDS_PER_REPORT - 20
    fit_part, valid_part, y_fit = frame.iloc[: rows * 4 // 5], frame.iloc[rows * 4 // 5:], y[: rows * 4 // 5]
    # hist_gradient_boosting stops at round 100 (binary: a stage's end), 104 (multiclass) or not at all
    params = {"learning_rate": 0.03}
    if booster:
        params = {"xgboost": {"booster": booster}, "lightgbm": {"boosting_type": booster}}[kind_name]
        if booster == "rf":  # LightGBM's random forest samples rows and columns, as it must
            params.update(bagging_freq=1, bagging_fraction=0.7, feature_fraction=0.8)
    threads = threadpool_limits(1, "openmp")  # small fits: OpenMP's threads only wait on each other
    staged = list(kind.staged_scores(kind.build(task, ["c"], ["a", "b"], {**params, rounds_name: total}, 0), task,
                                     fit_part, y_fit, valid_part, total, ROUNDS_PER_REPORT))
    expected = []
    for rounds in stages(total, ROUNDS_PER_REPORT):
        alone = kind.build(task, ["c"], ["a", "b"], {**params, rounds_name: rounds}, 0)
        kind.before_fit(alone, fit_part, y_fit)
        alone.fit(fit_part, y_fit)
        expected.append((rounds, predicted_scores(alone, task, valid_part)))
        if (kind.rounds_fitted(alone) or rounds) < rounds:
            break
    threads.restore_original_limits()
    assert [r for r, _ in staged] == [r for r, _ in expected]
    assert len(staged) >= 3, "the stages after the first one are what is tested"
    for (rounds, got), (_, want) in zip(staged, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"stage {rounds}")


@pytest.mark.parametrize("kind_name", ["hist_gradient_boosting", "lightgbm"])
def test_a_studys_trials_encode_their_rows_once_and_score_as_alone(kind_name):
    """The trials of one study fit and score the same rows: they share one encoding of them (per
    encoder setting: max_bins decides hist_gradient_boosting's categories), and score as a trial
    that encodes its own."""
    from cnai.models.tuning import staged_scores

    frame, y = table(["a", "b"], ["c"], "binary", rows=600)
    frame["y"] = y
    fit, valid = frame.iloc[:480], frame.iloc[480:]
    rounds = model_kind(kind_name).stage_parameter
    trials = [{rounds: 60, "learning_rate": 0.1}, {rounds: 60, "learning_rate": 0.3}]
    if kind_name == "hist_gradient_boosting":
        trials.append({rounds: 60, "learning_rate": 0.1, "max_bins": 2})  # other categories: an encoding of its own
    memo: dict = {}
    for params in trials:
        shared = list(staged_scores(kind_name, "binary", params, fit, valid, ["a", "b", "c"], "y", [0, 1], "roc_auc", 0, memo))
        alone = list(staged_scores(kind_name, "binary", params, fit, valid, ["a", "b", "c"], "y", [0, 1], "roc_auc", 0))
        assert shared == alone
    assert len(memo) == len(trials) - 1


def test_a_date_feature_is_refused_as_a_time_is(tmp_path):
    """A Spark `date` (a derived to_date(...), or a Feast repo's) comes back from Parquet as Python
    dates in an object column, which was taken for text categories of exact dates."""
    import datetime

    from cnai.core.errors import DataError
    from cnai.models.base import feature_kinds

    frame = pd.DataFrame({"a": [1.0, 2.0], "day": [datetime.date(2013, 1, 1), None], "c": ["p", "q"]})
    frame.to_parquet(tmp_path / "dated.parquet")
    read = pd.read_parquet(tmp_path / "dated.parquet")
    assert read["day"].dtype == object  # what pandas makes of Parquet's date32
    with pytest.raises(DataError, match=r"feature column 'day' holds times"):
        feature_kinds(read, ["a", "day", "c"])
    assert feature_kinds(read, ["a", "c"]) == (["c"], ["a"])


def test_a_failed_distributed_fit_says_the_ranks_own_cause(tmp_path):
    """A DDP fit failed in CI with torchrun's summary alone ("Signal 6 (SIGABRT) received"): the
    rank's own cause, above the summary, was cut off. A rank that cannot read its work says so."""
    from cnai.core.errors import DataError
    from cnai.models.torch_tabular import run_distributed

    with pytest.raises(DataError, match=r"(?s)distributed training in 2 process\(es\) failed:.*Error.*spec\.json"):
        run_distributed(tmp_path, 2)  # no spec.json, no data: each rank fails reading them
