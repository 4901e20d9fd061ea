"""`cnai`: the verbs the Makefile calls. Each maps to a pipeline concept.

  cnai init       write a first cnai.yaml for a table, or for events and side tables (types, task, split, features, views inferred)
  cnai run        run the training pipeline locally (kfp.local), then print each step and the endpoint
  cnai compile    write the pipeline and every component as KFP YAML
  cnai report     one HTML page for the last run: every step's visuals, carbon per step
  cnai ui         the runs as DAGs, charts, lineage and monitoring history on 127.0.0.1, beside MLflow's UI
  cnai lineage    trace the served model back to its data, step by step
  cnai monitor    drift check on served traffic; on drift, retrain through the training pipeline's gate
  cnai schedule   upload the pipelines to Kubeflow Pipelines and create nightly recurring runs
  cnai serve      serve the production version (if nothing serves it yet); --version N makes N production
  cnai stop       stop the local model server
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from cnai.core.config import MIN_SAMPLE_ROWS, TARGETS, load_config
from cnai.core.errors import CnaiError
from cnai.orchestration.project import open_project


def cmd_init(args: argparse.Namespace) -> int:
    from cnai.core.config import load_config
    from cnai.core.errors import ConfigError
    from cnai.core.sources import PACKAGE_PREFIX, as_package_file, is_parquet
    from cnai.orchestration.init_project import add_feature_sources, project_config, write_project

    # `cnai init TABLE` writes --config; `cnai init DIR --data EVENTS [--data SIDE ...]` writes DIR/cnai.yaml.
    tables = args.tables or [args.data]
    target = (Path(args.data) / "cnai.yaml" if args.tables else Path(args.config)).resolve()
    if args.tables and Path(args.data).is_file():
        raise ConfigError(f"{args.data}: with --data, the first argument is the project folder to write, not a table")
    if len(tables) > 1 and not args.entity:
        raise ConfigError(f"--data: {len(tables) - 1} side table(s) beside the events; pass --entity, the key column "
                          "they are joined on")

    def relative(source: str) -> str:  # paths in cnai.yaml are relative to it; an installed package's file is named by it
        if source.startswith(PACKAGE_PREFIX) or "://" in source:
            return source
        return as_package_file(Path(source)) or os.path.relpath(Path(source).resolve(), target.parent)

    def format_of(source: str) -> str:  # a folder of Parquet files too, as pandas and Spark write them
        return args.format or ("parquet" if source.endswith((".parquet", ".pq")) or is_parquet(Path(source)) else "csv")

    config, notes, to_do = project_config(tables[0], args.label, format_of(tables[0]), args.task, args.timestamp, args.model)
    if args.entity:
        side = tables[1:]
        if len(args.entity) not in (1, len(side)):
            raise ConfigError(f"--entity: given {len(args.entity)} times for {len(side)} side table(s); give it once "
                              "for all, or once per side table in the order of --data")
        add_feature_sources(config, notes, [(t, format_of(t)) for t in side], args.entity * len(side) if len(args.entity) == 1
                            else args.entity)
    config["data"]["events"]["source"] = relative(tables[0])
    for source in config["data"].get("feature_sources", []):
        source["source"] = relative(source["source"])
    write_project(target, config, notes, args.force, to_do)
    load_config(target)  # what was written must be a configuration `cnai run` accepts
    print(f"wrote {target}:\n" + "\n".join(f"  {note}" for note in notes))
    if to_do:  # written, so that the change is a line in it; not a success: `cnai init ... && cnai run` stops here
        print("Before cnai run, change what the run refuses as it is:\n" + "\n".join(f"  {item}" for item in to_do),
              file=sys.stderr)
        return 1
    print("Review it, then: cnai run")
    return 0


def sample_rows(text: str) -> int:
    """--sample-rows as settings.sample_rows takes it."""
    try:
        rows = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if rows < MIN_SAMPLE_ROWS:
        raise argparse.ArgumentTypeError(f"{rows}: at least {MIN_SAMPLE_ROWS} (as settings.sample_rows); fewer leave the "
                                         "splits and the gate too few rows of each class to judge")
    return rows


def cmd_run(args: argparse.Namespace) -> int:
    from cnai.backends.local import warm_steps

    # Its imports are the first step's wait: they start before ours and the configuration's checks.
    warm_steps.start()
    from cnai.orchestration.training import run_training

    config, config_path, _ = open_project(args)
    return 0 if run_training(config, config_path, args.sample_rows, use_cache=not args.no_cache) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from cnai.backends.registry import default_registry_uri
    from cnai.orchestration.serve import print_endpoint, serve_production

    config, _, home = open_project(args)
    if args.version is not None:
        from cnai.orchestration.serve import make_production

        print(make_production(default_registry_uri(home), config.model_name, args.version))
    serve_production(config, default_registry_uri(home), by_hand=args.version is not None)
    print_endpoint(config, deployed=None)  # `cnai serve` is not a run
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from cnai.backends.local.deployment import serving_dir
    from cnai.backends.local.model_server import inference_log_dir
    from cnai.orchestration.monitor import monitor, retrain_outcome
    from cnai.orchestration.serve import print_endpoint, print_serving_after_failure

    config, config_path, _ = open_project(args)
    if args.current and "://" not in args.current and not Path(args.current).exists():
        raise CnaiError(f"--current {args.current}: no such file or folder; give a table of new rows (CSV or Parquet) "
                        "or an inference log folder")
    for given in [args.retrain_events or "", *(spec.split("=", 1)[-1] for spec in args.retrain_features or [])]:
        if given and "://" not in given and not given.startswith("package:") and not Path(given).exists():
            raise CnaiError(f"--retrain-events/--retrain-features {given}: no such file; give the newly labelled rows")
    if args.since:
        import pandas as pd

        try:
            pd.Timestamp(args.since)
        except ValueError as exc:
            raise CnaiError(f"--since {args.since!r}: not a time; give ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00Z") from exc
    current = args.current or str(inference_log_dir(serving_dir(), config.model_name))
    if not args.current:
        from cnai.core.inference_log import count_rows

        since = f" since {args.since}" if args.since else ""
        logged, needed = count_rows(current, args.since, at_most=config.monitoring.min_rows), config.monitoring.min_rows
        if not logged:  # a freshly served model: not a failure
            print(f"No traffic logged for {config.model_name}{since} ({current}): nothing to check yet.")
            return 0
        if logged < needed:  # said before Spark and the pipeline start, which would decide nothing
            print(f"Only {logged} row(s) logged for {config.model_name}{since} ({current}): too few to judge "
                  f"(monitoring.min_rows {needed}); nothing to check yet.")
            return 0
    ok, rows = monitor(config, config_path, current, args.since, args.retrain_events, args.retrain_features, not args.no_cache)
    if outcome := retrain_outcome(rows, args.retrain_events, from_log=not args.current):
        print(outcome)
    if ok:
        print_endpoint(config, any(r["step"] == "deploy" and r["status"] == "ran" for r in rows))
    elif any(r["step"] == "deploy" and r["status"] == "ran" for r in rows):  # failed after it: the smoke test
        print_serving_after_failure(config)
    return 0 if ok else 1


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile the pipelines and components, and refresh the files generated from the code."""
    from cnai.orchestration.compile import compile_all

    config_path = Path(args.config).resolve()
    compile_all(load_config(config_path), config_path, Path(args.output_dir), args.target)
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from cnai.orchestration.compile import compile_pipelines
    from cnai.orchestration.schedule import schedule_pipelines

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


