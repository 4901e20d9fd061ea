"""The whole training pipeline at scale: `cnai run --no-cache` on generated flights, end to end.

    python benchmarks/pipeline_scale.py      # BENCH_SIZES=1000000,10000000

For each size: the example project's cnai.yaml pointed at generated flights and weather (CSV, the
shipped airports), a run directory and registry of its own (empty), nothing cached; every step from
ingest to the smoke test, as a user runs it. Time is the whole `cnai run`; memory is the peak
resident set of its process tree (the CLI, kfp.local's step processes, the run's Spark, DuckDB;
the model server counts until the deploy step that started it exits, after which it is not a
descendant any more). Tune and train work on the bounded, seeded, stratified sample
`model.max_training_rows` draws (recorded in lineage and the model card). The smaller size is the
baseline measured in the same run. Target (issue 16): it runs at 10M in bounded memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, report, run_with_peak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,10000000").split(",")]


def run_pipeline(size: int) -> dict:
    from examples.flights.generate import write_generated

    scratch = Path(tempfile.mkdtemp(prefix=f"cnai-bench-pipeline-{size}-"))
    try:
        return _run_in(scratch, size, write_generated(scratch, size, seed=3, fmt="csv"))  # generated in chunks
    finally:
        subprocess.run([sys.executable, "-m", "cnai.cli", "--config", str(scratch / "cnai.yaml"), "stop"],
                       env={**os.environ, "CNAI_HOME": str(scratch / "home")}, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _run_in(scratch: Path, size: int, written: dict[str, str]) -> dict:
    from cnai.core.sources import package_file

    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    data = config["data"]
    data["events"]["source"] = written["flights"]
    for source in data["feature_sources"]:
        source["source"] = written["weather"] if source.get("timestamp") else str(package_file(source["source"]))
    data["expectation_suite"] = str(REPO / "expectations" / "flights.json")
    config["settings"].update(home=str(scratch / "home"), serving_port=free_port())
    path = scratch / "cnai.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "CNAI_HOME": str(scratch / "home")}
    started = time.perf_counter()
    stdout, stderr, code, peak = run_with_peak([sys.executable, "-m", "cnai.cli", "--config", str(path), "run", "--no-cache"], env)
    wall = round(time.perf_counter() - started, 1)
    if code:
        raise RuntimeError(f"cnai run failed at {size} rows:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    steps: dict[str, float] = defaultdict(float)
    facts: dict[str, dict] = {}
    for line in (scratch / "home" / "lineage" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["eventType"] == "COMPLETE" and "cnai_step" in event["run"]["facets"]:
            name = event["job"]["name"].rsplit(".", 1)[-1]
            steps[name] += round(event["run"]["facets"]["cnai_step"]["duration_s"], 2)
            facts[name] = event["run"]["facets"]["cnai_step"].get("facts", {})
    return {"wall_s": wall, "peak_rss_mb": peak, "steps_s": dict(steps),
            "rows_valid": facts.get("validate", {}).get("rows_valid"),
            "training_sample": facts.get("train", {}).get("training_sample"),
            "holdout_scores": facts.get("train", {}).get("scores"),
            "deployed": "deploy" in steps}


def main() -> None:
    results: dict = {}
    for size in SIZES:
        results[str(size)] = run_pipeline(size)
        print(json.dumps({size: results[str(size)]}), flush=True)
    sizes = [str(s) for s in SIZES]
    for small, large in zip(sizes, sizes[1:], strict=False):
        results[f"growth_{large}_over_{small}"] = round(results[large]["wall_s"] / results[small]["wall_s"], 2)
    report("pipeline_scale", f"BENCH_SIZES={','.join(sizes)} python benchmarks/pipeline_scale.py", results,
           {f"{sizes[-1]}.peak_rss_mb": "<= 12000 (bounded)"})


if __name__ == "__main__":
    main()
