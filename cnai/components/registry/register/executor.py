"""register: a new, immutable model version with metrics, parameters, data hashes and carbon."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cnai.backends import registry
from cnai.core.artifacts import atomic_output, content_hash, portable_uri


def register_model(
    model: str,
    training_set: str,
    evaluation: str,
    model_card: str,
    registry_uri: str,
    model_name: str,
    deploy_decision: bool = False,
    upstream_metadata: dict[str, dict] | None = None,
    artifact_uris: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Register `model` unless this exact model file is already a version (then reuse that one).

    On a cluster the artifacts' object-store URIs are recorded (the registry and KServe can reach
    those); locally their file URIs.
    """
    upstream = upstream_metadata or {}
    uris = artifact_uris or {}
    decision_reason = str(upstream.get("evaluation", {}).get("reason", ""))
    model_hash = content_hash(model)
    meta = json.loads((Path(model) / "model_meta.json").read_text())
    carbon = {name: (md.get("carbon") or {}) for name, md in upstream.items() if md.get("carbon")}
    energy = sum(c.get("energy_kwh", 0.0) for c in carbon.values())
    emissions = sum(c.get("emissions_kg_co2eq", 0.0) for c in carbon.values())
    tags = {
        "training_set_hash": content_hash(training_set),
        "training_set_uri": portable_uri(uris.get("training_set", training_set)),
        "evaluation.deploy": str(bool(deploy_decision)).lower(),
        "evaluation.reason": decision_reason[:4000],
        "carbon.energy_kwh": f"{energy:.6g}",
        "carbon.emissions_kg_co2eq": f"{emissions:.6g}",
        "carbon.steps": ",".join(sorted(carbon)),
        "model.kind": str(meta.get("kind", "")),
        "serving_format": str(meta.get("serving_format", "")),
        "task": str(meta.get("task", "")),
        # The pipeline run this version came from: its MLflow run nests this one (record_pipeline_run).
        "cnai.pipeline_run_id": os.environ.get("CNAI_PIPELINE_RUN_ID", ""),
    }
    existing = registry.find_version(registry_uri, model_name, model_hash)
    version = existing or registry.register_version(
        registry_uri, model_name, model, model_hash, meta.get("params", {}), meta.get("holdout_scores", {}), tags,
        description=f"{model_name} trained on {tags['training_set_hash'][:19]}; {decision_reason}",
        model_uri=portable_uri(uris.get("model", model)),
    )
    described = registry.describe(version)
    with atomic_output(model_card) as staging:
        staging.write_text(_model_card(described, meta, tags, reused=existing is not None))
    return {
        "version": str(version.version),
        "model_hash": model_hash,
        "reused_existing_version": existing is not None,
        "output_metadata": {"model_card": {"registered_model": model_name, "version": str(version.version), "source": version.source}},
    }


def _model_card(version: dict, meta: dict, tags: dict, reused: bool) -> str:
    scores = "\n".join(f"| {k} | {v} |" for k, v in meta.get("holdout_scores", {}).items())
    # Tuners hand every number over as a float; the estimator took whole ones as ints (ModelKind.cast).
    params = "\n".join(f"| {k} | {int(v) if isinstance(v, float) and v.is_integer() else v} |"
                       for k, v in meta.get("params", {}).items())
    if meta.get("rounds_fitted") is not None:  # the stage parameter (max_iter) is a bound when a fit stops early
        params += f"\n| rounds fitted | {meta['rounds_fitted']} |"
    until = f" up to {meta['trained_until']}" if meta.get("trained_until") else (
        f" (a {meta['split']} split)" if meta.get("split") else "")
    return (
        f"# Model card: {version['name']} v{version['version']}\n\n"
        f"{'Already registered: this exact model file is this version.' if reused else 'Newly registered.'}\n\n"
        f"- Source: `{version['source']}`\n- Training set: `{tags['training_set_uri']}` ({tags['training_set_hash']})\n"
        f"- Trained on {meta.get('trained_rows')} rows{until}\n"
        + _sample_line(meta.get("training_sample") or {})
        + f"- Features: {', '.join(meta.get('feature_columns', []))}\n- Label: {meta.get('label')}\n"
        f"- Carbon (steps {tags['carbon.steps']}): {tags['carbon.energy_kwh']} kWh, {tags['carbon.emissions_kg_co2eq']} kg CO2eq\n"
        f"- Gate: deploy={tags['evaluation.deploy']}: {tags['evaluation.reason']}\n\n"
        f"## Holdout metrics\n\n| metric | value |\n|---|---|\n{scores}\n\n"
        f"## Parameters\n\n| parameter | value |\n|---|---|\n{params}\n"
    )


def _sample_line(sample: dict) -> str:
    """What the model was fit on when the training set was larger than `model.max_training_rows`."""
    if not sample or sample.get("sampled_rows") == sample.get("rows"):
        return ""
    how = "stratified by class" if sample.get("stratified") else "uniform"
    return (f"- Training sample: {sample['sampled_rows']:,} of the training set's {sample['rows']:,} rows "
            f"({how}, seed {sample['seed']}; `model.max_training_rows`)\n")