def cmd_ui(args: argparse.Namespace) -> int:
    from cnai.backends.registry import default_registry_uri
    from cnai.orchestration.ui import serve_ui, start_mlflow_ui

    config, _, home = open_project(args)
    port = args.port or config.settings.ui_port
    mlflow, mlflow_url = None, ""
    if not args.no_mlflow:
        mlflow_port = args.mlflow_port or config.settings.mlflow_ui_port
        mlflow = start_mlflow_ui(default_registry_uri(home), mlflow_port, home / "logs" / "mlflow-ui.log")
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        print(f"MLflow's UI (runs, metrics compared, the registry): {mlflow_url}  (log {home / 'logs' / 'mlflow-ui.log'})")
    print(f"cnai ui (run DAGs, charts, lineage, monitoring): http://127.0.0.1:{port}  (Ctrl-C stops both)")
    try:
        serve_ui(config.model_name, port, mlflow_url)
    finally:
        if mlflow is not None:
            mlflow.terminate()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import webbrowser

    from cnai.orchestration.report import build_report

    config, _, home = open_project(args)
    page = build_report(home / "report.html")
    print(f"wrote {page.as_uri()}")
    if os.environ.get("DISPLAY") and not args.no_open:
        webbrowser.open(page.as_uri())
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from cnai.orchestration.lineage import trace_served_model

    config, _, _ = open_project(args)
    print(trace_served_model(config.model_name, args.version))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from cnai.backends.local.deployment import project_servers, stop_server
    from cnai.core.errors import ConfigError
    from cnai.orchestration.project import home_without_config

    try:
        config, _, _ = open_project(args)
        name: str | None = config.model_name
    except ConfigError as exc:  # a broken cnai.yaml must not leave its servers running
        home, which = home_without_config(Path(args.config).resolve())
        if not home.is_dir():
            raise ConfigError(f"{exc}; and no run directory at {home} ({which}) to stop servers in") from exc
        print(f"cnai: {exc}\n{args.config} does not load; stopping the model servers of the run directory {home} "
              f"({which})", file=sys.stderr)
        os.environ["CNAI_HOME"] = str(home)
        name = None
    stopped = stop_server(name) if name else False
    others = [n for n in project_servers() if n != name]
    for other in others:
        stop_server(other)
        print(f"stopped this project's model server for {other!r}"
              + (" (the model's name before cnai.yaml changed)" if name else ""))
    if name:
        print("stopped the model server" if stopped else f"no model server was running for {name!r}")
    elif not others:
        print("no model server of this project was running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnai", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="cnai.yaml", help="project configuration (default: ./cnai.yaml)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    init = verbs.add_parser("init", help="write a first cnai.yaml (at --config, or in DIR with --data) for CSV or Parquet tables")
    init.add_argument("data", help="the table (a path, a URI, or package:<module>/<path>); with --data, the project "
                                   "folder to write cnai.yaml into")
    init.add_argument("--data", dest="tables", action="append", default=[], metavar="PATH",
                      help="a table: first the labelled events, then side tables joined on --entity (each a Feast "
                           "FeatureView: as of the events' time when it has a time column, else static)")
    init.add_argument("--entity", action="append", default=[], metavar="COLUMN[=KEY]",
                      help="the events' column the side tables are joined on; COLUMN=KEY when a side table names its "
                           "key otherwise (dest=faa); once for all side tables, or once per side table in order")
    init.add_argument("--label", required=True, help="the column to predict")
    init.add_argument("--task", default=None, help="binary, multiclass or regression (default: inferred from the label)")
    init.add_argument("--timestamp", default=None, help="the time column for a time split (default: the first one found)")
    init.add_argument("--model", default="hist_gradient_boosting", help="the model kind whose search space to write: hist_gradient_boosting (default), "
                      "xgboost, lightgbm or torch_tabular (others: set model.kind and tuning.parameters by hand)")
    init.add_argument("--format", choices=("csv", "parquet"), default=None, help="default: from the file name")
    init.add_argument("--force", action="store_true", help="replace an existing configuration")
    init.set_defaults(handler=cmd_init)
    run = verbs.add_parser("run", help="run the training pipeline locally and serve the model if the gate approves")
    run.add_argument("--sample-rows", type=sample_rows, default=None,
                     help=f"use only the first N events (a quick run; at least {MIN_SAMPLE_ROWS})")
    run.add_argument("--verbose", action="store_true", help="stream every step's whole output (it always goes to the step's log)")
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
    mon.add_argument("--current", default="", help="data to check: a table of the model's features, or raw events as data.events has them "
                          "(typed and joined as training does); default: the model server's inference log")
    mon.add_argument("--since", default="", help="only log rows at or after this ISO time")
    mon.add_argument("--retrain-events", default="", help="labelled events to retrain on (default: the configured source)")
    mon.add_argument("--retrain-features", action="append", default=[], metavar="[VIEW=]PATH",
                     help="a feature table to retrain with, for the view named (VIEW= may be left out when there is "
                          "one); repeat per view (default: the configured sources)")
    mon.add_argument("--no-cache", action="store_true", help="re-run every step even if its inputs did not change")
    mon.add_argument("--verbose", action="store_true", help="stream every step's whole output (it always goes to the step's log)")
    mon.set_defaults(handler=cmd_monitor)
    report = verbs.add_parser("report", help="one HTML page with every step of the last run and its visual artifacts")
    report.add_argument("--no-open", action="store_true", help="do not open it in a browser")
    report.set_defaults(handler=cmd_report)
    ui = verbs.add_parser("ui", help="serve the runs as DAGs, charts, lineage and monitoring history on 127.0.0.1, with MLflow's UI")
    ui.add_argument("--port", type=int, default=None, help="port for cnai's pages (default: settings.ui_port)")
    ui.add_argument("--mlflow-port", type=int, default=None, help="port for MLflow's UI (default: settings.mlflow_ui_port)")
    ui.add_argument("--no-mlflow", action="store_true", help="do not start MLflow's UI beside it")
    ui.set_defaults(handler=cmd_ui)
    sched = verbs.add_parser("schedule", help="upload the pipelines to Kubeflow Pipelines and create recurring runs")
    sched.add_argument("--host", default=None, help="KFP API endpoint (default: schedule.kfp_host in cnai.yaml)")
    sched.add_argument("--output-dir", default="build", help="where the compiled pipelines are written (default: build/)")
    sched.add_argument("--target", choices=TARGETS, default="kubeflow",
                       help="backends the scheduled steps use (default: kubeflow, the cluster's services)")
    sched.set_defaults(handler=cmd_schedule)
    serve = verbs.add_parser("serve", help="serve the production version if nothing is serving it")
    serve.add_argument("--version", default=None,
                       help="first make this registered version production, over the gate's decision (to retire a "
                            "production model found to leak, or to roll back)")
    serve.set_defaults(handler=cmd_serve)
    stop = verbs.add_parser("stop", help="stop the local model server")
    stop.set_defaults(handler=cmd_stop)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "verbose", False):
        from cnai.orchestration.console import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # kfp.local's tasks inherit it
    try:
        return args.handler(args)
    except CnaiError as exc:
        print(f"cnai: {exc}", file=sys.stderr)
        return 2


def _output_gone() -> bool:
    """Whether stdout is a pipe whose reader has gone (the kernel flags its write end)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError):
        return False


def entry() -> NoReturn:
    """`cnai` as a program: `main`, then an exit that does what the interpreter's does (threads
    joined, `atexit` hooks such as logging's, streams flushed) except tearing down every library a
    run imported, which took a second or more after the run had ended. An uncaught exception is
    raised as usual. (Tests call `main` in their own process.)"""
    from cnai.core.processes import begin_exit, flush_standard_streams

    try:
        code = main()
    except BrokenPipeError:  # `cnai lineage | head -3`: the reader has gone; as a Unix tool ends (SIGPIPE)
        if not _output_gone():
            raise  # another pipe than the output: a failure to show as it is
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    begin_exit()
    flush_standard_streams()
    os._exit(0 if code is None else int(code))  # as sys.exit(None) and sys.exit(2) end


if __name__ == "__main__":
    entry()
