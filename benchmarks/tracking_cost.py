"""Tracking cost: what `cnai.core.tracking.run_step` (codecarbon + OpenLineage + content hashes) adds to a step.

    .venv/bin/python benchmarks/tracking_cost.py

Measured in one process: a step that does nothing (the fixed cost: carbon meter, two lineage
events), then the validate step on 100k generated flights run plainly and through run_step (the
cost relative to real work, hashes of its inputs and outputs included).
Targets (issue 6): <= 0.3 s and <= 2% of the step's time.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 100_000))
REPEAT = 9


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-tracking-"))
    os.environ["CNAI_HOME"] = str(scratch / "home")
    from cnai.components.data.validate.executor import validate_dataset
    from cnai.core.artifacts import content_hash
    from cnai.core.tracking import LocalArtifact, run_step
    from examples.flights.generate import generate

    results: dict = {"rows": ROWS}
    # First step of a run directory pays codecarbon's CPU detection once; later steps reuse it.
    started = time.perf_counter()
    run_step("noop", lambda: {}, params={})
    results["first_step_fixed_s"] = round(time.perf_counter() - started, 4)
    noop = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        run_step("noop", lambda: {}, params={})
        noop.append(time.perf_counter() - started)
    results["fixed_cost_s"] = round(statistics.median(noop), 4)
    # In a pipeline every step is a new process (on a cluster a new pod, with an empty run dir):
    # the tracking code is imported and the carbon meter set up each time.
    import subprocess

    def process_s(code: str) -> float:
        times = []
        for i in range(REPEAT):
            env = {**os.environ, "CNAI_HOME": str(scratch / f"pod{i}")}
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=scratch)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    # Every step imports pandas for its own work; the baseline does too, so only tracking is counted.
    bare = process_s("import pandas, cnai.core.tracking")
    tracked = process_s("from cnai.core.tracking import run_step; run_step('noop', lambda: {}, params={})")
    results["new_process_fixed_cost_s"] = round(tracked - bare, 3)

    flights, _ = generate(ROWS, seed=1)
    flights["delayed"] = (flights["arr_delay"] > 15).astype("Int64")
    flights["day_of_week"] = flights["time_hour"].dt.dayofweek + 1
    data = scratch / "flights.parquet"
    flights.to_parquet(data, index=False)
    suite = json.loads((Path(__file__).resolve().parents[1] / "expectations" / "flights.json").read_text())

    def outputs(tag: str) -> dict[str, str]:
        return {name: str(scratch / tag / name) for name in ("validated", "quarantine", "results", "data_docs")}

    plain, tracked = [], []
    for i in range(REPEAT):
        paths = outputs(f"plain{i}")
        started = time.perf_counter()
        validate_dataset(str(data), paths["validated"], paths["quarantine"], paths["results"], paths["data_docs"], suite)
        plain.append(time.perf_counter() - started)
        paths = outputs(f"tracked{i}")
        started = time.perf_counter()
        run_step("validate", validate_dataset, inputs={"dataset": str(data)},
                 outputs={k: LocalArtifact(v) for k, v in paths.items()}, params={"expectation_suite": suite})
        tracked.append(time.perf_counter() - started)
    step, with_tracking = statistics.median(plain), statistics.median(tracked)
    size_mb = sum(f.stat().st_size for f in (scratch / "tracked0").rglob("*") if f.is_file()) / 1e6 + data.stat().st_size / 1e6
    started = time.perf_counter()
    content_hash(str(data))
    hash_s = time.perf_counter() - started
    results.update({
        "validate_plain_s": round(step, 3),
        "validate_tracked_s": round(with_tracking, 3),
        "tracking_cost_s": round(with_tracking - step, 3),
        "tracking_cost_share": round((with_tracking - step) / step, 4),
        "hashed_mb": round(size_mb, 1),
        "hash_mb_per_s": round(data.stat().st_size / 1e6 / hash_s, 1),
    })
    report("tracking_cost", "python benchmarks/tracking_cost.py", results,
           {"tracking_cost_s": "<= 0.3", "tracking_cost_share": "<= 0.02"})


if __name__ == "__main__":
    main()
