"""Running a pipeline on this machine (kfp.local), and the table of its steps read back from lineage."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from cnai.orchestration.catalog import main_outputs, pipeline_steps, step_name


def code_fingerprint(model_kind: str = "") -> str:
    """Hash of every source file of the installed package, and of the project's own model code
    (`module:function`): the local cache is valid for one code version."""
    import cnai
    import cnai.feature_repo

    roots = {Path(cnai.__file__).parent, Path(cnai.feature_repo.__file__).parent}
    if ":" in model_kind:
        from cnai.models.user_code import module_files

        roots.add(module_files(model_kind))
    digest = hashlib.sha256()
    for root in sorted(roots):
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.suffix in (".py", ".yaml", ".json") and not {"__pycache__", "tests"} & set(path.parts):
                digest.update(str(path.relative_to(root.parent if root.is_file() else root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def keep_executor_arguments() -> None:
    """kfp 2.17's SubprocessRunner rewrites every `python3` in a task's command to this interpreter,
    the executor input included: a data path under site-packages (`.../python3.11/...`) arrives
    corrupted. As in kubeflow/pipelines#14459, substitute only before the component's source."""
    from kfp.local import subprocess_task_handler as handler

    if getattr(handler.replace_python_executable, "cnai", False):
        return

    def replace_python_executable(full_command: list[str], new_executable: str) -> list[str]:
        boundary = next((i + 1 for i, el in enumerate(full_command)
                         if '"$program_path/ephemeral_component.py"' in el and '"$@"' in el), len(full_command))
        return [el.replace("python3", new_executable) for el in full_command[:boundary]] + full_command[boundary:]

    replace_python_executable.cnai = True
    handler.replace_python_executable = replace_python_executable


def one_spark(arguments: dict[str, Any], home: Path):
    """The run's one Spark (a Spark Connect server every step connects to), for a `with` around the
    whole run: started first, its JVM's start overlaps the checks, the compile and kfp.local's own
    start. Nothing for a cluster's Spark, or when no table needs one (`why_spark`). The warm
    interpreter the steps fork from starts with it."""
    from contextlib import nullcontext

    from cnai.backends.local import warm_steps
    from cnai.backends.local.spark import connect_server

    warm_steps.start()

    master = str(arguments.get("spark_master", ""))
    if not master.startswith("local") or not why_spark(arguments, home):
        return nullcontext()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return connect_server(master, home / "logs" / f"spark-{stamp}-{uuid.uuid4().hex[:8]}.log",
                          say=lambda text: print(text, flush=True), input_bytes=input_bytes(arguments, home))


def why_spark(arguments: dict[str, Any], home: Path) -> str:
    """Why the run's tables need Spark: the first one's reason; "" when each is a small CSV its
    ingest step types in its own process with DuckDB (cnai.backends.local.small_tables), and the
    run starts no JVM. A step that meets a value only Spark reads right starts a Spark of its own."""
    from cnai.backends.tables import spark_needed
    from cnai.core.config import CSV_ENCODING
    from cnai.core.sources import resolve_source

    events = {"name": "events", "source": arguments.get("events_source"), "format": arguments.get("events_format", "csv"),
              "encoding": arguments.get("events_encoding"), "columns": arguments.get("events_columns") or {},
              "derived_columns": arguments.get("events_derived_columns") or {}}
    for table in [events, *(arguments.get("feature_sources") or [])]:
        if not table.get("source"):
            continue
        why = spark_needed(resolve_source(table["source"], home / "data"), table["columns"], table.get("derived_columns"),
                           table.get("format") or "csv", str(arguments.get("spark_master", "local[*]")),
                           table.get("encoding") or CSV_ENCODING)
        if why:
            return f"{table['name']}: {why}"
    return ""


