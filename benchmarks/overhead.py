"""Orchestration overhead: the training pipeline under kfp.local against one plain Python script.

    .venv/bin/python benchmarks/overhead.py            # BENCH_ROWS=50000 by default

Both do the same work with the same library functions on the same generated data (parquet):
ingest x2 (Spark local[*]), validate, features (Feast), tune (6 trials), train, evaluate,
register, deploy (a local KServe server) and the smoke test. The plain script calls
`cnai.steps.*` directly in one process; kfp.local runs each step as a subprocess with lineage and
carbon. Each side starts from an empty run directory (nothing cached, nothing registered).
`framework_s_per_step` is everything outside the steps' work, per step: each process re-imports
its libraries (scikit-learn alone is ~1.4 s in 4 steps), plus the CLI's compile. The framework's
own part is measured apart on 11-step chains of no-op components: kfp.local alone, and with our
lineage and carbon (`run_step`) around the no-op.
Targets (issue 6): pipeline <= 1.25x the plain script; framework cost <= 1 s per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("BENCH_ROWS", 50_000))
TRIALS = 6


def project(scratch: Path, home: Path) -> Path:
    """A copy of cnai.yaml on generated parquet data, with a small tuning budget, its own port and
    its own run directory (registry included: each side starts with no model in production)."""
    from _common import free_port

    from examples.flights.generate import generate, write_table

    flights, weather = generate(ROWS, seed=11)
    write_table(flights, scratch / "flights.parquet")
    write_table(weather, scratch / "weather.parquet")
    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    config["data"]["events"].update(source=str(scratch / "flights.parquet"), format="parquet")
    config["data"]["feature_sources"][0].update(source=str(scratch / "weather.parquet"), format="parquet")
    config["data"]["expectation_suite"] = str(REPO / "expectations" / "flights.json")
    config["tuning"]["max_trials"] = TRIALS
    config["settings"]["serving_port"] = free_port()
    config["settings"]["home"] = str(home)
    path = scratch / f"cnai-{home.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def kfp_local(config_path: Path, home: Path) -> tuple[float, list[dict]]:
    env = {**os.environ, "CNAI_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cnai.cli", "--config", str(config_path), "run", "--no-cache"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    subprocess.run([sys.executable, "-m", "cnai.cli", "--config", str(config_path), "stop"], env=env,
                   stdout=subprocess.DEVNULL)
    events = [json.loads(line) for line in (home / "lineage" / "events.jsonl").read_text().splitlines()]
    steps = [e["run"]["facets"]["cnai_step"] for e in events if e["eventType"] == "COMPLETE"]
    return wall, steps


PLAIN_SCRIPT = r'''
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from cnai.core.config import load_config
from cnai.orchestration.project import pipeline_arguments
config_path = Path({config!r})
args = pipeline_arguments(load_config(config_path), config_path)  # what `cnai run` passes the pipeline
out = Path(os.environ["CNAI_HOME"]) / "plain"
p = lambda name: str(out / name)
started = time.perf_counter()
from cnai.components.data.ingest.executor import ingest_table
from cnai.components.data.ingest_tables.executor import ingest_tables, source_inputs
from cnai.components.data.validate.executor import validate_dataset
from cnai.components.features.feast_features.executor import build_training_set
from cnai.components.training.tune.executor import tune_hyperparameters
from cnai.components.training.train.executor import train_model
from cnai.components.evaluation.evaluate.executor import evaluate_candidate
from cnai.components.registry.register.executor import register_model
from cnai.components.serving.deploy.executor import deploy_model
from cnai.backends.local.deployment import stop_server
from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
from cnai.core.run_dir import home
from cnai.core.sources import resolve_source
# The same calls, with the same arguments, as the components make (cnai/pipelines/training/pipeline.py).
target, cluster, label, timestamp, name = args["target"], args["cluster"], args["label"], args["timestamp"], args["model_name"]
ingest_table(resolve_source(args["events_source"], home() / "data"), p("events"), args["events_columns"],
             derived_columns=args["events_derived_columns"], source_format=args["events_format"],
             spark_master=args["spark_master"], limit_rows=args["limit_rows"], cluster=cluster,
             null_values=args["events_null_values"], delimiter=args["events_delimiter"],
             encoding=args["events_encoding"], decimal=args["events_decimal"])
validate_dataset(p("events"), p("validated"), p("quarantine"), p("results"), p("docs"), args["expectation_suite"],
                 inferred_suite=p("inferred_suite"), label=label, task=args["task"])
ingest_tables(p("tables"), args["feature_sources"], spark_master=args["spark_master"], cluster=cluster,
              **source_inputs(args["feature_sources"]))
build_training_set(p("validated"), p("tables"), p("training_set"), p("store"), p("stats"), args["feature_refs"],
                   args["feature_views"], timestamp, label, args["event_features"], feature_repo=args["feature_repo"],
                   target=target, cluster=cluster)
model = dict(task=args["task"], model_kind_name=args["model_kind"], model_params=args["model_params"], split=args["split"],
             positive_label=args["positive_label"], max_training_rows=args["max_training_rows"])
best = tune_hyperparameters(p("training_set"), p("trials"), p("tm"), p("plot"), args["model_features"], label, timestamp,
                            args["search_space"], algorithm=args["tuning_algorithm"],
                            objective_metric=args["objective_metric"], objective_goal=args["objective_goal"],
                            max_trials=args["max_trials"], parallel_trials=args["parallel_trials"],
                            early_stopping=args["early_stopping"], holdout_fraction=args["holdout_fraction"],
                            seed=args["seed"], target=target, cluster=cluster, **model)["best_params"]
train_model(p("training_set"), p("model"), p("holdout"), p("metrics"), p("cm"), args["model_features"], label, timestamp,
            best, holdout_fraction=args["holdout_fraction"], seed=args["seed"], target=target, cluster=cluster, **model)
gate = evaluate_candidate(p("model"), p("holdout"), p("comparison"), args["registry_uri"], name, args["gate_metric"],
                          args["min_improvement"], args["minimum_for_first_model"])
version = register_model(p("model"), p("training_set"), p("comparison"), p("card"), args["registry_uri"], name,
                         deploy_decision=gate["deploy"])["version"]
if gate["deploy"]:  # as the pipeline's dsl.If
    served = deploy_model(p("endpoint"), args["registry_uri"], name, version, host=args["serving_host"],
                          port=args["serving_port"], target=target, cluster=cluster, feature_store=p("store"))
    smoke_test_endpoint(p("holdout"), p("model"), p("smoke"), served["endpoint"], name, expected_version=version,
                        target=target, cluster=cluster, registry_uri=args["registry_uri"])
wall = time.perf_counter() - started
stop_server(name)
print(json.dumps({{"wall_s": wall, "deployed": gate["deploy"]}}))
'''


def plain(config_path: Path, home: Path) -> float:
    env = {**os.environ, "CNAI_HOME": str(home)}
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT.format(repo=str(REPO), config=str(config_path))],
                               capture_output=True, text=True, env=env)
    if completed.returncode:
        raise RuntimeError(completed.stderr[-3000:])
    return time.perf_counter() - started  # the whole process, imports included, as for kfp.local


NOOP_PIPELINES = r'''
import json, sys, time
from kfp import dsl, local

@dsl.component(base_image="python:3.11", install_kfp_package=False)
def bare(x: int) -> int:
    return x + 1

@dsl.component(base_image="python:3.11", install_kfp_package=False)
def tracked(x: int) -> int:
    from cnai.core.tracking import run_step
    return run_step("noop", lambda: {{"y": x + 1}}, params={{}})["y"]

def chain(component):
    @dsl.pipeline(name=f"chain-{{component.name}}")
    def pipeline(n: int = 0):
        task = component(x=n)
        for _ in range({steps} - 1):
            task = component(x=task.output)
    return pipeline

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={root!r})
per_step = {{}}
for component in (bare, tracked):
    started = time.perf_counter()
    chain(component)()
    per_step[component.name] = (time.perf_counter() - started) / {steps}
print(json.dumps(per_step))
'''


def framework_per_step(scratch: Path, steps: int = 11) -> dict[str, float]:
    """kfp.local's own cost per task (a no-op step), and with our lineage and carbon around it."""
    env = {**os.environ, "CNAI_HOME": str(scratch / "noop-home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    program = scratch / "noop_pipelines.py"  # a file: KFP reads the components' source from it
    program.write_text(NOOP_PIPELINES.format(steps=steps, root=str(scratch / "noop-root")))
    completed = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, env=env, check=True)
    per_step = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"kfp_local_noop_step_s": round(per_step["bare"], 3), "tracked_noop_step_s": round(per_step["tracked"], 3)}


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-overhead-"))
    plain_s = plain(project(scratch, scratch / "plain-home"), scratch / "plain-home")
    pipeline_s, steps = kfp_local(project(scratch, scratch / "kfp-home"), scratch / "kfp-home")
    work_s = sum(s["duration_s"] for s in steps)
    framework = pipeline_s - work_s
    results = {
        "rows": ROWS, "trials": TRIALS,
        "plain_script_s": round(plain_s, 1), "kfp_local_s": round(pipeline_s, 1),
        "ratio": round(pipeline_s / plain_s, 3),
        "steps": len(steps), "step_work_s": round(work_s, 1),
        "framework_s_per_step": round(framework / len(steps), 2),
        "per_step": {s["step"]: round(s["duration_s"], 2) for s in steps},
        # What the pipeline adds to any step, libraries aside: a process, lineage and carbon.
        **framework_per_step(scratch),
    }
    report("overhead", f"BENCH_ROWS={ROWS} python benchmarks/overhead.py", results,
           {"ratio": "<= 1.25", "framework_s_per_step": "<= 1.0", "tracked_noop_step_s": "<= 1.0"})


if __name__ == "__main__":
    main()
