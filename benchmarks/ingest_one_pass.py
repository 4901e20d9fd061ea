"""Ingest in one pass over the source against the checked-first two passes, on one Spark.

    .venv/bin/python benchmarks/ingest_one_pass.py      # BENCH_SIZES=336776(the real flights),1000000,10000000

`cnai.core.tabular.write_typed` (what the ingest step runs) counts the values that did not parse
with an Observation while the write reads the source. The baseline, `typed_frame(...)` then a
write, counts them with a query of its own first and so reads the source twice. Both arms run on
the same warm Spark Connect server, alternating, BENCH_ROUNDS times each after one warm-up of
each; the figure is each arm's median. Both write the same rows (checked).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "336776,1000000,10000000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
REAL_FLIGHTS = 336_776


def main() -> None:
    import pyarrow.dataset as pads

    from cnai.backends.local.spark import connect_server, spark_session
    from cnai.core.config import load_config
    from cnai.core.sources import resolve_source
    from cnai.core.tabular import typed_frame, write_typed
    from examples.flights.generate import write_generated

    events = load_config(REPO / "cnai.yaml").data.events
    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-one-pass-"))
    results = {}
    with connect_server("local[*]", scratch / "spark.log"):
        spark = spark_session()
        for size in SIZES:
            if size == REAL_FLIGHTS:
                source = resolve_source(events.source, scratch / "data")
            else:
                source = write_generated(scratch / str(size), size, seed=3, fmt="csv")["flights"]
            arms = {
                "two_passes_s": lambda out, source=source: typed_frame(
                    spark, source, events.columns, events.derived_columns).write.parquet(out),
                "one_pass_s": lambda out, source=source: write_typed(
                    spark, source, out, events.columns, events.derived_columns),
            }
            times: dict[str, list[float]] = {name: [] for name in arms}
            for round_ in range(ROUNDS + 1):  # round 0 warms both up and is not counted
                for name, arm in arms.items():
                    out = scratch / "out" / name
                    shutil.rmtree(out, ignore_errors=True)
                    started = time.perf_counter()
                    arm(str(out))
                    if round_:
                        times[name].append(round(time.perf_counter() - started, 2))
            rows = {name: pads.dataset(scratch / "out" / name).count_rows() for name in arms}
            assert len(set(rows.values())) == 1, rows
            medians = {name: statistics.median(values) for name, values in times.items()}
            results[str(size)] = {**medians, "rounds": times, "rows": rows["one_pass_s"],
                                  "one_pass_over_two": round(medians["one_pass_s"] / medians["two_passes_s"], 2)}
            print(size, results[str(size)], flush=True)
        spark.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    report("ingest_one_pass", "python benchmarks/ingest_one_pass.py", results, {"one_pass_over_two": "< 1 (reported)"})


if __name__ == "__main__":
    main()
