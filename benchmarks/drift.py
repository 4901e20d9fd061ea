"""Drift check at scale: 1M reference rows against 1M current rows, 20 features.

    .venv/bin/python benchmarks/drift.py                 # BENCH_ROWS=1000000 by default

The real `cnai.components.monitoring.drift_check.executor.check_drift` (per-column SciPy tests on bounded samples, chi-square on
full categorical counts, KS on the model's predictions, Evidently's report on a sample) in a fresh
process, so its peak memory is its own. Baseline in the same run: reading both tables.
Target (issue 6): <= 10 s.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure_in_subprocess, report  # noqa: E402
from serving import training_frame  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
FEATURES = ["month", "day_of_week", "hour", "distance", "carrier", "origin", "dest", "temp", "dewp", "humid",
            "wind_speed", "wind_gust", "precip", "pressure", "visib", "dep_time", "sched_dep_time", "sched_arr_time",
            "air_time", "minute"]


def frames(scratch: Path) -> None:
    from examples.flights.generate import generate

    reference = training_frame(ROWS)
    reference[[*FEATURES, "delayed", "time_hour"]].to_parquet(scratch / "reference.parquet", index=False)
    flights, weather = generate(ROWS, seed=99, drift=0.4)
    current = flights.merge(weather, on=["origin", "time_hour"], how="left", suffixes=("", "_w"))
    current["day_of_week"] = current["time_hour"].dt.dayofweek + 1
    current[FEATURES].to_parquet(scratch / "current.parquet", index=False)
    from cnai.components.training.train.executor import train_model

    reference.head(20_000)[[*FEATURES, "delayed", "time_hour"]].to_parquet(scratch / "small.parquet", index=False)
    paths = {n: str(scratch / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(str(scratch / "small.parquet"), feature_columns=FEATURES, label="delayed", timestamp="time_hour",
                params={"max_iter": 50}, **paths)


CHECK = r'''
import time
import pandas as pd
scratch = {scratch!r}
started = time.perf_counter()
pd.read_parquet(scratch + "/reference.parquet"); pd.read_parquet(scratch + "/current.parquet")
read_s = time.perf_counter() - started
from cnai.components.monitoring.drift_check.executor import check_drift
started = time.perf_counter()
facts = check_drift(scratch + "/current.parquet", scratch + "/reference.parquet", scratch + "/model",
                    scratch + "/report.html", scratch + "/metrics.json")
check_s = time.perf_counter() - started
print(json.dumps({{"read_both_s": round(read_s, 2), "check_s": round(check_s, 2), "drift_detected": facts["drift_detected"],
                  "drifted_features": len(facts["drifted_features"]),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}}))
'''


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-drift-"))
    frames(scratch)
    results = {"rows_each_side": ROWS, "features": len(FEATURES),
               **measure_in_subprocess(CHECK.format(scratch=str(scratch)))}
    results["check_vs_reading"] = round(results["check_s"] / results["read_both_s"], 1)
    report("drift", f"BENCH_ROWS={ROWS} python benchmarks/drift.py", results, {"check_s": "<= 10"})


if __name__ == "__main__":
    main()
