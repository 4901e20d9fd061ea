"""The monitoring pipeline on this machine: drift check on served traffic or a batch; on drift, retrain behind the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING, ProjectConfig
from cnai.core.errors import ConfigError, DataError
from cnai.orchestration.local_run import one_spark, run_locally
from cnai.orchestration.project import (
    check_before_running,
    export_settings,
    pipeline_arguments,
    with_feature_view,
)


def monitor(config: ProjectConfig, config_path: Path, current: str, since: str = "", events_source: str = "",
            feature_sources: list[str] | None = None, use_cache: bool = True) -> tuple[bool, list[dict[str, Any]]]:
    """Run the monitoring pipeline: drift check on `current`; on drift, retrain (optionally on new
    sources: `events_source`, and `[VIEW=]PATH` per feature view to replace)."""
    import time

    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME, monitoring_pipeline_for

    began = time.perf_counter()

    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path)
    if events_source:
        arguments.update(retrain_events_arguments(events_source))
    if feature_sources:
        arguments["feature_sources"] = _replaced_sources(config, arguments.get("feature_sources", []), feature_sources)
    check_before_running(config, config_path, arguments["registry_uri"])
    # Raw current events are typed here with a Spark of this process's own: PySpark cannot go back to
    # one after using the run's Spark Connect server, which starts after.
    current = prepared_current(config, arguments, current, home)
    arguments.update(current_data=str(Path(current).resolve()), monitoring_since=since, **config.monitoring.model_dump())
    with one_spark(arguments, home):
        return run_locally(monitoring_pipeline_for(with_feature_view(config)), PIPELINE_NAME, arguments, home, use_cache,
                           began)


def retrain_events_arguments(events_source: str) -> dict[str, str]:
    """The pipeline's events arguments for --retrain-events: its path, content hash and its own
    format, whatever data.events' is (a Parquet folder was read as a CSV: "the file has ['PAR1...']")."""
    from cnai.core.artifacts import content_hash
    from cnai.core.sources import is_parquet

    path = Path(events_source).resolve()
    return {"events_source": str(path), "events_hash": content_hash(str(path)),
            "events_format": "parquet" if is_parquet(path) else "csv"}


def retrain_hint(from_log: bool) -> str:
    """How to retrain on newly labelled rows, as this monitoring was asked for (the served traffic's
    log, or a table given with --current)."""
    return f"to train on newly labelled rows: cnai monitor {'' if from_log else '--current NEW '}--retrain-events NEW"


def retrain_outcome(rows: list[dict[str, Any]], retrain_events: str = "", from_log: bool = False) -> str | None:
    """What the retrain after drift did, from the run's step rows; None when there was none (said
    when --retrain-events was given for nothing). A train step from kfp's cache trained nothing:
    its inputs, so its model, are an earlier run's (a new user read "Retrained" and then the gate's
    "not better by +0.0000", the model against itself)."""
    hint = retrain_hint(from_log)
    if not any(r["step"] == "evaluate" and r["status"] in ("ran", "cached") for r in rows):
        if retrain_events and any(r["status"] == "skipped (no drift)" for r in rows):
            return (f"--retrain-events {retrain_events} was not used: the retrain runs on drift only; to train on it "
                    "now, name it as data.events in cnai.yaml and `cnai run`")
        return None
    kept = "the gate deployed the new model" if any(r["step"] == "deploy" and r["status"] == "ran" for r in rows) \
        else "the gate kept production"
    source = f"--retrain-events {retrain_events}" if retrain_events else "data.events as cnai.yaml names it"
    if any(r["step"] == "train" and r["status"] == "cached" for r in rows):
        return (f"The retrain found nothing new to train on: its steps came from kfp's cache ({source} is the data an "
                f"earlier run trained on, and the same data gives the same model), so {kept}; {hint}")
    if retrain_events:
        return None  # trained on the rows the user gave: the table says the rest
    return f"Retrained on {source}, all its rows ({kept}); {hint}"


def _replaced_sources(config: ProjectConfig, tables: list[dict[str, Any]], replacements: list[str]) -> list[dict[str, Any]]:
    """The feature sources with the views named in `replacements` (`[VIEW=]PATH`) read from new files."""
    from cnai.core.artifacts import content_hash

    names = [t["name"] for t in tables]
    if not names:
        raise ConfigError("--retrain-features: this project has no data.feature_sources to replace")
    replaced = {}
    for item in replacements:
        view, sep, path = item.partition("=")
        if not sep or not view.isidentifier():  # a path may hold "=" itself
            view, path = "", item
        if not view and len(names) > 1:
            raise ConfigError(f"--retrain-features {item}: this project has views {names}; name one, as VIEW=PATH")
        view = view or names[0]
        if view not in names:
            raise ConfigError(f"--retrain-features {item}: no view {view!r}; the project's views are {names}")
        if not Path(path).exists():
            raise ConfigError(f"--retrain-features {item}: {path} does not exist")
        replaced[view] = str(Path(path).resolve())
    return [{**t, "source": replaced[t["name"]], "hash": content_hash(replaced[t["name"]])} if t["name"] in replaced else t
            for t in tables]


