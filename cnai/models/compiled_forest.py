"""A fitted binary HistGradientBoostingClassifier written out as one Python function.

scikit-learn scores a forest one tree at a time, each a call into Cython behind its own input
checks, which dominates for a single row. The same trees written out as nested `if`s (treelite's
approach, in Python rather than C) score a row far faster (BENCHMARKS.md, serving). The numbers are
scikit-learn's own, bit for bit: the same comparisons, missing values and unseen categories sent
the same way, leaves summed in the same order from the same baseline, the same link function.

It reads scikit-learn's fitted internals, which are not a public API; `compile_forest` therefore
scores probe rows built from the model's own thresholds and categories both ways at load time and
returns None (the caller keeps scikit-learn) if a single number differs.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

PROBE_ROWS = 512


class CompiledForest:
    """`predict_proba(matrix)`: the positive class's probability, as the classifier gives it for
    the same matrix (the one its `predict_proba` takes: categories as the codes it was fitted on)."""

    def __init__(self, source: str, constants: dict[str, frozenset], link_inverse) -> None:
        self.source = source
        namespace: dict = {**constants, "inf": math.inf}  # a threshold can be repr'd as inf or -inf
        exec(compile(source, "<compiled forest>", "exec"), namespace)  # noqa: S102 - our own generated code
        self.raw_score = namespace["raw_score"]
        self._link_inverse = link_inverse

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return self.predict_proba_rows(np.asarray(matrix, dtype=float).tolist())

    def predict_proba_rows(self, rows: list[list[float]]) -> np.ndarray:
        """The same for rows as lists of floats (no matrix to build for a single request)."""
        return self._link_inverse(np.array([self.raw_score(row) for row in rows], dtype=float))


def compile_forest(classifier) -> CompiledForest | None:
    """The classifier as a CompiledForest, or None if it is not one this module can write out
    exactly (multi-class, a scikit-learn whose internals moved) — checked on probe rows."""
    try:
        source, constants = _source(classifier)
        forest = CompiledForest(source, constants, classifier._loss.link.inverse)  # what predict_proba's column 1 is
        probe = _probe_rows(classifier)
        agrees = np.array_equal(forest.predict_proba(probe), classifier.predict_proba(probe)[:, 1], equal_nan=True)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, scikit-learn itself still scores the model
        # e.g. SyntaxError: Python allows 100 levels of indentation, so trees deeper than ~98 stay in scikit-learn.
        log.warning("scoring with scikit-learn: the model could not be compiled (%r)", exc)
        return None
    if not agrees:
        log.warning("scoring with scikit-learn: the compiled model disagreed with it on probe rows")
        return None
    return forest


def _source(classifier) -> tuple[str, dict[str, frozenset]]:
    if classifier.n_trees_per_iteration_ != 1:
        raise ValueError("only binary classifiers are compiled")
    input_column, category_values = _input_layout(classifier)
    known_bitsets, known_index = classifier._bin_mapper.make_known_categories_bitsets()
    constants: dict[str, frozenset] = {}
    # The row's values unpacked into locals once: a local is a fast load, `x[i]` a subscript at
    # every node on the path (~700 a row for 100 trees), which was half the scoring time.
    names = ", ".join(f"x{column}" for column in range(classifier.n_features_in_))
    lines = ["def raw_score(x):", f"    {names}, = x",
             f"    total = {float(classifier._baseline_prediction.ravel()[0])!r}"]

    def write(tree: int, nodes, left_bitsets, index: int, depth: int) -> None:
        node, pad = nodes[index], "    " * depth
        if node["is_leaf"]:
            lines.append(f"{pad}total += {float(node['value'])!r}")
            return
        feature = int(node["feature_idx"])
        value = f"x{input_column[feature]}"
        missing_side = int(node["left"] if node["missing_go_to_left"] else node["right"])
        if node["is_categorical"]:
            # The model's internal category numbers, turned back into the values it was given;
            # anything else (missing, never seen) goes the missing-value way, as in scikit-learn.
            values = category_values[feature]
            left = {values[c] for c in _bits(left_bitsets[node["bitset_idx"]]) if c < len(values)}
            known = {values[c] for c in _bits(known_bitsets[known_index[feature]]) if c < len(values)}
            # One test, each subtree written once: the side missing values take gets every value
            # the other side's set does not hold (writing that subtree out a third time, for
            # missing, made code size grow with depth: 14,000 nodes became 2 million lines).
            other_side, other_values = ("right", known - left) if missing_side == int(node["left"]) else ("left", left)
            name = f"{other_side.upper()}_{tree}_{index}"
            constants[name] = frozenset(other_values)
            lines.append(f"{pad}if {value} in {name}:")
            write(tree, nodes, left_bitsets, int(node[other_side]), depth + 1)
            lines.append(f"{pad}else:")
            write(tree, nodes, left_bitsets, missing_side, depth + 1)
        else:
            threshold = float(node["num_threshold"])
            # NaN fails every comparison: `not x > t` sends it left, `x <= t` sends it right.
            test = f"not {value} > {threshold!r}" if node["missing_go_to_left"] else f"{value} <= {threshold!r}"
            lines.append(f"{pad}if {test}:")
            write(tree, nodes, left_bitsets, int(node["left"]), depth + 1)
            lines.append(f"{pad}else:")
            write(tree, nodes, left_bitsets, int(node["right"]), depth + 1)

    for tree, (predictor,) in enumerate(classifier._predictors):
        write(tree, predictor.nodes, predictor.raw_left_cat_bitsets, 0, 1)
    lines.append("    return total")
    return "\n".join(lines) + "\n", constants


def _input_layout(classifier) -> tuple[list[int], dict[int, list[float]]]:
    """For each feature the trees split on: the input column it comes from, and for categorical
    ones the input value behind each internal category number. scikit-learn's own preprocessing
    puts categorical columns first and numbers categories in sorted order of the values seen."""
    n_features = classifier.n_features_in_
    preprocessor = getattr(classifier, "_preprocessor", None)
    if preprocessor is None:
        return list(range(n_features)), {}
    categorical = np.asarray(classifier.is_categorical_, dtype=bool)
    input_column = [int(i) for i in np.flatnonzero(categorical)] + [int(i) for i in np.flatnonzero(~categorical)]
    encoder = preprocessor.named_transformers_["encoder"]
    # A missing value is one of the encoder's categories_ but never gets a number (it stays NaN).
    category_values = {internal: [float(v) for v in values] for internal, values in enumerate(encoder.categories_)}
    return input_column, category_values


def _bits(bitset) -> list[int]:
    return [c for c in range(32 * len(bitset)) if (int(bitset[c >> 5]) >> (c & 31)) & 1]


def _probe_rows(classifier) -> np.ndarray:
    """Rows that reach every kind of branch: values at, just below and just above each threshold,
    every known category and an unseen one, and missing values in every column."""
    input_column, category_values = _input_layout(classifier)
    candidates: list[set[float]] = [{math.nan} for _ in range(classifier.n_features_in_)]
    for (predictor,) in classifier._predictors:
        for node in predictor.nodes[predictor.nodes["is_leaf"] == 0]:
            feature = int(node["feature_idx"])
            if not node["is_categorical"]:
                t = float(node["num_threshold"])
                candidates[input_column[feature]].update({t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)})
    for feature, values in category_values.items():
        seen = [v for v in values if not math.isnan(v)]
        candidates[input_column[feature]].update(seen + [max(seen, default=0.0) + 1.0, -1.0])
    rng = np.random.default_rng(0)
    columns = [rng.choice(np.array(sorted(c, key=lambda v: (math.isnan(v), v))), PROBE_ROWS) for c in candidates]
    return np.column_stack(columns)
