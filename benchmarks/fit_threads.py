"""Fit threads: one thread against every thread for small fits, on an idle machine and beside busy
processes (as on a laptop doing other work, or a node shared with other pods).

    .venv/bin/python benchmarks/fit_threads.py

HistGradientBoosting (150 rounds, 15 numeric inputs) fitted 3 times per size, in a process of its
own per measurement, with OpenMP limited to 1 thread or left at every core; then the same while
one busy process per core spins beside it. What `cnai.models.base.ONE_THREAD_BELOW` rests on:
below it tuning's trials and train's fit run on one thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure_in_subprocess, report  # noqa: E402

from cnai.models.base import ONE_THREAD_BELOW  # noqa: E402

SIZES = (800, 6_000, ONE_THREAD_BELOW, 100_000)
FIT = r'''
import json, time, numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits
rows, threads = {rows}, {threads}
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 15)); y = X[:, 0] + rng.normal(size=rows)
started = time.perf_counter()
with threadpool_limits(threads, "openmp"):
    for _ in range(3):
        HistGradientBoostingRegressor(max_iter=150, early_stopping=False, random_state=0).fit(X, y)
print(json.dumps({{"s": round(time.perf_counter() - started, 2)}}))
'''


def fits(cores: int) -> dict[str, dict[str, float]]:
    return {str(rows): {f"{threads}_thread{'s' if threads > 1 else ''}_s": measure_in_subprocess(
        FIT.format(rows=rows, threads=threads))["s"] for threads in (cores, 1)} for rows in SIZES}


def main() -> None:
    cores = os.cpu_count() or 1
    idle = fits(cores)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        beside_busy = fits(cores)
    finally:
        for process in busy:
            process.kill()
    report("fit_threads", "python benchmarks/fit_threads.py", {
        "model": "HistGradientBoostingRegressor, 150 rounds, 15 inputs, 3 fits", "cores": cores,
        "one_thread_below_rows": ONE_THREAD_BELOW, "idle": idle, f"beside_{cores}_busy_processes": beside_busy,
    }, {"one thread below ONE_THREAD_BELOW rows": "never much slower idle; much faster beside busy processes"})


if __name__ == "__main__":
    main()
