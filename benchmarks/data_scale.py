"""Data scale: ingest + validate + features at 1M, 10M and 100M generated flights.

    .venv/bin/python benchmarks/data_scale.py            # BENCH_SIZES=1000000,10000000,100000000

For each size, each step in its own fresh process, as the pipeline runs it: ingest of the flights
CSV and the weather CSV with PySpark local[*], validate (Great Expectations), features (Feast,
DuckDB offline + SQLite online, point-in-time join). Time is the whole process (start, imports,
Spark's JVM); peak memory is each process tree's resident set (Python and Spark's JVM), sampled
every 0.2 s, and the size's peak is the largest step's. Then the same ingest done by
plain pandas (read CSV, cast, derive, write Parquet), to see where each wins (up to 10M rows;
past that pandas does not fit).

Past cnai.core.scale.IN_MEMORY_ROWS validate works batch by batch, and the features step joins out
of core (DuckDB) at every size; the baseline measured in the same run is those two steps at
BENCH_BASELINE_SIZE (10M) forced in memory (CNAI_IN_MEMORY_ROWS past the size; the join through
Feast's offline store, `in_memory_rows`), as every size ran before.
Targets (issue 16): 100M / 10M <= 11x; peak memory <= 12 GB at 100M.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report, run_with_peak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,10000000,100000000").split(",")]
BASELINE_SIZE = int(os.environ.get("BENCH_BASELINE_SIZE", 10_000_000))
PANDAS_MAX_ROWS = 10_000_000

# Each step in its own process, as in the pipeline (kfp.local runs every task as a subprocess).
STEP = r'''
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from cnai.core.config import load_config
data, out = load_config(Path({repo!r}) / "cnai.yaml").data, Path({out!r})
step = {step!r}
started = time.perf_counter()
if step == "ingest_flights":
    from cnai.components.data.ingest.executor import ingest_table
    ingest_table({flights!r}, str(out / "flights"), data.events.columns, data.events.derived_columns)
elif step == "ingest_weather":
    from cnai.components.data.ingest_tables.executor import ingest_tables, source_inputs
    tables = [{{"name": s.name, "source": {weather!r} if s.timestamp else s.source, "columns": s.columns}}
              for s in data.feature_sources]
    ingest_tables(str(out / "tables"), tables, **source_inputs(tables))
elif step == "validate":
    from cnai.components.data.validate.executor import validate_dataset
    suite = json.loads((Path({repo!r}) / "expectations" / "flights.json").read_text())
    facts = validate_dataset(str(out / "flights"), str(out / "valid"), str(out / "q"), str(out / "r.json"),
                             str(out / "d.html"), suite)
    print(json.dumps({{"how": f"{{facts['batches']}} batch(es)"}}))
elif step == "features":
    from cnai.components.features.feast_features.executor import build_training_set
    facts = build_training_set(str(out / "valid"), str(out / "tables"), str(out / "ts"), str(out / "store"), str(out / "s.md"),
                               data.feature_refs, data.feature_views, data.events.timestamp, data.label, data.features,
                               in_memory_rows=int(os.environ["BENCH_FEAST_JOIN_ROWS"]) if "BENCH_FEAST_JOIN_ROWS" in os.environ else None)
    print(json.dumps({{"how": facts["join"]}}))
print(json.dumps({{"step_s": round(time.perf_counter() - started, 2)}}))
'''
STEP_NAMES = ("ingest_flights", "ingest_weather", "validate", "features")

PANDAS_INGEST = r'''
import json, time
import pandas as pd
started = time.perf_counter()
types = {{"int": "Int64", "double": "float64", "string": "string"}}
columns = {columns!r}
frame = pd.read_csv({flights!r}, na_values=["NA"], dtype={{c: types[t] for c, t in columns.items() if t in types}})
frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
frame["day_of_week"] = (frame["time_hour"].dt.dayofweek + 2 - 1) % 7 + 1
frame["delayed"] = (frame["arr_delay"] > 15).astype("Int64").where(frame["arr_delay"].notna())
frame.to_parquet({out!r}, index=False)
print(json.dumps({{"pandas_ingest_flights_s": round(time.perf_counter() - started, 2)}}))
'''


def run_measured(code: str, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """Run `code` in a fresh interpreter; returns its JSON lines (merged) and the process tree's peak RSS in MB."""
    stdout, stderr, code_rc, peak = run_with_peak([sys.executable, "-c", code],
                                                   {**os.environ, "CNAI_SPARK_DRIVER_MEMORY": "4g", **(env or {})})
    if code_rc:
        raise RuntimeError(stderr[-3000:])
    lines = [json.loads(line) for line in stdout.strip().splitlines() if line.startswith("{")]
    return {k: v for line in lines for k, v in line.items()}, peak