def input_bytes(arguments: dict[str, Any], home: Path) -> int | None:
    """How much the run's tables take to read (the events and every feature source), or None when
    there are none or one is remote."""
    from cnai.core.sources import resolve_source, source_bytes

    sources = [arguments.get("events_source"), *(t.get("source") for t in arguments.get("feature_sources") or [])]
    sizes = [source_bytes(resolve_source(s, home / "data")) for s in sources if s]
    return sum(sizes) if sizes and None not in sizes else None


def _drifted_named(drifted: list[str], most: int = 5) -> str:
    """The drifted features as a table cell names them: the first few."""
    return ", ".join(drifted[:most]) + (", ..." if len(drifted) > most else "")


def _drift(facts: dict[str, Any]) -> str:
    """What the drift was detected in: the features (a share of them at the threshold or over decides
    alone), the predictions, or both; a new user read "drift detected in age, yrs_married" where 2 of
    7 features were under the threshold and the predictions had decided it."""
    drifted, share = facts.get("drifted_features") or [], facts.get("drift_share") or 0.0
    threshold = facts.get("drift_share_threshold")
    named = _drifted_named(drifted)
    if not facts.get("prediction_drifted"):
        return f"drift detected in {named or 'the predictions'}"
    if not drifted:
        return "drift detected in the predictions"
    if threshold is not None and share < threshold:
        return (f"drift detected in the predictions (and in {named}: {share:.0%} of features, under "
                f"monitoring.drift_share_threshold {threshold})")
    return f"drift detected in {named} and in the predictions"


def _no_drift(facts: dict[str, Any]) -> str:
    """Why nothing was retrained: the features that drifted, too few of them, and a steady prediction."""
    drifted, checked = facts.get("drifted_features") or [], facts.get("features_checked")
    if not drifted or checked is None:
        return "no drift"
    return (f"no drift: {len(drifted)} of {checked} features drifted ({_drifted_named(drifted)}), "
            f"{facts.get('drift_share', 0):.0%} < monitoring.drift_share_threshold "
            f"{facts.get('drift_share_threshold')}, and the predictions did not")


def run_locally(pipeline, pipeline_name: str, arguments: dict[str, Any], home: Path,
                use_cache: bool, began: float | None = None) -> tuple[bool, list[dict[str, Any]]]:
    """Run a pipeline under kfp.local, then print one row per step from its lineage events (the
    caller starts the run's one Spark around it: `one_spark`). `began`: when the command began
    (`time.perf_counter()`), said beside the pipeline's own time."""
    from kfp import local

    keep_executor_arguments()
    run_id = str(uuid.uuid4())
    os.environ["CNAI_PIPELINE_RUN_ID"] = run_id
    os.environ["CNAI_PIPELINE_NAME"] = pipeline_name
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(home / "pipeline_root"),
        enable_caching=use_cache,
        # The package's code keys the whole cache; a team's own model code keys only the steps that
        # fit it (their `model_code` input), so an edit to it does not re-run the data steps.
        cache_root=str(home / "kfp_cache" / code_fingerprint()),
        raise_on_error=True,
    )
    from cnai.orchestration.console import StepConsole, quiet_kfp_local

    print(f"Running {pipeline_name} (run {run_id}) on kfp.local; run directory {home}", flush=True)
    started = time.perf_counter()
    failed = None
    console = StepConsole(run_id, home / "logs" / f"{pipeline_name}-{run_id}.log")
    try:
        with console, quiet_kfp_local(console, pipeline.pipeline_spec.components):
            pipeline(**arguments)
    except Exception as exc:  # the step's log says why; the table below says where
        failed = exc
    finally:
        from cnai.backends.local.spark import stop_soon

        stop_soon()  # no step is left to use the run's Spark: its stop overlaps the table and the record
    elapsed = time.perf_counter() - started
    # A new user read "succeeded in 7 s" against 15 s on the clock: what came first is said too.
    from cnai.backends.local.spark import REMOTE_ENV

    first = "the run's Spark, the checks and the compile" if os.environ.get(REMOTE_ENV) else "the checks and the compile"
    since = f" ({time.perf_counter() - began:.0f} s since the command began: {first} come first)" if began is not None else ""
    rows = step_rows(run_id, pipeline_steps(pipeline), failed_task(failed))
    run_dir = artifacts_of(rows, home / "pipeline_root")
    if run_dir:
        print(f"\nArtifacts of this run: {run_dir}")
        for row in rows:
            row["output"] = row["output"].replace(f"{run_dir}/", "")
    print_table(rows)
    if failed is not None:
        for row in (r for r in rows if r["status"] == "FAILED"):  # the cause, whole (the table cuts it)
            print(f"\n{row['step']} failed: {row['output']}", file=sys.stderr)
            if row["step"] in console.logs:
                print(f"its whole output: {console.logs[row['step']]}", file=sys.stderr)
        import re

        stopped_at = (", ".join(r["step"] for r in rows if r["status"] == "FAILED")
                      or re.sub(r"\x1b\[[0-9;]*m", "", str(failed)))  # kfp.local colours its messages
        print(f"\nPipeline FAILED after {elapsed:.0f} s{since}, at {stopped_at}. kfp.local's own log: {console.log_file}",
              file=sys.stderr)
        _record(pipeline_name, run_id, arguments, rows, False, elapsed, run_dir)
        return False, rows
    print(f"\nPipeline succeeded in {elapsed:.0f} s{since}.")
    _record(pipeline_name, run_id, arguments, rows, True, elapsed, run_dir)
    return True, rows


