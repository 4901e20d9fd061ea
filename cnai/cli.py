"""`cnai`: the verbs the Makefile calls. Each maps to a pipeline concept.

  cnai run        run the training pipeline locally (kfp.local), then print each step and the endpoint
  cnai compile    write the pipeline and every component as KFP YAML
  cnai report     one HTML page for the last run: every step's visuals, carbon per step
  cnai lineage    trace the served model back to its data, step by step
  cnai monitor    drift check on served traffic; on drift, retrain through the training pipeline's gate
  cnai drift      demo: in-distribution, then shifted traffic; a monitoring run after each
  cnai schedule   upload the pipelines to Kubeflow Pipelines and create nightly recurring runs
  cnai serve      serve the production version (if nothing serves it yet)
  cnai stop       stop the local model server
  cnai generate   write flights and weather tables of any size (seeded, optional drift)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from cnai.config import TARGETS, ProjectConfig, load_config
from cnai.errors import CnaiError, ConfigError

TRAINING_STEPS = ["ingest", "ingest", "validate", "features", "tune", "train", "evaluate", "register", "run_summary",
                  "deploy", "smoke_test"]
MAIN_OUTPUT = {"ingest": "dataset", "validate": "validated", "features": "training_set", "tune": "trials", "train": "model",
               "evaluate": "comparison", "register": "model_card", "deploy": "endpoint", "smoke_test": "report",
               "drift_check": "report", "run_summary": "summary"}


# ---------------------------------------------------------------------------------------------
# Configuration -> environment and pipeline arguments


def project_home(config: ProjectConfig, config_path: Path) -> Path:
    home = Path(config.settings.home)
    return (home if home.is_absolute() else config_path.parent / home).resolve()


def export_settings(config: ProjectConfig, config_path: Path) -> Path:
    """Settings every step reads from its environment (kfp.local tasks inherit it)."""
    home = project_home(config, config_path)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CNAI_HOME"] = str(home)
    os.environ["CNAI_COUNTRY_ISO_CODE"] = config.settings.country_iso_code
    os.environ["CNAI_LINEAGE_NAMESPACE"] = config.settings.lineage_namespace
    if config.settings.lineage_url:
        os.environ["CNAI_LINEAGE_URL"] = config.settings.lineage_url
    commit = _git_commit(config_path.parent)
    if commit:
        os.environ["CNAI_GIT_COMMIT"] = commit
    return home


def _git_commit(directory: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _source(source: str, base: Path) -> str:
    if source.startswith("builtin:") or "://" in source or Path(source).is_absolute():
        return source
    return str((base / source).resolve())


def open_project(args: argparse.Namespace) -> tuple[ProjectConfig, Path, Path]:
    """What every verb that touches the run directory starts with: config, its path, the run directory."""
    config_path = Path(args.config).resolve()
    config = load_config(config_path)
    return config, config_path, export_settings(config, config_path)


def pipeline_arguments(config: ProjectConfig, config_path: Path, sample_rows: int | None = None,
                       for_cluster: bool = False) -> dict[str, Any]:
    from cnai.artifacts import content_hash
    from cnai.data import resolve_source
    from cnai.registry import default_registry_uri

    base = config_path.parent
    data, tuning, evaluation, settings = config.data, config.tuning, config.evaluation, config.settings
    home = project_home(config, config_path)
    events_source, feature_source = _source(data.events.source, base), _source(data.feature_source.source, base)
    suite_path = base / data.expectation_suite
    try:
        suite = json.loads(suite_path.read_text())
    except FileNotFoundError:
        suite = {}  # validate infers one from the data and outputs it, for review and commit
    except json.JSONDecodeError as exc:
        raise CnaiError(f"{suite_path}: not valid JSON: {exc}") from exc

    def fingerprint(source: str) -> str:
        path = resolve_source(source, home / "data")
        return content_hash(path) if Path(path).exists() else ""

    return {
        "events_source": events_source,
        "events_columns": data.events.columns,
        "events_derived_columns": data.events.derived_columns,
        "events_format": data.events.format,
        "events_hash": fingerprint(events_source),
        "feature_source": feature_source,
        "feature_source_columns": data.feature_source.columns,
        "feature_source_format": data.feature_source.format,
        "feature_source_hash": fingerprint(feature_source),
        "expectation_suite": suite,
        "entity": data.events.entity,
        "timestamp": data.events.timestamp,
        "label": data.label,
        "event_features": data.features,
        "feature_refs": data.feature_refs,
        "model_features": [*data.features, *[ref.split(":", 1)[1] for ref in data.feature_refs]],
        "search_space": tuning.search_space,
        "registry_uri": default_registry_uri(home),
        "limit_rows": sample_rows or settings.sample_rows or 0,
        "spark_master": settings.spark_master,
        "tuning_algorithm": tuning.algorithm,
        "objective_metric": tuning.objective.metric,
        "objective_goal": tuning.objective.goal,
        "max_trials": tuning.max_trials,
        "parallel_trials": tuning.parallel_trials,
        "early_stopping": tuning.early_stopping,
        "holdout_fraction": settings.holdout_fraction,
        "seed": tuning.seed,
        "model_name": settings.model_name,
        "gate_metric": evaluation.metric,
        "min_improvement": evaluation.min_improvement,
        "minimum_for_first_model": evaluation.minimum_for_first_model,
        "serving_host": settings.serving_host,
        "serving_port": settings.serving_port,
        # `cnai run` is kfp.local: local backends, whatever cnai.yaml says; compile and schedule use settings.target.
        "target": settings.target if for_cluster else "local",
        "cluster": cluster_settings(config),
    }


def cluster_settings(config: ProjectConfig) -> dict[str, Any]:
    """The `cluster` section as the steps receive it, with the image the components were built with
    (one setting, CNAI_COMPONENT_IMAGE at compile time; see cnai.kfp_settings)."""
    from cnai.kfp_settings import COMPONENT_IMAGE

    return {**config.cluster.model_dump(), "image": COMPONENT_IMAGE}


def code_fingerprint() -> str:
    """Hash of every source file of the installed package: the local cache is valid for one code version."""
    import cnai

    roots = {Path(cnai.__file__).parent}
    for sub in ("components", "pipelines", "feature_repo"):
        module = __import__(f"cnai.{sub}", fromlist=["_"])
        roots.add(Path(module.__file__).parent)
    digest = hashlib.sha256()
    for root in sorted(roots):
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".yaml", ".json") and not {"__pycache__", "tests"} & set(path.parts):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Verbs


def run_locally(pipeline, pipeline_name: str, arguments: dict[str, Any], home: Path, use_cache: bool,
                expected_steps: list[str]) -> tuple[bool, list[dict[str, Any]]]:
    """Run a pipeline under kfp.local, then print one row per step from its lineage events."""
    from kfp import local

    run_id = str(uuid.uuid4())
    os.environ["CNAI_PIPELINE_RUN_ID"] = run_id
    os.environ["CNAI_PIPELINE_NAME"] = pipeline_name
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(home / "pipeline_root"),
        enable_caching=use_cache,
        cache_root=str(home / "kfp_cache" / code_fingerprint()),
        raise_on_error=True,
    )
    print(f"Running {pipeline_name} (run {run_id}) on kfp.local; run directory {home}", flush=True)
    started = time.perf_counter()
    failed = None
    try:
        pipeline(**arguments)
    except Exception as exc:  # the task's own log above says why; the table below says where
        failed = exc
    elapsed = time.perf_counter() - started
    rows = step_rows(run_id, expected_steps)
    run_dirs = sorted((home / "pipeline_root").glob("*/"), key=lambda p: p.stat().st_mtime)
    if run_dirs:
        print(f"\nArtifacts of this run: {run_dirs[-1]}")
        for row in rows:
            row["output"] = row["output"].replace(f"{run_dirs[-1]}/", "")
    print_table(rows)
    if failed is not None:
        print(f"\nPipeline FAILED after {elapsed:.0f} s: {failed}", file=sys.stderr)
        return False, rows
    print(f"\nPipeline succeeded in {elapsed:.0f} s.")
    return True, rows


def print_endpoint(config: ProjectConfig, deployed: bool) -> None:
    from cnai.steps.deploy import endpoint_url, is_ready

    url = endpoint_url(config.settings.serving_host, config.settings.serving_port)
    name = config.settings.model_name
    if is_ready(url, name):
        print(f"Model {name} is served at {url} (POST {url}/v2/models/{name}/infer){'' if deployed else ' (unchanged this run)'}")
    else:
        print("No model is being served: the evaluation gate has not approved one yet.")


def check_services_reachable(config: ProjectConfig, registry_uri: str, timeout_s: float = 3.0) -> None:
    """Refuse, before any step runs, a Spark master, registry or lineage server nobody answers at:
    finding out at the ingest or register step wastes the run (and leaves half of it behind)."""
    import socket
    from urllib.parse import urlsplit

    services = {"settings.spark_master": config.settings.spark_master, "registry_uri": registry_uri,
                "settings.lineage_url": config.settings.lineage_url or ""}
    for key, uri in services.items():
        scheme, _, rest = uri.partition("://")
        if scheme.split("+")[-1] not in {"spark", "sc", "http", "https"} or not rest:
            continue  # local[*], sqlite:, file paths, spark-operator: nothing to reach from here
        where = urlsplit(f"{scheme.split('+')[-1]}://{rest}")
        port = where.port or {"spark": 7077, "sc": 15002, "http": 80, "https": 443}[where.scheme]
        try:
            socket.create_connection((where.hostname, port), timeout=timeout_s).close()
        except OSError as exc:
            raise ConfigError(f"{key}: {uri} is not reachable ({exc}); nothing was run") from exc


def check_before_running(config: ProjectConfig, config_path: Path, registry_uri: str) -> None:
    """What would otherwise fail minutes into a local run, after the data steps: the services it
    talks to, and hyperparameters the model or the local tuner cannot take."""
    from cnai.model import check_hyperparameters
    from cnai.steps.tune import check_runs_locally

    check_services_reachable(config, registry_uri)
    try:
        check_hyperparameters(config.tuning.search_space)
        check_runs_locally(config.tuning.algorithm)
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}; nothing was run") from exc


def cmd_run(args: argparse.Namespace) -> int:
    from cnai.pipelines.training.pipeline import PIPELINE_NAME, training_pipeline

    config, config_path, home = open_project(args)
    arguments = pipeline_arguments(config, config_path, args.sample_rows)
    check_before_running(config, config_path, arguments["registry_uri"])
    ok, rows = run_locally(training_pipeline, PIPELINE_NAME, arguments, home, not args.no_cache, TRAINING_STEPS)
    if ok:
        serve_production(config, arguments["registry_uri"])
        print_endpoint(config, any(r["step"] == "deploy" and r["status"] == "ran" for r in rows))
    return 0 if ok else 1


def serve_production(config: ProjectConfig, registry_uri: str) -> None:
    """Make sure the production version is being served (after `cnai stop`, or a reboot)."""
    from cnai import registry
    from cnai.steps.deploy import deploy_model, endpoint_url, is_ready, serving_dir
    from cnai.tracking import LocalArtifact, run_step

    settings = config.settings
    if is_ready(endpoint_url(settings.serving_host, settings.serving_port), settings.model_name):
        return
    production = registry.production_version(registry_uri, settings.model_name)
    if production is None:
        return
    print(f"Nothing was serving {settings.model_name}: starting its production version {production.version}.")
    os.environ["CNAI_PIPELINE_NAME"] = "cnai-serve"
    run_step("deploy", deploy_model, outputs={"endpoint": LocalArtifact(str(serving_dir() / "endpoint.md"))},
             params={"registry_uri": registry_uri, "model_name": settings.model_name, "version": str(production.version),
                     "host": settings.serving_host, "port": settings.serving_port})


def cmd_serve(args: argparse.Namespace) -> int:
    from cnai.registry import default_registry_uri

    config, _, home = open_project(args)
    serve_production(config, default_registry_uri(home))
    print_endpoint(config, deployed=False)
    return 0


def monitor(config: ProjectConfig, config_path: Path, current: str, since: str = "", events_source: str = "",
            feature_source: str = "", use_cache: bool = True) -> tuple[bool, list[dict[str, Any]]]:
    """Run the monitoring pipeline: drift check on `current`; on drift, retrain (optionally on new sources)."""
    from cnai.artifacts import content_hash
    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME, monitoring_pipeline

    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path)
    for key, source in (("events", events_source), ("feature_source", feature_source)):
        if source:
            name = "events_source" if key == "events" else "feature_source"
            arguments[name] = str(Path(source).resolve())
            arguments[f"{key}_hash"] = content_hash(arguments[name])
    arguments.update(current_data=str(Path(current).resolve()), monitoring_since=since)
    check_before_running(config, config_path, arguments["registry_uri"])
    return run_locally(monitoring_pipeline, PIPELINE_NAME, arguments, home, use_cache, ["drift_check", *TRAINING_STEPS])


def cmd_monitor(args: argparse.Namespace) -> int:
    from cnai.serving import inference_log_dir
    from cnai.steps.deploy import serving_dir

    config, config_path, _ = open_project(args)
    current = args.current or str(inference_log_dir(serving_dir(), config.settings.model_name))
    ok, rows = monitor(config, config_path, current, args.since, args.retrain_events, args.retrain_features, not args.no_cache)
    if ok:
        print_endpoint(config, any(r["step"] == "deploy" and r["status"] == "ran" for r in rows))
    return 0 if ok else 1


def cmd_drift(args: argparse.Namespace) -> int:
    from cnai.drift_demo import run_demo

    config_path = Path(args.config).resolve()
    return run_demo(load_config(config_path), config_path, rows=args.rows)


def step_rows(run_id: str, expected_steps: list[str]) -> list[dict[str, Any]]:
    """One row per step of this run, from its OpenLineage events; steps with none were cached or skipped."""
    from cnai.tracking import read_events

    events = [e for e in read_events() if (e["run"]["facets"].get("parent") or {}).get("run", {}).get("runId") == run_id]
    rows = []
    for event in (e for e in events if e["eventType"] in ("COMPLETE", "FAIL")):
        facets = event["run"]["facets"]
        step = facets.get("cnai_step", {})
        facts = step.get("facts", {})
        carbon = facets.get("cnai_carbon", {})
        name = event["job"]["name"].rsplit(".", 1)[-1]
        outputs = {o["facets"]["cnai_content"]["argument"]: o["name"] for o in event.get("outputs", [])}
        main = {"deploy": facts.get("endpoint"), "evaluate": facts.get("reason"),
                "register": f"version {facts.get('version')}",
                "drift_check": (f"drift detected in {', '.join(facts.get('drifted_features', [])) or 'predictions'}"
                                if facts.get("drift_detected") else "no drift")}.get(name) or outputs.get(MAIN_OUTPUT.get(name, ""), "")
        if event["eventType"] == "FAIL":
            main = facets.get("errorMessage", {}).get("message", "failed")
        rows.append({"step": name, "status": "ran" if event["eventType"] == "COMPLETE" else "FAILED",
                     "duration_s": step.get("duration_s"), "energy_kwh": carbon.get("energy_kwh"),
                     "co2_kg": carbon.get("emissions_kg_co2eq"), "output": main, "facts": facts})
    failed = any(r["status"] == "FAILED" for r in rows)
    drift = next((r for r in rows if r["step"] == "drift_check"), None)
    gate = next((r for r in rows if r["step"] == "evaluate"), None)
    ordered = []
    for step in expected_steps:  # pipeline order; a step without events was cached or skipped
        found = next((r for r in rows if r["step"] == step), None)
        if found is not None:
            rows.remove(found)
            ordered.append(found)
            continue
        if failed:
            status = "not run"
        elif drift is not None and not drift["facts"].get("drift_detected"):
            status = "skipped (no drift)"
        elif step in ("deploy", "smoke_test") and gate is not None:
            status = "skipped (gate: keep production)"
        else:
            status = "cached"
        ordered.append({"step": step, "status": status, "duration_s": None, "energy_kwh": None, "co2_kg": None,
                        "output": "", "facts": {}})
    return ordered + rows


def print_table(rows: list[dict[str, Any]]) -> None:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    header = f"{'step':<11} {'status':<31} {'duration':>9} {'energy kWh':>11} {'CO2 kg':>10}  main output"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        output = r["output"] if len(r["output"]) <= 90 else "…" + r["output"][-89:]
        print(f"{r['step']:<11} {r['status']:<31} {fmt(r['duration_s'], '8.1f') + 's' if r['duration_s'] is not None else '-':>9} "
              f"{fmt(r['energy_kwh'], '11.2e'):>11} {fmt(r['co2_kg'], '10.2e'):>10}  {output}")
    total_e = sum(r["energy_kwh"] or 0 for r in rows)
    total_c = sum(r["co2_kg"] or 0 for r in rows)
    print(f"{'total':<11} {'':<31} {'':>9} {total_e:11.2e} {total_c:10.2e}")


def compile_pipelines(config: ProjectConfig, config_path: Path, out: Path, target: str | None) -> dict[str, Path]:
    """Compile both pipelines with cnai.yaml's values as defaults; returns name -> YAML file."""
    from kfp import compiler

    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME as MONITORING_NAME
    from cnai.pipelines.monitoring.pipeline import monitoring_pipeline
    from cnai.pipelines.training.pipeline import PIPELINE_NAME, training_pipeline

    (out / "pipelines").mkdir(parents=True, exist_ok=True)
    arguments = pipeline_arguments(config, config_path, for_cluster=True)
    arguments["target"] = target or arguments["target"]
    # Local paths mean nothing on a cluster: leave those parameters for the run to set.
    for local_only in ("registry_uri", "events_hash", "feature_source_hash"):
        arguments.pop(local_only)
    monitoring_arguments = dict(arguments)
    if arguments["target"] == "kubeflow":
        from cnai.cluster.model_registry import SCHEME_PREFIX
        from cnai.kfp_settings import INFERENCE_LOG_MOUNT

        arguments["registry_uri"] = monitoring_arguments["registry_uri"] = SCHEME_PREFIX + config.cluster.model_registry
        monitoring_arguments["current_data"] = INFERENCE_LOG_MOUNT  # the log sink's volume, mounted into the drift check
    written = {}
    for name, pipeline, values in ((PIPELINE_NAME, training_pipeline, arguments),
                                   (MONITORING_NAME, monitoring_pipeline, monitoring_arguments)):
        written[name] = out / "pipelines" / f"{name}.yaml"
        compiler.Compiler().compile(pipeline, str(written[name]), pipeline_parameters=values)
        print(f"wrote {written[name]}")
    return written


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile the pipelines and components, and refresh the files generated from the code."""
    from kfp import compiler

    from cnai.catalog import (
        ELYRA_EXAMPLE,
        all_components,
        component_dir,
        refresh_readme,
        write_elyra_example,
        write_v1_spec,
    )
    from cnai.kfp_settings import COMPONENT_IMAGE
    from cnai.pipelines.training.pipeline import PIPELINE_NAME

    config_path = Path(args.config).resolve()
    out = Path(args.output_dir)
    written = compile_pipelines(load_config(config_path), config_path, out, args.target)
    if write_elyra_example(written[PIPELINE_NAME]):
        print(f"updated {ELYRA_EXAMPLE} (Elyra example pipeline)")
    (out / "components").mkdir(parents=True, exist_ok=True)
    for name, component in all_components().items():
        target = out / "components" / f"{name}.yaml"
        compiler.Compiler().compile(component, str(target))
        print(f"wrote {target}")
        if refresh_readme(name):
            print(f"updated the inputs and outputs in {component_dir(name) / 'README.md'}")
        if write_v1_spec(name, COMPONENT_IMAGE):
            print(f"updated {component_dir(name) / 'component.yaml'} (Elyra catalog)")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from cnai.schedule import schedule_pipelines

    config_path = Path(args.config).resolve()
    config = load_config(config_path)
    # Only the pipelines: the Job in the cluster runs this on a read-only root filesystem.
    packages = compile_pipelines(config, config_path, Path(args.output_dir), args.target)
    created = schedule_pipelines(config.schedule, packages, host=args.host, service_account=config.cluster.service_account)
    host = args.host or config.schedule.kfp_host
    for run in created:
        print(f"scheduled {run['pipeline']} at '{run['cron']}' on {host}: recurring run {run['recurring_run_id']}")
    if not created:
        print("no cron set in cnai.yaml's schedule section: nothing scheduled")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import webbrowser

    from cnai.report import build_report

    config, _, home = open_project(args)
    page = build_report(home / "report.html")
    print(f"wrote {page.as_uri()}")
    if os.environ.get("DISPLAY") and not args.no_open:
        webbrowser.open(page.as_uri())
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from cnai.lineage import trace_served_model

    config, _, _ = open_project(args)
    print(trace_served_model(config.settings.model_name, args.version))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from cnai.steps.deploy import stop_server

    config, _, _ = open_project(args)
    stopped = stop_server(config.settings.model_name)
    print("stopped the model server" if stopped else "no model server was running")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from cnai.data import generate, write_table

    flights, weather = generate(args.rows, seed=args.seed, drift=args.drift)
    out = Path(args.output_dir)
    for name, frame in (("flights", flights), ("weather", weather)):
        print(f"wrote {write_table(frame, out / f'{name}.{args.format}')} ({len(frame)} rows)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnai", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="cnai.yaml", help="project configuration (default: ./cnai.yaml)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run the training pipeline locally and serve the model if the gate approves")
    run.add_argument("--sample-rows", type=int, default=None, help="use only the first N events (a quick run)")
    run.add_argument("--no-cache", action="store_true", help="re-run every step even if its inputs did not change")
    run.set_defaults(handler=cmd_run)
    comp = verbs.add_parser("compile", help="write the pipeline and each component as KFP YAML")
    comp.add_argument("--output-dir", default="build", help="where to write (default: build/)")
    comp.add_argument("--target", choices=TARGETS, default=None, help="backends the steps use (default: settings.target)")
    comp.set_defaults(handler=cmd_compile)
    lineage = verbs.add_parser("lineage", help="trace the served model back to its data")
    lineage.add_argument("--version", default=None, help="a registered version (default: the one in production)")
    lineage.set_defaults(handler=cmd_lineage)
    mon = verbs.add_parser("monitor", help="run the monitoring pipeline: drift check, and on drift retrain behind the gate")
    mon.add_argument("--current", default="", help="data to check (default: the model server's inference log)")
    mon.add_argument("--since", default="", help="only log rows at or after this ISO time")
    mon.add_argument("--retrain-events", default="", help="labelled events to retrain on (default: the configured source)")
    mon.add_argument("--retrain-features", default="", help="feature table to retrain with (default: the configured source)")
    mon.add_argument("--no-cache", action="store_true", help="re-run every step even if its inputs did not change")
    mon.set_defaults(handler=cmd_monitor)
    drift = verbs.add_parser("drift", help="demo: in-distribution then shifted traffic to the served model, a monitoring run after each")
    drift.add_argument("--rows", type=int, default=2000, help="rows of traffic per phase (default 2000)")
    drift.set_defaults(handler=cmd_drift)
    report = verbs.add_parser("report", help="one HTML page with every step of the last run and its visual artifacts")
    report.add_argument("--no-open", action="store_true", help="do not open it in a browser")
    report.set_defaults(handler=cmd_report)
    sched = verbs.add_parser("schedule", help="upload the pipelines to Kubeflow Pipelines and create recurring runs")
    sched.add_argument("--host", default=None, help="KFP API endpoint (default: schedule.kfp_host in cnai.yaml)")
    sched.add_argument("--output-dir", default="build", help="where the compiled pipelines are written (default: build/)")
    sched.add_argument("--target", choices=TARGETS, default="kubeflow",
                       help="backends the scheduled steps use (default: kubeflow, the cluster's services)")
    sched.set_defaults(handler=cmd_schedule)
    serve = verbs.add_parser("serve", help="serve the production version if nothing is serving it")
    serve.set_defaults(handler=cmd_serve)
    stop = verbs.add_parser("stop", help="stop the local model server")
    stop.set_defaults(handler=cmd_stop)
    generate = verbs.add_parser("generate", help="write nycflights13-shaped tables of any size, for benchmarks and drift tests")
    generate.add_argument("--rows", type=int, default=100_000, help="number of flights (default 100000)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--drift", type=float, default=0.0, help="0..1: shift weather, carrier mix and late departures")
    generate.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    generate.add_argument("--output-dir", default=".cnai/generated")
    generate.set_defaults(handler=cmd_generate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except CnaiError as exc:
        print(f"cnai: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