def main() -> None:
    from cnai.core.config import load_config
    from examples.flights.generate import write_generated

    columns = load_config(REPO / "cnai.yaml").data.events.columns
    results: dict = {}
    for size in SIZES:
        scratch = Path(tempfile.mkdtemp(prefix=f"cnai-bench-scale-{size}-"))
        write_generated(scratch, size, seed=3, fmt="csv")  # in chunks: bounded memory at any size
        steps_s, process_s, peaks, how = {}, {}, {}, {}

        def step_code(step: str, scratch: Path = scratch) -> str:
            return STEP.format(repo=str(REPO), out=str(scratch / "out"), step=step, flights=str(scratch / "flights.csv"),
                               weather=str(scratch / "weather.csv"))

        for step in STEP_NAMES:
            started = time.perf_counter()
            measured, peaks[step] = run_measured(step_code(step))
            process_s[step] = round(time.perf_counter() - started, 2)
            steps_s[step] = measured["step_s"]
            if "how" in measured:
                how[step] = measured["how"]
        total = sum(process_s.values())
        results[str(size)] = {"steps_s": steps_s, "process_s": process_s, "how": how, "total_s": round(total, 1),
                              "rows_per_s": round(size / total), "peak_rss_mb_per_step": peaks, "peak_rss_mb": max(peaks.values())}
        if size == BASELINE_SIZE:  # the same two steps held in memory, as before issue 16
            baseline: dict = {}
            for step in ("validate", "features"):
                started = time.perf_counter()
                measured, peak = run_measured(step_code(step), {"CNAI_IN_MEMORY_ROWS": str(10 * size),
                                                                 "BENCH_FEAST_JOIN_ROWS": str(10 * size)})
                baseline[step] = {"process_s": round(time.perf_counter() - started, 2), "peak_rss_mb": peak, "how": measured.get("how")}
            results[str(size)]["in_memory_baseline"] = baseline
        if size <= PANDAS_MAX_ROWS:
            pandas_measured, pandas_peak = run_measured(PANDAS_INGEST.format(
                columns=columns, flights=str(scratch / "flights.csv"), out=str(scratch / "pandas.parquet")))
            results[str(size)].update({
                "pandas_ingest_flights_s": pandas_measured["pandas_ingest_flights_s"], "pandas_ingest_peak_rss_mb": pandas_peak,
                "spark_vs_pandas_ingest": round(steps_s["ingest_flights"] / pandas_measured["pandas_ingest_flights_s"], 2)})
        print(json.dumps({size: results[str(size)]}), flush=True)
        subprocess.run(["rm", "-rf", str(scratch)])
    sizes = [str(s) for s in SIZES]
    for small, large in zip(sizes, sizes[1:], strict=False):
        results[f"growth_{large}_over_{small}"] = round(results[large]["total_s"] / results[small]["total_s"], 2)
    report("data_scale", f"BENCH_SIZES={','.join(sizes)} python benchmarks/data_scale.py", results,
           {**({f"growth_{sizes[-1]}_over_{sizes[-2]}": "<= 11"} if len(sizes) > 1 else {}), f"{sizes[-1]}.peak_rss_mb": "<= 12000"})


if __name__ == "__main__":
    main()