def _record(pipeline_name: str, run_id: str, arguments: dict[str, Any], rows: list[dict[str, Any]], ok: bool,
            elapsed: float, run_dir: Path | None) -> str | None:
    """record_in_mlflow in the run's warm interpreter, which has imported MLflow while the steps ran:
    `cnai` would take seconds to import it again after the last step, for one record."""
    from cnai.backends.local.warm_steps import call_in_fork

    return call_in_fork(record_in_mlflow, pipeline_name=pipeline_name, run_id=run_id, arguments=arguments, rows=rows,
                        ok=ok, elapsed=elapsed, run_dir=str(run_dir) if run_dir else None)


def record_in_mlflow(pipeline_name: str, run_id: str, arguments: dict[str, Any], rows: list[dict[str, Any]], ok: bool,
                     elapsed: float, run_dir: Path | str | None) -> str | None:
    """The run in MLflow Tracking, in the registry's store: its parameters, each step's duration,
    energy and CO2, the holdout scores and the gate's, tagged with the run id, code version and
    status. A store that cannot be written is said, and the run's outcome stands."""
    import json

    from cnai.backends.registry import record_pipeline_run
    from cnai.core.errors import CnaiError

    if not arguments.get("registry_uri") or not arguments.get("model_name"):
        return None
    params = {k: v if isinstance(v, str | int | float | bool) else json.dumps(v, default=str, sort_keys=True)
              for k, v in arguments.items() if k not in ("cluster", "expectation_suite")}
    metrics: dict[str, float] = {"duration_s": round(elapsed, 3)}
    for row in rows:
        for key, value in (("duration_s", row["duration_s"]), ("energy_kwh", row["energy_kwh"]), ("co2_kg", row["co2_kg"])):
            if value is not None:
                metrics[f"{row['step']}.{key}"] = float(value)
        facts = row.get("facts") or {}
        metrics.update({f"holdout.{name}": float(score) for name, score in (facts.get("scores") or {}).items()})
        metrics.update({f"gate.{name}": float(facts[name]) for name in ("candidate_score", "production_score")
                        if isinstance(facts.get(name), int | float)})
    metrics["total.energy_kwh"] = sum(r["energy_kwh"] or 0.0 for r in rows)
    metrics["total.co2_kg"] = sum(r["co2_kg"] or 0.0 for r in rows)
    steps = {row["step"]: row for row in rows}
    tags = {"cnai.pipeline_run_id": run_id, "cnai.pipeline": pipeline_name, "cnai.status": "succeeded" if ok else "failed",
            "cnai.code_version": code_fingerprint(), "mlflow.source.git.commit": os.environ.get("CNAI_GIT_COMMIT", ""),
            "cnai.artifacts": Path(run_dir).resolve().as_uri() if run_dir else "",
            "cnai.registered_version": str((steps.get("register") or {}).get("facts", {}).get("version", "")),
            "cnai.gate": str((steps.get("evaluate") or {}).get("facts", {}).get("reason", ""))[:4000],
            "cnai.steps": ", ".join(f"{r['step']}: {r['status']}" for r in rows)}
    try:
        recorded = record_pipeline_run(arguments["registry_uri"], arguments["model_name"],
                                       f"{pipeline_name}-{run_id[:8]}", params, metrics, tags)
    except CnaiError as exc:
        print(f"The run was not recorded in MLflow Tracking: {exc}", file=sys.stderr)
        return None
    if recorded:
        print(f"Recorded in MLflow Tracking ({arguments['registry_uri']}): experiment cnai/{arguments['model_name']}, "
              f"run {recorded} (`cnai ui` shows it, with MLflow's UI)")
    return recorded


