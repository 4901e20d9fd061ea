"""evaluate: the gate. A candidate is deployed only if it beats production on held-out rows neither trained on."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnai.backends import registry
from cnai.backends.local.deployment import served_version
from cnai.core.artifacts import atomic_output
from cnai.core.errors import DataError, RegistryError
from cnai.core.splits import check_holdout, few_rows_warning, unseen_rows
from cnai.core.tasks import NO_MINIMUM, encode_labels, higher_is_better, score
from cnai.models.saved import LoadedModel


def evaluate_candidate(
    model: str,
    holdout: str,
    comparison: str,
    registry_uri: str,
    model_name: str,
    metric: str,
    min_improvement: float,
    minimum_for_first_model: float,
    limit_rows: int = 0,
) -> dict[str, Any]:
    """Score candidate and production on the holdout rows neither trained on; decide, and say why."""
    frame = pd.read_parquet(holdout)
    candidate = LoadedModel(model)
    task = candidate.task
    higher_better = higher_is_better(metric)

    production = registry.production_version(registry_uri, model_name)
    production_score, judged = None, frame
    if production is None and (live := served_version(model_name)):
        raise RegistryError(
            f"registry {registry_uri} has no production version of {model_name}, yet the local model server "
            f"(pid {live['pid']}) serves its v{live['version']}: the registry was replaced or emptied, and a first "
            "model would replace the serving one without a comparison. Restore the registry file, or run "
            "`cnai stop` to retire that server and start over with this registry")
    if production is None:
        rows = f"all {len(frame)} held-out rows"
        candidate_score = _score(candidate, frame, metric, holdout)
        deploy = candidate_score >= minimum_for_first_model if higher_better else candidate_score <= minimum_for_first_model
        bar = ("no minimum is set (evaluation.minimum_for_first_model)" if abs(minimum_for_first_model) >= NO_MINIMUM
               else f"{'meets' if deploy else 'misses'} the minimum {minimum_for_first_model}")
        reason = f"no model in production; candidate {metric}={candidate_score:.4f}: {bar}"
        baseline = _constant_baseline(candidate, frame, metric, holdout)
        if not (candidate_score > baseline if higher_better else candidate_score < baseline):
            # First: the step table shows the start of the reason.
            reason = (f"WARNING: no better than a constant guess ({metric} {baseline:.4f} for the held-out rows' "
                      f"{'mean' if task == 'regression' else 'class shares'} on every row); {reason}"
                      + ("; set evaluation.minimum_for_first_model to keep such a model out"
                         if abs(minimum_for_first_model) >= NO_MINIMUM else ""))
    else:
        with tempfile.TemporaryDirectory() as scratch:
            local = registry.download_version(registry_uri, model_name, production.version, Path(scratch) / "production")
            production_model = LoadedModel(local)
            if production_model.task != task or production_model.classes != candidate.classes:
                raise DataError(f"production v{production.version} is a {production_model.task} model of classes "
                                f"{production_model.classes}; the candidate is {task} of {candidate.classes}: "
                                "they cannot be compared (register it under another settings.model_name)")
            lacking = [c for c in production_model.feature_columns if c not in frame.columns]
            if lacking:  # the features changed since production trained: it cannot score these rows at all
                candidate_score, rows = _score(candidate, frame, metric, holdout), f"all {len(frame)} held-out rows"
                deploy, reason = False, (
                    f"kept production v{production.version}: it cannot be compared with the candidate, whose rows "
                    f"lack feature(s) {lacking} production takes (the features changed since it trained); the "
                    f"candidate scores {metric}={candidate_score:.4f} on its {len(frame)} held-out rows. {BY_HAND}")
            else:
                compared, rows, how = _unseen_by_both(frame, candidate, production_model, production.version)
                try:
                    candidate_score = _score(candidate, compared, metric, holdout)
                    production_score = _score(production_model, compared, metric, holdout)
                    judged = compared
                except DataError as error:
                    candidate_score = _score(candidate, frame, metric, holdout)
                    why = "no row is left to judge on" if compared.empty else f"too few to judge a model ({error})"
                    remedy = ("A run on the first rows only (--sample-rows) does not replace a production model trained on "
                              "more: run on every row"
                              if limit_rows else "Train on data newer than production's, or keep data.split and the seed "
                              "as production had them")
                    deploy, reason = False, (
                        f"kept production v{production.version}: no fair comparison. Of the candidate's {len(frame)} "
                        f"held-out rows, {len(compared)} are rows production did not train on ({how}): {why}. {remedy}. "
                        + BY_HAND)
        if production_score is not None:
            gain = (candidate_score - production_score) if higher_better else (production_score - candidate_score)
            deploy = gain > min_improvement
            # Four decimals would show a gain of 0.00002 as "+0.0000 (needs > 0.0)".
            shown_gain = f"{gain:+.4f}" if abs(gain) >= 5e-5 or gain == 0 else f"{gain:+.2g}"
            reason = (
                f"candidate {metric}={candidate_score:.4f} vs production v{production.version} {production_score:.4f} "
                f"on {rows}: {'better' if deploy else 'not better'} by {shown_gain} (needs > {min_improvement})"
            )
            fewer = limit_rows and candidate.meta.get("trained_rows", 0) < production_model.meta.get("trained_rows", 0)
            if deploy and fewer:
                deploy = False
                reason = (f"kept production v{production.version}: this run read only the first {limit_rows} events "
                          f"(--sample-rows or settings.sample_rows) and trained on {candidate.meta['trained_rows']} rows, "
                          f"production on {production_model.meta['trained_rows']}: a quick run does not replace it "
                          f"(`cnai serve --version` makes a registered version production by hand); {reason}")
    few = few_rows_warning(judged[candidate.meta["label"]], task != "regression")
    if _perfect(metric, candidate_score) and not few:  # on a few rows a perfect score is as likely chance
        meta = candidate.meta
        if alone := _determining(judged, meta["feature_columns"], meta["label"], task):
            reason = (f"WARNING: a perfect {metric} on held-out rows, and {', '.join(map(repr, alone))} alone "
                      f"determine{'s' if len(alone) == 1 else ''} the label there: a leak if known only with the label "
                      f"(then drop it from data.features); {reason}")
        else:  # iris' species from its measurements: no one column gives it away
            reason = (f"a perfect {metric} on held-out rows, and no single feature determines the label there (by its "
                      f"values, or which are missing): data that separate cleanly score so, from several features "
                      f"together; if a feature is known only with the label, drop it from data.features; {reason}")
    if few:
        reason = f"{few}; {reason}"  # first: the step table shows the start of the reason
    with atomic_output(comparison) as staging:
        staging.write_text(_markdown(metric, candidate_score, production, production_score, deploy, reason, rows))
    return {
        "deploy": bool(deploy),
        "reason": reason,
        "metric": metric,
        "candidate_score": candidate_score,
        "production_score": production_score,
        "production_version": str(production.version) if production else None,
        "compared_rows": rows,
        "output_metadata": {"comparison": {"deploy": bool(deploy), "reason": reason}},
    }


# The way past a gate that cannot compare (README: "cnai serve --version N"); evaluate runs before
# register, so the candidate's version number is not known here.
BY_HAND = ("To serve the candidate anyway, make it production by hand: `cnai serve --version N`, N being the version "
           "the register step gives it (the step table's register line)")


def _determining(frame: pd.DataFrame, features: list[str], label: str, task: str) -> list[str]:
    """The features that give the label away on `frame` by themselves: a class (or a value) per
    category of a column of fewer categories than half the rows, or, for a number, classes that one
    threshold per class separates (a regression label that rises or falls with it, exactly)."""
    found = []
    for column in (c for c in features if c in frame.columns):
        pair = frame[[column, label]].dropna(subset=[label])
        if pair.empty:
            continue
        values = pair[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if values.isna().any():  # a value's absence gives the answer away as well (a refund only where it was paid)
            if numeric:
                values = values.fillna((values.min() - 1) if values.notna().any() else 0.0)
            else:
                values = values.astype(object).where(values.notna(), MISSING)
            pair = pair.assign(**{column: values})
        if numeric:
            if task == "regression":
                if pair[label].nunique() > 1 and abs(values.rank().corr(pair[label].rank())) >= 0.9999:
                    found.append(column)
                continue
            by_value = pair.groupby(column, sort=True)[label]
            if (by_value.nunique() == 1).all():  # a class per value, in runs along the number: one run per class
                in_order = by_value.first()
                if (in_order != in_order.shift()).sum() == in_order.nunique():
                    found.append(column)
        elif values.nunique() * 2 <= len(pair) and (pair.groupby(column, observed=True)[label].nunique() == 1).all():
            found.append(column)
    return found


MISSING = "<missing>"  # a text feature's missing value, as a category of its own for _determining


def _perfect(metric: str, value: float) -> bool:
    """A score no honest model of real data reaches: every ranking or class right (scores of at most
    1), or next to no loss at all."""
    return value >= 0.9999 if higher_is_better(metric) else (value <= 1e-3 if metric == "log_loss" else value <= 1e-9)


def _score(model: LoadedModel, frame: pd.DataFrame, metric: str, holdout: str) -> float:
    label = model.meta["label"]
    y_true = encode_labels(frame[label], model.classes, holdout, label)
    check_holdout(y_true, model.classes, label, holdout)
    return score(model.task, metric, y_true, model.scores(frame))


def _constant_baseline(model: LoadedModel, frame: pd.DataFrame, metric: str, holdout: str) -> float:
    """What the same rows score given one answer for all: their label's mean (regression) or class
    shares (a probability per class); a model no better than that has learnt nothing from the features."""
    label = model.meta["label"]
    y_true = encode_labels(frame[label], model.classes, holdout, label)
    if model.task == "regression":
        guess = np.full(len(y_true), float(np.mean(y_true)))
    else:
        shares = np.bincount(np.asarray(y_true, dtype=int), minlength=len(model.classes)) / len(y_true)
        guess = np.full(len(y_true), shares[1]) if model.task == "binary" else np.tile(shares, (len(y_true), 1))
    return score(model.task, metric, y_true, guess)


def _unseen_by_both(frame: pd.DataFrame, candidate: LoadedModel, production: LoadedModel,
                    version: str) -> tuple[pd.DataFrame, str, str]:
    """The held-out rows neither model trained on (a model scored on its own training rows looks
    better than it is), a phrase saying which they are, and how production's were told."""
    candidate_mask, _ = unseen_rows(candidate.meta.get("split_identity"), frame, candidate.held_out_rows())
    production_mask, how = unseen_rows(production.meta.get("split_identity"), frame, production.held_out_rows())
    keep = np.ones(len(frame), dtype=bool) if candidate_mask is None else candidate_mask
    if production_mask is None:
        return frame[keep], (f"{int(keep.sum())} rows; production v{version} may have trained on some of them "
                             f"({how}), so it may look better than it is"), f"as far as can be told: {how}"
    keep &= production_mask
    return frame[keep], f"the {int(keep.sum())} rows neither model trained on (for production v{version}: {how})", how


def _markdown(metric, candidate_score, production, production_score, deploy, reason, rows) -> str:
    production_cell = f"v{production.version}: {production_score:.4f}" if production and production_score is not None else (
        f"v{production.version}: not compared" if production else "none")
    return (
        f"# Evaluation gate: {'DEPLOY' if deploy else 'KEEP PRODUCTION'}\n\n"
        f"Compared on {rows}.\n\n"
        f"| model | {metric} |\n|---|---|\n"
        f"| candidate | {candidate_score:.4f} |\n| production | {production_cell} |\n\n{reason}\n"
    )
