"""Tuning: TPE against random search (trials to reach the same score).

    .venv/bin/python benchmarks/tuning.py

On one training set (20k generated flights, the model's 15 inputs), the real tuner
(`cnai.components.training.tune.executor.tune_hyperparameters`, median stopping on) with the project's search space:
- for 3 seeds, TPE and random each run 24 trials; "trials to target" is the first trial at which
  the best score so far reaches the target (the median over all runs of the final best).
Local trials run one at a time (each fit on every core), so each seed's curve is the same in every run.
- one trial's staged scoring (a score every 50 rounds, what median stopping judges) on 100k
  generated flights, 250 rounds: `staged_scores` as it is, against a fit per stage (the warm start
  it replaced) and against one plain fit scored once, the least a trial can cost.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402
from serving import training_frame  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FEATURES = ["month", "day_of_week", "hour", "distance", "carrier", "origin", "dest", "temp", "dewp", "humid",
            "wind_speed", "wind_gust", "precip", "pressure", "visib"]
SEEDS = (1, 2, 3)
TRIALS = 24


def run(scratch: Path, tag: str, algorithm: str, trials: int, seed: int) -> tuple[list[float], float]:
    from cnai.components.training.tune.executor import tune_hyperparameters

    space = [p for p in yaml.safe_load((REPO / "cnai.yaml").read_text())["tuning"]["parameters"]]
    out = scratch / tag
    started = time.perf_counter()
    tune_hyperparameters(str(scratch / "training.parquet"), str(out / "t.md"), str(out / "m.json"), str(out / "p.html"),
                         FEATURES, "delayed", "time_hour", space, algorithm=algorithm, max_trials=trials,
                         seed=seed)
    wall = time.perf_counter() - started
    table = (out / "t.md").read_text().splitlines()
    header = [c.strip() for c in table[4].strip("|").split("|")]
    values = []
    for line in table[6:]:
        cells = dict(zip(header, [c.strip() for c in line.strip("|").split("|")], strict=False))
        values.append((int(cells["trial"]), float(cells["roc_auc"]) if cells["state"] == "complete" else float("nan")))
    scores = [v for _, v in sorted(values)]
    return scores, wall


def trials_to(scores: list[float], target: float) -> int | None:
    best = float("-inf")
    for index, value in enumerate(scores, start=1):
        if value == value:  # not NaN (pruned)
            best = max(best, value)
        if best >= target:
            return index
    return None


def staged_cost(rows: int = 100_000, rounds: int = 250) -> dict[str, float]:
    """Seconds of one trial's staged scoring, of a fit per stage, and of one fit (best of two each)."""
    from cnai.models.base import feature_kinds, model_input, predicted_scores, stages
    from cnai.models.kinds import model_kind
    from cnai.models.tuning import ROUNDS_PER_REPORT

    frame = training_frame(rows)
    fit, valid = frame.iloc[: rows * 4 // 5], frame.iloc[rows * 4 // 5:]
    categorical, numeric = feature_kinds(frame, FEATURES)
    kind = model_kind("hist_gradient_boosting")
    params = {"learning_rate": 0.05, "max_leaf_nodes": 63, "min_samples_leaf": 100, "max_iter": rounds,
              "early_stopping": False}  # every round, in all three
    X_fit, X_valid, y_fit = model_input(fit, FEATURES, categorical), model_input(valid, FEATURES, categorical), fit["delayed"].astype(int)

    def staged():
        list(kind.staged_scores(kind.build("binary", categorical, numeric, params, 0), "binary", X_fit, y_fit, X_valid,
                                rounds, ROUNDS_PER_REPORT))

    def fit_per_stage():
        estimator = kind.build("binary", categorical, numeric, params, 0)
        encoded, encoded_valid = estimator[0].fit_transform(X_fit), None
        model = estimator[-1].set_params(warm_start=True)
        encoded_valid = estimator[0].transform(X_valid)
        for stage in stages(rounds, ROUNDS_PER_REPORT):
            model.set_params(max_iter=stage).fit(encoded, y_fit)
            predicted_scores(model, "binary", encoded_valid)

    def one_fit():
        estimator = kind.build("binary", categorical, numeric, params, 0).fit(X_fit, y_fit)
        predicted_scores(estimator, "binary", X_valid)

    timed = {}
    for name, call in (("staged_scores_s", staged), ("fit_per_stage_s", fit_per_stage), ("one_fit_s", one_fit)):
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            call()
            runs.append(time.perf_counter() - started)
        timed[name] = round(min(runs), 2)
    return timed


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-tuning-"))
    training_frame(20_000)[[*FEATURES, "delayed", "time_hour"]].to_parquet(scratch / "training.parquet", index=False)
    curves = {(algorithm, seed): run(scratch, f"{algorithm}-{seed}", algorithm, TRIALS, seed)[0]
              for algorithm in ("tpe", "random") for seed in SEEDS}
    finals = [max(v for v in scores if v == v) for scores in curves.values()]
    target = statistics.median(finals)
    needed = {algorithm: [trials_to(curves[(algorithm, seed)], target) for seed in SEEDS] for algorithm in ("tpe", "random")}
    trial = staged_cost()
    results = {
        "one_trial_250_rounds_100k_rows": {**trial, "staged_over_one_fit": round(trial["staged_scores_s"] / trial["one_fit_s"], 2),
                                           "fit_per_stage_over_one_fit": round(trial["fit_per_stage_s"] / trial["one_fit_s"], 2)},
        "trials_per_run": TRIALS, "seeds": list(SEEDS), "target_roc_auc": round(target, 4),
        "trials_to_target": {k: [n if n is not None else f">{TRIALS}" for n in v] for k, v in needed.items()},
        "best_roc_auc": {f"{a}-{s}": round(max(v for v in c if v == v), 4) for (a, s), c in curves.items()},
    }
    report("tuning", "python benchmarks/tuning.py", results, {})
    print(json.dumps(results["trials_to_target"]))


if __name__ == "__main__":
    main()
