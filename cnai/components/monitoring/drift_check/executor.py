"""drift check: is what the model sees now still what it was trained on?

SciPy's tests decide, column by column (memory stays bounded at any row count): numeric features
by two-sample Kolmogorov–Smirnov on samples of at most `max_sample_rows` per side (the KS
statistic's sampling error is then below 1.36·sqrt(2/n) ≈ 0.0043 at n = 200,000) with the
Wasserstein distance reported, categorical features by chi-square on full category counts with
Cramér's V. With many rows any tiny difference is "significant", so a feature drifts only when the
p-value is below `p_value_threshold` and the effect (KS statistic or Cramér's V) reaches
`min_effect_size`. Prediction drift compares the production model's scores on both sides.
Evidently renders the HTML report on a small sample; it decides nothing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cnai.backends import registry
from cnai.core.artifacts import atomic_output, content_hash
from cnai.core.config import MonitoringConfig, default_of
from cnai.core.errors import DataError
from cnai.core.inference_log import PREDICTION_FIELD, VERSION_FIELD, read_inference_log
from cnai.models.saved import LoadedModel

log = logging.getLogger(__name__)


def resolve_reference(registry_uri: str, model_name: str, models_dir: str | Path) -> dict[str, str]:
    """The production version, its model files, and the training set its registration recorded."""
    version = registry.production_version(registry_uri, model_name)
    if version is None:
        raise DataError(f"{model_name}: no version in production in {registry_uri}; nothing to compare against")
    uri, recorded = version.tags.get("training_set_uri", ""), version.tags.get("training_set_hash", "")
    path = uri.removeprefix("file://")
    if uri and not uri.startswith("file://"):  # on a cluster: the object store KFP wrote it to
        from cnai.core.storage import copy_tree

        path = str(Path(models_dir) / f"v{version.version}-training_set")
        if not Path(path).exists():
            try:
                copy_tree(uri, path)
            except (OSError, FileNotFoundError) as error:
                raise DataError(f"{model_name} v{version.version}: its training set {uri} cannot be read: {error}") from error
    if not path or not Path(path).exists():
        raise DataError(f"{model_name} v{version.version}: its training set {uri or '(not recorded)'} is gone")
    if content_hash(path) != recorded:
        raise DataError(f"{model_name} v{version.version}: {path} changed since registration (hash {recorded[:19]} expected)")
    model_dir = registry.download_version(registry_uri, model_name, str(version.version), Path(models_dir) / f"v{version.version}")
    return {"version": str(version.version), "training_set": path, "model": str(model_dir)}


def prediction_figure(prediction: dict[str, Any]) -> str:
    """The prediction test by its own name: KS for scores and values, chi-square for classes."""
    name = "KS" if prediction.get("test") == "ks" else "chi-square"
    return f"{name} {prediction['statistic']:.3f} (p {prediction['p_value']:.3g})"


CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".zip", ".bz2")  # pandas reads these, compressed ones by their suffix


def load_current(current: str, columns: list[str], since: str = "") -> pd.DataFrame:
    """Current data: an inference log folder (JSON lines) or a Parquet/CSV dataset."""
    path = Path(current)
    if path.is_dir() and any(path.glob("inference-*.jsonl")):
        frame = newest_version_only(read_inference_log(path, since), current)
    elif path.is_file() and path.suffix in CSV_SUFFIXES:
        try:  # the separator as the file has it (a tab-separated export is common)
            frame = pd.read_csv(path, sep=None, engine="python")
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataError(f"{current}: cannot be read as a CSV table ({exc}); give CSV with a header line or Parquet") from exc
    elif path.exists():
        frame = pd.read_parquet(path)
    else:
        raise DataError(f"{current}: no such dataset or inference log")
    if frame.empty:
        raise DataError(f"{current}: no rows{f' since {since}' if since else ''} to check")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{current}: feature column(s) {missing} are missing")
    return frame


def newest_version_only(frame: pd.DataFrame, current: str) -> pd.DataFrame:
    """The logged rows the version serving last answered: the predictions of several versions mixed
    would drift by the swap alone, and an earlier version's rows lack a feature a later one added
    (a new user's monitoring read 77% of one feature missing). The rows left out are said."""
    if frame.empty or VERSION_FIELD not in frame or frame[VERSION_FIELD].nunique() < 2:
        return frame
    newest = frame[VERSION_FIELD].iloc[-1]
    kept = frame[frame[VERSION_FIELD] == newest].reset_index(drop=True)
    earlier = sorted(str(v) for v in frame[VERSION_FIELD].dropna().unique() if v != newest)
    log.warning("%s: %d logged row(s) of version(s) %s left out; checked the %d of version %s, which serves now",
                current, len(frame) - len(kept), ", ".join(earlier), len(kept), newest)
    return kept


def _sample(values: pd.Series, limit: int, rng: np.random.Generator) -> np.ndarray:
    values = values.dropna().to_numpy()
    return values if len(values) <= limit else rng.choice(values, limit, replace=False)


def numeric_drift(reference: pd.Series, current: pd.Series, limit: int, rng) -> dict[str, float]:
    ref, cur = _sample(reference.astype(float), limit, rng), _sample(current.astype(float), limit, rng)
    if len(ref) == 0 or len(cur) == 0:
        return {"test": "ks", "statistic": 1.0, "p_value": 0.0, "wasserstein_over_std": float("inf")}
    result = stats.ks_2samp(ref, cur)
    spread = float(np.std(ref)) or 1.0
    return {"test": "ks", "statistic": float(result.statistic), "p_value": float(result.pvalue),
            "wasserstein_over_std": float(stats.wasserstein_distance(ref, cur) / spread)}


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict[str, float]:
    # Counted first, turned into text after: only the distinct values are converted (a 1M-row
    # column to str first cost ~0.3 s a side).
    def counts_of(values: pd.Series, name: str) -> pd.Series:
        counted = values.value_counts(dropna=False)
        counted.index = ["<null>" if pd.isna(v) else str(v) for v in counted.index]
        return counted.groupby(level=0).sum().rename(name)  # 1 and "1" are one category

    counts = pd.concat([counts_of(reference, "reference"), counts_of(current, "current")], axis=1).fillna(0)
    if len(counts) < 2:
        return {"test": "chi2", "statistic": 0.0, "p_value": 1.0, "cramers_v": 0.0}
    chi2, p_value, _, _ = stats.chi2_contingency(counts.to_numpy().T)
    total = counts.to_numpy().sum()
    return {"test": "chi2", "statistic": float(chi2), "p_value": float(p_value),
            "cramers_v": float(np.sqrt(chi2 / total)), "new_categories": sorted(map(str, counts.index[counts["reference"] == 0]))}


def check_drift(
    current: str,
    reference: str,
    model: str,
    report: str,
    metrics: str,
    since: str = "",
    p_value_threshold: float = default_of(MonitoringConfig, "p_value_threshold"),
    min_effect_size: float = default_of(MonitoringConfig, "min_effect_size"),
    drift_share_threshold: float = default_of(MonitoringConfig, "drift_share_threshold"),
    min_rows: int = default_of(MonitoringConfig, "min_rows"),
    max_sample_rows: int = 200_000,
    report_sample_rows: int = 5_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare `current` with `reference` (the training set `model` came from): retrain or not?"""
    model_dir, model = model, LoadedModel(model)
    features = model.feature_columns
    current_frame = load_current(current, features, since)
    rng = np.random.default_rng(seed)
    per_feature, reference_columns = {}, {}
    for column in features:  # one column of the reference in memory at a time
        ref = pd.read_parquet(reference, columns=[column])[column]
        cur = current_frame[column]
        if pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref):
            result = numeric_drift(ref, pd.to_numeric(cur, errors="coerce"), max_sample_rows, rng)
        else:
            result = categorical_drift(ref, cur)
        effect = result.get("cramers_v", result["statistic"] if result["test"] == "ks" else 0.0)
        result["drifted"] = bool(result["p_value"] < p_value_threshold and effect >= min_effect_size)
        result["null_share_reference"], result["null_share_current"] = float(ref.isna().mean()), float(cur.isna().mean())
        per_feature[column] = result
        reference_columns[column] = ref.sample(min(report_sample_rows, len(ref)), random_state=seed).reset_index(drop=True)

    reference_sample = pd.DataFrame(reference_columns)
    reference_scores = model.drift_signal(model.scores(reference_sample))
    if PREDICTION_FIELD in current_frame:  # the inference log recorded what was served
        current_scores = current_frame[PREDICTION_FIELD].to_numpy(dtype=float)
    else:  # scoring a bounded sample decides the KS test as well as scoring every row
        scored = current_frame.sample(min(max_sample_rows, len(current_frame)), random_state=seed)
        try:
            current_scores = model.drift_signal(model.scores(scored))
        except DataError as error:
            raise DataError(f"{current}: {error}") from error
    if model.task == "multiclass":  # the predicted classes' shares
        prediction = categorical_drift(pd.Series(reference_scores).astype(int).astype(str),
                                       pd.Series(current_scores).astype(int).astype(str))
        effect = prediction.get("cramers_v", 0.0)
    else:
        prediction = numeric_drift(pd.Series(reference_scores), pd.Series(current_scores), max_sample_rows, rng)
        effect = prediction["statistic"]
    prediction["drifted"] = bool(prediction["p_value"] < p_value_threshold and effect >= min_effect_size)

    drifted = sorted(c for c, r in per_feature.items() if r["drifted"])
    share = len(drifted) / len(per_feature)
    # A handful of requests (one unknown category in four rows) would otherwise retrain the model.
    too_few_rows = len(current_frame) < min_rows
    detected = not too_few_rows and (share >= drift_share_threshold or prediction["drifted"])
    summary = {
        "drift_detected": detected, "too_few_rows": too_few_rows, "min_rows": min_rows, "drifted_features": drifted, "drift_share": share,
        "prediction_drift": prediction, "features": per_feature, "current_rows": len(current_frame),
        "reference": {"training_set": reference, "model": model_dir, }, "thresholds": {"p_value": p_value_threshold, "min_effect_size": min_effect_size,
                                                    "drift_share": drift_share_threshold},
    }
    with atomic_output(metrics) as staging:
        staging.write_text(json.dumps(summary, indent=2, default=str))
    current_sample = current_frame[features].sample(min(report_sample_rows, len(current_frame)), random_state=seed)
    with atomic_output(report) as staging:
        staging.write_text(render_report(reference_sample, current_sample.reset_index(drop=True), summary))
    log.warning("%s (%d of %d features drifted; prediction %s)",
                f"too few rows to judge ({len(current_frame)} < monitoring.min_rows {min_rows})" if too_few_rows
                else "drift detected" if detected else "no drift", len(drifted), len(per_feature), prediction_figure(prediction))
    return {
        "drift_detected": detected,
        "too_few_rows": too_few_rows,
        "min_rows": min_rows,
        "drifted_features": drifted,
        "drift_share": share,
        "features_checked": len(per_feature),
        "drift_share_threshold": drift_share_threshold,
        # KS for a score or a value, chi-square for a multiclass model's predicted classes
        "prediction_statistic": prediction["statistic"],
        "prediction_test": prediction["test"],
        "prediction_drifted": prediction["drifted"],
        "current_rows": len(current_frame),
        "output_metadata": {"metrics": {"drift_detected": int(detected), "drift_share": share,
                                        "drifted_features": len(drifted), "prediction_statistic": prediction["statistic"],
                                        "current_rows": len(current_frame)}},
    }


def render_report(reference: pd.DataFrame, current: pd.DataFrame, summary: dict[str, Any]) -> str:
    """SciPy's verdict first, then Evidently's data drift report on the samples."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    rows = "".join(
        f"<tr><td>{c}</td><td>{r['test']}</td><td>{r['statistic']:.4g}</td><td>{r['p_value']:.3g}</td>"
        f"<td>{'<b>drift</b>' if r['drifted'] else 'ok'}</td></tr>"
        for c, r in summary["features"].items()
    )
    verdict = ("DRIFT DETECTED" if summary["drift_detected"] else
               f"too few rows to judge (fewer than {summary['min_rows']})" if summary.get("too_few_rows") else "no drift")
    head = (
        f"<h1>Drift check: {verdict}</h1><p>{len(summary['drifted_features'])} of {len(summary['features'])} features "
        f"drifted ({summary['drift_share']:.0%}); prediction {prediction_figure(summary['prediction_drift'])}; "
        f"{summary['current_rows']} current rows vs {summary['reference']['training_set']}.</p>"
        f"<table border=1><tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th><th>verdict</th></tr>{rows}</table>"
        "<h2>Evidently data drift report (samples; SciPy's verdict above decides)</h2>"
    )
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        with tempfile.TemporaryDirectory() as scratch:
            Report([DataDriftPreset()]).run(current_data=current, reference_data=reference).save_html(f"{scratch}/r.html")
            evidently_html = Path(scratch, "r.html").read_text()
    except Exception as exc:  # the verdict stands without the picture; say why it is missing
        log.error("Evidently could not render the report: %s", exc)
        evidently_html = f"<p>Evidently report unavailable: {exc}</p>"
    return evidently_html.replace("<body>", "<body>" + head, 1) if "<body>" in evidently_html else head + evidently_html
