"""One Spark per run: the data steps of a local run (each its own process, as under kfp.local)
with a JVM each (the baseline, as before) against one Spark Connect server the run starts and
every step connects to (cnai.backends.local.spark.connect_server), its start-up included.

    python benchmarks/one_spark.py          # BENCH_ROWS=100000 BENCH_STEPS=3
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
STEPS = int(os.environ.get("BENCH_STEPS", "3"))  # the example has 2 Spark steps; monitoring with retraining more
STEP = """
import os, sys
os.environ["CNAI_SMALL_TABLE_BYTES"] = "0"  # what is measured is Spark's start: typed by Spark, however small
from cnai.backends.tables import ingest_table
from cnai.core.config import load_config
events = load_config(sys.argv[3]).data.events
ingest_table(sys.argv[1], sys.argv[2], events.columns, events.derived_columns)
"""


def run_steps(flights: str, out: Path) -> float:
    started = time.perf_counter()
    for index in range(STEPS):
        subprocess.run([sys.executable, "-c", STEP, flights, str(out / f"step{index}"), str(Path(__file__).parents[1] / "cnai.yaml")],
                       check=True, capture_output=True)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    from cnai.backends.local.spark import REMOTE_ENV, connect_server
    from examples.flights.generate import write_generated

    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-one-spark-"))
    flights = write_generated(scratch, ROWS, seed=5, fmt="csv")["flights"]
    os.environ.pop(REMOTE_ENV, None)
    own_jvm_s = run_steps(flights, scratch / "own")
    started = time.perf_counter()
    with connect_server("local[*]", scratch / "spark.log"):
        shared_steps_s = run_steps(flights, scratch / "shared")
    shared_s = round(time.perf_counter() - started, 2)
    report("one_spark", f"BENCH_ROWS={ROWS} BENCH_STEPS={STEPS} python benchmarks/one_spark.py", {
        "rows": ROWS, "spark_steps": STEPS,
        "baseline_a_jvm_per_step_s": own_jvm_s,
        "one_spark_s": shared_s, "one_spark_steps_only_s": shared_steps_s,
        "speedup": round(own_jvm_s / shared_s, 2),
    }, {"one_spark_s": "below the baseline's time for 2 or more Spark steps"})


if __name__ == "__main__":
    main()