def artifacts_of(rows: list[dict[str, Any]], pipeline_root: Path) -> Path | None:
    """This run's directory under the pipeline root, from where its own steps wrote (the newest
    directory would be another run's when two run at once); None if no step of it ran."""
    root = pipeline_root.resolve()
    for row in rows:
        for value in (row.get("outputs") or {}).values():
            try:
                relative = Path(str(value).removeprefix("file://")).resolve().relative_to(root)
            except ValueError:
                continue
            return pipeline_root / relative.parts[0]
    return None


def failed_task(failure: BaseException | None) -> str | None:
    """The step kfp.local says failed ("... Inner task failed: 'train'."), as the steps are named."""
    import re

    found = re.search(r"Inner task failed: (?:\x1b\[[0-9;]*m)?'([^']+)'", str(failure or ""))
    if not found:
        return None
    task = re.sub(r"-\d+$", "", found.group(1)).replace("-", "_")  # KFP numbers a repeated task: train-2
    return step_name(task)


def step_rows(run_id: str, expected_steps: list[str], failed_step: str | None = None) -> list[dict[str, Any]]:
    """One row per step of this run, from its OpenLineage events; steps with none were cached or
    skipped. `failed_step` is the one kfp.local says failed: it fails after its own work was
    recorded (writing its outputs) or before it started, so its events may say nothing of it."""
    from cnai.core.tracking import event_outputs, read_events

    main_output = main_outputs()
    events = [e for e in read_events() if (e["run"]["facets"].get("parent") or {}).get("run", {}).get("runId") == run_id]
    rows = []
    for event in (e for e in events if e["eventType"] in ("COMPLETE", "FAIL")):
        facets = event["run"]["facets"]
        step = facets.get("cnai_step", {})
        facts = step.get("facts", {})
        carbon = facets.get("cnai_carbon", {})
        name = event["job"]["name"].rsplit(".", 1)[-1]
        outputs = {argument: str(path) for argument, path in event_outputs(event).items()}
        main = {"deploy": facts.get("summary") or facts.get("endpoint"), "evaluate": facts.get("reason"),
                "register": f"version {facts.get('version')}", "features": facts.get("summary"),
                "validate": (f"{facts['rows_valid']} rows valid, {facts['rows_quarantined']} quarantined"
                             if "rows_valid" in facts else None),
                "drift_check": (_drift(facts) if facts.get("drift_detected") else
                                f"too few rows to judge ({facts.get('current_rows')} < monitoring.min_rows "
                                f"{facts.get('min_rows')}): nothing decided" if facts.get("too_few_rows") else _no_drift(facts))}.get(name) or outputs.get(main_output.get(name, ""), "")
        if event["eventType"] == "FAIL":
            main = facets.get("errorMessage", {}).get("message", "failed")
        rows.append({"step": name, "status": "ran" if event["eventType"] == "COMPLETE" else "FAILED",
                     "duration_s": step.get("duration_s"), "energy_kwh": carbon.get("energy_kwh"),
                     "co2_kg": carbon.get("emissions_kg_co2eq"), "output": main, "facts": facts,
                     "outputs": outputs})
    if failed_step and not any(r["status"] == "FAILED" for r in rows):
        recorded = next((r for r in rows if r["step"] == failed_step), None)
        if recorded is None:
            recorded = {"step": failed_step, "duration_s": None, "energy_kwh": None, "co2_kg": None, "facts": {}, "outputs": {}}
            rows.append(recorded)
        recorded.update(status="FAILED", output=f"kfp.local failed the {failed_step} step outside its own work; see its log")
    failed = any(r["status"] == "FAILED" for r in rows)
    drift = next((r for r in rows if r["step"] == "drift_check"), None)
    gate = next((r for r in rows if r["step"] == "evaluate"), None)
    # In a failed run, a step without events before the last one that ran (pipeline order) came
    # from the cache (a later step started, so it had finished); the ones after it never ran.
    last_active = max((i for i, step in enumerate(expected_steps) if any(r["step"] == step for r in rows)), default=-1)
    ordered = []
    for index, step in enumerate(expected_steps):  # pipeline order; a step without events was cached or skipped
        found = next((r for r in rows if r["step"] == step), None)
        if found is not None:
            rows.remove(found)
            ordered.append(found)
            continue
        if failed:
            status = "cached" if index < last_active else "not run"
        elif drift is not None and not drift["facts"].get("drift_detected"):
            status = "skipped (too few rows)" if drift["facts"].get("too_few_rows") else "skipped (no drift)"
        elif step in ("deploy", "smoke_test") and gate is not None:
            status = "skipped (gate: keep production)"
        else:
            status = "cached"
        ordered.append({"step": step, "status": status, "duration_s": None, "energy_kwh": None, "co2_kg": None,
                        "output": "", "facts": {}})
    return ordered + rows