def prepared_current(config: ProjectConfig, arguments: dict[str, Any], current: str, home: Path) -> str:
    """`current` as the model sees it. An inference log, or a table holding the model's features, is
    used as it is; raw events (the events table's declared columns, as training reads them) first
    go through training's typing, derived columns and feature views, as a step of their own
    (`prepare_current`, with lineage and carbon) writing into the run directory."""
    from cnai.components.monitoring.drift_check.executor import CSV_SUFFIXES
    from cnai.core.artifacts import content_hash
    from cnai.core.tracking import run_step

    path, data = Path(current), config.data
    if not path.is_file() or path.suffix not in (*CSV_SUFFIXES, ".parquet", ".pq"):
        return current  # an inference log folder, a Parquet folder, or nothing: the drift check says which
    present = _columns_of(path, data.events.delimiter, data.events.encoding)
    # Raw events are typed and joined as training does; a CSV of them, even one holding the model's
    # features already, goes through ingest so its dialect and types are the events' own.
    # Served traffic has no label yet: raw events need every declared column but the label itself.
    declared = [c for c in data.events.columns if c != data.label]
    if (set(data.model_features) <= present and path.suffix in (".parquet", ".pq")) or not set(declared) <= present:
        no_features = [c for c in data.model_features if c not in present]
        if no_features and (not_events := [c for c in declared if c not in present]):
            raise DataError(f"--current {current}: neither a table of the model's features (it lacks {no_features}) nor "
                            f"raw events as data.events declares them (it lacks {not_events}); add those columns")
        return current
    prepared = home / "monitoring" / f"current-{content_hash(str(path))[7:23]}"
    if not (prepared / "features").exists():
        from cnai.core.processes import output_to

        print(f"prepare_current: typing {current} and joining its feature views as training does "
              f"(its output: {prepared / 'step.log'})", flush=True)
        with output_to(prepared / "step.log"):  # Spark's and Feast's lines, as a pipeline step's
            kept = {k: arguments[k] for k in _PREPARE_ARGUMENTS if k in arguments}
            if data.label not in present and data.label in data.events.columns:  # typed without it
                kept["events_columns"] = {c: t for c, t in kept["events_columns"].items() if c != data.label}
            run_step("prepare_current", _prepare, inputs={"current": str(path)}, outputs={"features": str(prepared / "features")},
                     params={"arguments": kept,
                             "scratch": str(prepared / "scratch")})
    print(f"--current {current}: raw events, typed and joined as training does: {prepared / 'features'}")
    return str(prepared / "features")


_PREPARE_ARGUMENTS = ("events_columns", "events_derived_columns", "events_null_values", "events_delimiter",
                      "events_encoding", "events_decimal", "label", "timestamp", "event_features",
                      "feature_sources", "feature_views", "feature_refs", "feature_repo", "spark_master")


def _columns_of(path: Path, delimiter: str, encoding: str) -> set[str]:
    import pandas as pd
    import pyarrow.parquet as pq

    if path.suffix not in (".parquet", ".pq"):
        try:
            return set(pd.read_csv(path, nrows=0, sep=delimiter, encoding=encoding).columns)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataError(f"--current {path}: cannot be read as CSV ({exc})") from exc
    return set(pq.read_schema(path).names)


def _prepare(current: str, features: str, arguments: dict[str, Any], scratch: str) -> dict[str, Any]:
    import shutil

    from cnai.backends.tables import ingest_table
    from cnai.components.data.ingest_tables.executor import ingest_tables, source_inputs
    from cnai.components.features.feast_features.executor import build_training_set

    scratch_dir = Path(scratch)
    shutil.rmtree(scratch_dir, ignore_errors=True)
    events = str(scratch_dir / "events")
    ingest_table(current, events, arguments["events_columns"], arguments["events_derived_columns"],
                 "parquet" if current.endswith((".parquet", ".pq")) else "csv", arguments["spark_master"],
                 null_values=arguments.get("events_null_values") or [],
                 delimiter=arguments.get("events_delimiter") or CSV_DELIMITER,
                 encoding=arguments.get("events_encoding") or CSV_ENCODING, decimal=arguments.get("events_decimal") or CSV_DECIMAL)
    if not arguments.get("feature_sources"):
        shutil.copytree(events, features)
        return {"feature_views": 0}
    tables = arguments["feature_sources"]
    ingest_tables(str(scratch_dir / "tables"), tables, arguments["spark_master"], **source_inputs(tables))
    label = arguments["label"] if arguments["label"] in arguments["events_columns"] or \
        arguments["label"] in arguments["events_derived_columns"] else ""
    facts = build_training_set(events, str(scratch_dir / "tables"), features, str(scratch_dir / "store"),
                               str(scratch_dir / "statistics.md"), arguments["feature_refs"], arguments["feature_views"],
                               arguments["timestamp"], label, arguments["event_features"], arguments.get("feature_repo", ""))
    return {"feature_views": len(arguments["feature_views"]), "rows": facts["rows"]}
