"""The compiled forest gives scikit-learn's probabilities bit for bit, for every kind of model
HistGradientBoostingClassifier fits, and is refused when it would not."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from cnai.models import compiled_forest
from cnai.models.compiled_forest import compile_forest


def fitted(categorical_mask: list[bool], rows: int = 3000, seed: int = 0, **params) -> tuple:
    """Data where every column matters, with missing values in every column and categories of
    uneven frequency; categorical columns hold small integers, as an ordinal encoder makes."""
    rng = np.random.default_rng(seed)
    columns, signal = [], np.zeros(rows)
    for index, is_categorical in enumerate(categorical_mask):
        if is_categorical:
            values = rng.choice(np.arange(12.0), rows, p=np.arange(1, 13) / 78)
            signal += np.where(values % 3 == index % 3, 1.0, -0.5)
        else:
            values = rng.normal(size=rows) * (index + 1)
            signal += np.sin(values)
        values[rng.random(rows) < 0.05] = np.nan
        columns.append(values)
    matrix = np.column_stack(columns)
    labels = (signal + rng.normal(size=rows) > 0).astype(int)
    model = HistGradientBoostingClassifier(categorical_features=categorical_mask, random_state=0, **{"max_iter": 40, **params})
    return model.fit(matrix, labels), matrix


def unseen_and_missing(matrix: np.ndarray, categorical_mask: list[bool]) -> np.ndarray:
    rows = matrix.copy()
    for column, is_categorical in enumerate(categorical_mask):
        rows[column::7, column] = np.nan
        if is_categorical:
            rows[column + 1::11, column] = 99.0  # never seen in training
            rows[column + 2::13, column] = -1.0
    return rows


@pytest.mark.parametrize("categorical_mask", [
    [True, True, False, False],      # categories first, as cnai's models have them
    [False, True, False, True],      # scikit-learn moves categorical columns first internally
    [False, False, False],           # no categories at all: no preprocessor inside the model
    [True, True],                    # only categories
], ids=["categories-first", "interleaved", "numbers-only", "categories-only"])
def test_same_probabilities_as_scikit_learn(categorical_mask):
    model, matrix = fitted(categorical_mask)
    forest = compile_forest(model)
    assert forest is not None
    rows = unseen_and_missing(matrix[:1500], categorical_mask)
    np.testing.assert_array_equal(forest.predict_proba(rows), model.predict_proba(rows)[:, 1])
    np.testing.assert_array_equal(forest.predict_proba(rows[:1]), model.predict_proba(rows[:1])[:, 1])


def test_deep_trees_compile():
    """Nesting depth follows tree depth; a deep, narrow tree must still compile."""
    model, matrix = fitted([True, False, False], rows=6000, max_leaf_nodes=200, min_samples_leaf=2, max_iter=5)
    assert max(int(p[0].nodes["depth"].max()) for p in model._predictors) >= 15
    forest = compile_forest(model)
    assert forest is not None
    np.testing.assert_array_equal(forest.predict_proba(matrix[:500]), model.predict_proba(matrix[:500])[:, 1])


def test_a_forest_that_disagrees_is_not_used(monkeypatch, caplog):
    """If scikit-learn's internals change meaning, the probe rows catch it and scikit-learn scores."""
    model, _ = fitted([True, False, False])
    write_source = compiled_forest._source

    def flipped_thresholds(classifier):
        source, constants = write_source(classifier)
        return source.replace(" <= ", " < ", 1).replace("not x", "x", 1), constants

    monkeypatch.setattr(compiled_forest, "_source", flipped_thresholds)
    assert compile_forest(model) is None
    assert "disagreed" in caplog.text, "the probe rows, not an error, must have caught it"


def test_trees_deeper_than_python_nests_are_left_to_scikit_learn(monkeypatch):
    """Python refuses more than 100 levels of indentation: such a model is scored by scikit-learn."""
    model, _ = fitted([False, False])
    too_deep = "def raw_score(x):\n" + "".join("    " * (depth + 1) + "if x[0] > 0:\n" for depth in range(120)) + "    " * 121 + "return 1.0\n"
    monkeypatch.setattr(compiled_forest, "_source", lambda classifier: (too_deep, {}))
    assert compile_forest(model) is None


def test_multiclass_is_left_to_scikit_learn():
    model, matrix = fitted([False, False])
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(matrix, np.arange(len(matrix)) % 3)
    assert compile_forest(multiclass) is None


def test_the_source_grows_with_the_nodes_not_with_their_nesting():
    """Found by a new user: a categorical split wrote its missing-value subtree out a second time,
    so code grew with nesting depth: 14,000 nodes became 2 million lines, a minute and 4.4 GB to
    compile at deploy. Each node is now written once (an `if` and an `else`, or a leaf's line)."""
    mask = [True, True, True, True, False]
    model, matrix = fitted(mask, rows=6000, max_leaf_nodes=63, min_samples_leaf=5)
    source, _ = compiled_forest._source(model)
    nodes = sum(len(predictor.nodes) for (predictor,) in model._predictors)
    assert source.count("\n") <= 2 * nodes + 10, (source.count("\n"), nodes)
    forest = compile_forest(model)
    rows = unseen_and_missing(matrix[:500], mask)
    assert np.array_equal(forest.predict_proba(rows), model.predict_proba(rows)[:, 1], equal_nan=True)