def _cell(output: str) -> str:
    """A step's main output as its table cell: the first line, at most 90 characters."""
    text = output.strip().splitlines()[0] if output.strip() else ""
    # A path is most telling at its end, a sentence at its start (our messages lead with what and where).
    path_like = " " not in text
    return text if len(text) <= 90 else ("…" + text[-89:] if path_like else text[:89] + "…")


def print_table(rows: list[dict[str, Any]]) -> None:
    """The step table, then the gate's reason whole where the table cut it (nowhere else says it)."""
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    width = max([11, *(len(r["step"]) for r in rows)])
    header = f"{'step':<{width}} {'status':<31} {'duration':>9} {'energy kWh':>11} {'CO2 kg':>10}  main output"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['step']:<{width}} {r['status']:<31} {fmt(r['duration_s'], '8.1f') + 's' if r['duration_s'] is not None else '-':>9} "
              f"{fmt(r['energy_kwh'], '11.2e'):>11} {fmt(r['co2_kg'], '10.2e'):>10}  {_cell(r['output'])}")
    total_e = sum(r["energy_kwh"] or 0 for r in rows)
    total_c = sum(r["co2_kg"] or 0 for r in rows)
    print(f"{'total':<{width}} {'':<31} {'':>9} {total_e:11.2e} {total_c:10.2e}")
    # A failed step's cause is said whole by the caller; the gate's is the run's verdict.
    gate = next((r for r in rows if r["step"] == "evaluate" and r["status"] == "ran"), None)
    if gate is not None and _cell(gate["output"]) != gate["output"].strip():
        print(f"\nThe gate (evaluate): {gate['output'].strip()}")
