"""evaluate: the gate. A candidate is deployed only if it beats production on the same holdout."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.backends import registry
from cnai.backends.local.deployment import served_version
from cnai.core.artifacts import atomic_output
from cnai.core.errors import DataError, RegistryError
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
) -> dict[str, Any]:
    """Score candidate and production on `holdout`; decide, and say why."""
    frame = pd.read_parquet(holdout)
    candidate = LoadedModel(model)
    label, task = candidate.meta["label"], candidate.task
    y_true = encode_labels(frame[label], candidate.classes, holdout, label)
    candidate_score = score(task, metric, y_true, candidate.scores(frame))
    higher_better = higher_is_better(metric)

    production = registry.production_version(registry_uri, model_name)
    production_score = None
    if production is None and (live := served_version(model_name)):
        raise RegistryError(
            f"registry {registry_uri} has no production version of {model_name}, yet the local model server "
            f"(pid {live['pid']}) serves its v{live['version']}: the registry was replaced or emptied, and a first "
            "model would replace the serving one without a comparison. Restore the registry file, or run "
            "`cnai stop` to retire that server and start over with this registry")
    if production is None:
        deploy = candidate_score >= minimum_for_first_model if higher_better else candidate_score <= minimum_for_first_model
        bar = ("no minimum is set (evaluation.minimum_for_first_model)" if abs(minimum_for_first_model) >= NO_MINIMUM
               else f"{'meets' if deploy else 'misses'} the minimum {minimum_for_first_model}")
        reason = f"no model in production; candidate {metric}={candidate_score:.4f}: {bar}"
    else:
        with tempfile.TemporaryDirectory() as scratch:
            local = registry.download_version(registry_uri, model_name, production.version, Path(scratch) / "production")
            production_model = LoadedModel(local)
            if production_model.task != task or production_model.classes != candidate.classes:
                raise DataError(f"production v{production.version} is a {production_model.task} model of classes "
                                f"{production_model.classes}; the candidate is {task} of {candidate.classes}: "
                                "they cannot be compared (register it under another settings.model_name)")
            production_y = encode_labels(frame[label], production_model.classes, holdout, label)
            production_score = score(task, metric, production_y, production_model.scores(frame))
        gain = (candidate_score - production_score) if higher_better else (production_score - candidate_score)
        deploy = gain > min_improvement
        reason = (
            f"candidate {metric}={candidate_score:.4f} vs production v{production.version} {production_score:.4f}: "
            f"{'better' if deploy else 'not better'} by {gain:+.4f} (needs > {min_improvement})"
        )
    with atomic_output(comparison) as staging:
        staging.write_text(_markdown(metric, candidate_score, production, production_score, deploy, reason, len(frame)))
    return {
        "deploy": bool(deploy),
        "reason": reason,
        "metric": metric,
        "candidate_score": candidate_score,
        "production_score": production_score,
        "production_version": str(production.version) if production else None,
        "output_metadata": {"comparison": {"deploy": bool(deploy), "reason": reason}},
    }


def _markdown(metric, candidate_score, production, production_score, deploy, reason, rows) -> str:
    production_cell = f"v{production.version}: {production_score:.4f}" if production else "none"
    return (
        f"# Evaluation gate: {'DEPLOY' if deploy else 'KEEP PRODUCTION'}\n\n"
        f"| model | {metric} on the same holdout ({rows} rows) |\n|---|---|\n"
        f"| candidate | {candidate_score:.4f} |\n| production | {production_cell} |\n\n{reason}\n"
    )
