"""A project (`cnai.yaml` and the folder it is in) as the pipelines take it: the run directory, the settings
every step reads from its environment, and the pipeline arguments."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cnai.core.config import ProjectConfig, TableSource, did_you_mean, load_config
from cnai.core.errors import CnaiError, ConfigError
from cnai.core.sources import PACKAGE_PREFIX, is_parquet
from cnai.core.tabular import CSV_DELIMITERS, header_fields_problem
from cnai.core.tasks import task_hint, yaml_boolean_hint


def project_home(config: ProjectConfig, config_path: Path) -> Path:
    return _home_at(config.settings.home, config_path)


def _home_at(home: str, config_path: Path) -> Path:
    """settings.home as a folder: absolute, or relative to cnai.yaml's own folder."""
    return (Path(home) if Path(home).is_absolute() else config_path.parent / home).resolve()


def home_without_config(config_path: Path) -> tuple[Path, str]:
    """The run directory of a project whose cnai.yaml does not load, so that `cnai stop` still stops
    its servers: the file's settings.home when it still reads as YAML holding one, else the default
    beside it; and a phrase saying which it is."""
    import yaml

    from cnai.core.config import Settings, default_of

    try:
        home = (yaml.safe_load(config_path.read_text()) or {})["settings"]["home"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        home = None
    if isinstance(home, str) and home:
        return _home_at(home, config_path), "its settings.home"
    default = default_of(Settings, "home")
    return _home_at(default, config_path), f"the default settings.home ({default}) beside it"


def export_settings(config: ProjectConfig, config_path: Path) -> Path:
    """Settings every step reads from its environment (kfp.local tasks inherit it)."""
    home = project_home(config, config_path)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CNAI_HOME"] = str(home)
    os.environ["CNAI_COUNTRY_ISO_CODE"] = config.settings.country_iso_code
    os.environ["CNAI_LINEAGE_NAMESPACE"] = config.settings.lineage_namespace
    if config.settings.lineage_url:
        os.environ["CNAI_LINEAGE_URL"] = config.settings.lineage_url
    if ":" in config.model.kind:  # only then: a project file named like a library must not shadow it
        use_project_code(config_path)
    commit = _git_commit(config_path.parent)
    if commit:
        os.environ["CNAI_GIT_COMMIT"] = commit
    return home


def use_project_code(config_path: Path) -> None:
    """The project's own code (model.kind: module:function) imports from its folder, wherever cnai
    runs from: in this process and in the steps it starts."""
    project = str(config_path.parent)
    if project not in sys.path:
        sys.path.insert(0, project)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if project not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([project, *filter(None, paths)])


def _git_commit(directory: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _source(source: str, base: Path) -> str:
    if source.startswith(PACKAGE_PREFIX) or "://" in source or Path(source).is_absolute():
        return source
    try:
        return str((base / source).resolve())
    except (RuntimeError, OSError) as exc:  # Python raises RuntimeError on a symbolic link loop
        raise ConfigError(f"{base / source}: cannot be read ({exc}); point cnai.yaml at the file itself") from exc


def model_code_hash(model_kind: str, config_path: Path) -> str:
    """What a `module:function` model's own files hash to (with the package's); "" for the kinds
    cnai ships, whose code is the package's, which keys the local cache as a whole."""
    from cnai.orchestration.local_run import code_fingerprint

    if ":" not in model_kind:
        return ""
    use_project_code(config_path)  # the module is found from the project folder, wherever cnai runs
    return code_fingerprint(model_kind)


def open_project(args: argparse.Namespace) -> tuple[ProjectConfig, Path, Path]:
    """What every verb that touches the run directory starts with: config, its path, the run directory."""
    config_path = Path(args.config).resolve()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        # A column misspelt under `columns:` makes the correct name elsewhere look like the typo (the
        # whole file's check said "did you mean" the misspelt one): the file's header says which one
        # is, and that alone is said; what else is wrong is said once it is mended.
        if problems := _raw_header_problems(config_path):
            raise ConfigError(f"{config_path}: {'; '.join(problems)}") from exc
        raise
    return config, config_path, export_settings(config, config_path)


def _raw_header_problems(config_path: Path) -> list[str]:
    """The declared columns of cnai.yaml's tables that their files' headers lack, read from the
    file as written (before the whole is valid); [] when that cannot be told."""
    import yaml
    from pydantic import ValidationError

    try:
        data = (yaml.safe_load(config_path.read_text()) or {}).get("data") or {}
        sides = list(data.get("feature_sources") or [])
        tables = [("data.events", data.get("events")), *((f"data.feature_sources[{i}]", s) for i, s in enumerate(sides))]
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return []
    problems = []
    for key, raw in tables:
        try:
            table = TableSource.model_validate({k: v for k, v in raw.items() if k in TableSource.model_fields})
        except (ValidationError, AttributeError):
            continue
        problems += declared_column_problems(key, table, config_path)
    return problems


def with_feature_view(config: ProjectConfig) -> bool:
    """Which shape of the training pipeline the project needs (cnai.pipelines.training.pipeline)."""
    return bool(config.data.feature_sources)


def read_suite(config: ProjectConfig, config_path: Path) -> dict[str, Any]:
    """The project's expectation suite; {} (validate infers one, for review and commit) when unset."""
    if not config.data.expectation_suite:
        return {}
    suite_path = config_path.parent / config.data.expectation_suite
    try:
        return json.loads(suite_path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{config_path}: data.expectation_suite: {suite_path} does not exist; fix the path, or "
                          "leave the key out to have the suite inferred (the validate step outputs it)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{suite_path}: not valid JSON: {exc}") from exc


def pipeline_arguments(config: ProjectConfig, config_path: Path, sample_rows: int | None = None,
                       for_cluster: bool = False) -> dict[str, Any]:
    from cnai.backends.registry import default_registry_uri
    from cnai.core.artifacts import content_hash
    from cnai.core.sources import resolve_source
    from cnai.core.tasks import no_minimum

    base = config_path.parent
    data, tuning, evaluation, settings = config.data, config.tuning, config.evaluation, config.settings
    home = project_home(config, config_path)
    events_source = _source(data.events.source, base)

    def fingerprint(source: str) -> str:
        path = resolve_source(source, home / "data")
        return content_hash(path) if Path(path).exists() else ""

    minimum = evaluation.minimum_for_first_model
    arguments = {
        "events_source": events_source,
        "events_columns": data.events.columns,
        "events_derived_columns": data.events.derived_columns,
        "events_null_values": data.events.null_values,
        "events_delimiter": data.events.delimiter,
        "events_encoding": data.events.encoding,
        "events_decimal": data.events.decimal,
        "events_format": data.events.format,
        "events_hash": fingerprint(events_source),
        "expectation_suite": read_suite(config, config_path),
        "label": data.label,
        "task": data.task,
        "positive_label": "" if data.positive_label is None else str(data.positive_label),
        "split": data.split_method,
        "timestamp": data.events.timestamp or "",
        "event_features": data.features,
        "model_features": data.model_features,
        "search_space": tuning.search_space,
        "model_kind": config.model.kind,
        "model_code": model_code_hash(config.model.kind, config_path),
        "model_params": config.model.params,
        "max_training_rows": config.model.max_training_rows or 0,
        "registry_uri": default_registry_uri(home),
        "limit_rows": sample_rows or settings.sample_rows or 0,
        "spark_master": settings.spark_master,
        "tuning_algorithm": tuning.algorithm,
        "objective_metric": config.objective_metric,
        "objective_goal": config.objective_goal,
        "max_trials": tuning.max_trials,
        "parallel_trials": tuning.parallel_trials,
        "early_stopping": tuning.early_stopping,
        "holdout_fraction": settings.holdout_fraction,
        "seed": tuning.seed,
        "model_name": config.model_name,
        "gate_metric": config.gate_metric,
        "min_improvement": evaluation.min_improvement,
        "minimum_for_first_model": no_minimum(config.gate_metric) if minimum is None else minimum,
        "serving_host": settings.serving_host,
        "serving_port": settings.serving_port,
        # `cnai run` is kfp.local: local backends, whatever cnai.yaml says; compile and schedule use settings.target.
        "target": settings.target if for_cluster else "local",
        "cluster": cluster_settings(config),
    }
    if data.feature_sources:
        arguments.update({
            "feature_sources": [feature_source_argument(s.name, _source(s.source, base), s, fingerprint)
                                for s in data.feature_sources],
            "feature_views": data.feature_views,
            "feature_refs": data.feature_refs,
            "feature_repo": _feature_repo(config, config_path),
        })
    return arguments


def feature_source_argument(name: str, source: str, table: Any, fingerprint) -> dict[str, Any]:
    """One side table as the ingest_tables step takes it (its hash keys the step's cache)."""
    return {"name": name, "source": source, "format": table.format, "columns": table.columns,
            "derived_columns": table.derived_columns, "null_values": table.null_values, "delimiter": table.delimiter, "encoding": table.encoding, "decimal": table.decimal,
            "hash": fingerprint(source)}


def _feature_repo(config: ProjectConfig, config_path: Path) -> str:
    if not config.data.feature_repo:
        return ""
    repo = Path(_source(config.data.feature_repo, config_path.parent))
    if not (repo / "feature_store.yaml").is_file():
        raise ConfigError(f"{config_path}: data.feature_repo: {repo} has no feature_store.yaml; point it at a Feast "
                          "repo (`feast init` makes one), or leave it out to use the packaged one")
    return str(repo)


def cluster_settings(config: ProjectConfig) -> dict[str, Any]:
    """The `cluster` section as the steps receive it, with the image the components were built with
    (one setting, CNAI_COMPONENT_IMAGE at compile time; see cnai.core.kfp_settings)."""
    from cnai.core.kfp_settings import COMPONENT_IMAGE

    return {**config.cluster.model_dump(), "image": COMPONENT_IMAGE}


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


def check_tables_readable(config: ProjectConfig, config_path: Path) -> None:
    """A local table that is missing, empty or a header alone is refused by its cnai.yaml key now,
    not by the ingest step after the run's Spark has started."""
    from cnai.core.sources import package_file

    tables = [("data.events", config.data.events),
              *((f"data.feature_sources[{i}]", s) for i, s in enumerate(config.data.feature_sources))]
    for key, table in tables:
        source = _source(table.source, config_path.parent)
        if "://" in source:
            continue  # an object store: only the step's own filesystem reads it
        path = package_file(source) if source.startswith(PACKAGE_PREFIX) else Path(source)
        if not path.exists():
            raise ConfigError(f"{key}.source: {path} does not exist")
        if path.is_file() and path.stat().st_size == 0:
            raise ConfigError(f"{key}.source: {path} is empty (not even a header line)")
        if (table.format == "parquet") != is_parquet(path):  # ingest read Parquet's bytes as a CSV header ('PAR1...')
            found = "Parquet" if table.format == "csv" else "not Parquet (text, or another format)"
            raise ConfigError(f"{key}.source: {path} is {found}, but {key}.format is {table.format}"
                              + (f": set {key}.format: parquet" if table.format == "csv" else ""))
        if path.is_file() and table.format == "csv" and path.suffix.lower() in (".csv", ".tsv", ".txt", ".gz", ".bz2"):
            try:
                with _opener(path)(path, "rb") as file:
                    head = file.read(1 << 16)
                    whole = not file.read(1)
            except (OSError, EOFError):
                continue  # not what its name says: ingest names what is wrong with it
            lines = [line for line in head.splitlines() if line.strip()]
            if len(lines) == 1 and whole:
                raise ConfigError(f"{key}.source: {path} holds a header line only; nothing can be learnt or checked "
                                  "from it")
            check_encoding(key, path, table.encoding)
            if problem := header_fields_problem(_csv_rows(lines[:22], table)):
                raise ConfigError(f"{key}.source: {path}: {problem}")
        if problems := declared_column_problems(key, table, config_path):
            raise ConfigError("; ".join(problems))


def _csv_rows(lines: list[bytes], table: TableSource) -> list[list[str]]:
    """`lines` split into fields as the table's dialect says ([] when they do not split)."""
    import csv

    try:
        return list(csv.reader([line.decode(table.encoding, errors="replace") for line in lines], delimiter=table.delimiter))
    except csv.Error:
        return []


ENCODING_CHECKED_BYTES = 64 << 20  # the start of a file, read before the run (about 0.1 s)


def check_encoding(key: str, path: Path, encoding: str) -> None:
    """A CSV that is not in its declared encoding is refused now, naming the line and the setting:
    ingest would read it with U+FFFD for every character it could not read, and say nothing. A UTF-8
    file that also holds UTF-8's own accented characters is warned about instead: a stray byte in a
    scraped file, which no other encoding would read better, and refusing it would leave no way on."""
    import sys

    from cnai.core.sources import single_byte_encoding, undecodable_line

    def first_bad_line(encoding: str) -> tuple[int, str] | None:
        with _opener(path)(path, "rb") as file:
            return undecodable_line(file, encoding, ENCODING_CHECKED_BYTES)

    try:
        found = first_bad_line(encoding)
        if found is None:
            return
        with _opener(path)(path, "rb") as file:
            head = file.read(ENCODING_CHECKED_BYTES)
        if b"\x00" in head[:4096]:
            raise ConfigError(f"{key}.source: {path} holds NUL bytes, so it is not a text CSV (UTF-16, or a binary "
                              "file?); save it as UTF-8 CSV, or as Parquet")
        # Declared ASCII, the file may be UTF-8; else one of the single-byte encodings, in which any byte reads.
        if encoding.lower() != "utf-8" and first_bad_line("utf-8") is None:
            other = "utf-8"
        else:
            other = single_byte_encoding(head).lower()
    except (OSError, EOFError, LookupError):
        return  # unreadable, or an encoding Python does not name so: ingest says what is wrong
    number, line = found
    if encoding.lower() == "utf-8" and any(ord(c) > 127 and c != "\ufffd" for c in head.decode("utf-8", "replace")):
        print(f"warning: {key}.source: {path}, line {number}, is not {encoding} text ({line!r}), though the file holds "
              f"{encoding}'s own characters: ingest reads what it cannot as \ufffd; mend that line if it matters",
              file=sys.stderr)
        return
    raise ConfigError(f"{key}.source: {path}, line {number}, is not {encoding} text ({line!r}; \ufffd marks what could "
                      f"not be read): set {key}.encoding: {other} in cnai.yaml if that is the file's encoding "
                      f"(`cnai init` finds it), or mend that line if the "
                      f"rest of the file is {encoding}")


def declared_column_problems(key: str, table: TableSource, config_path: Path) -> list[str]:
    """Each of the table's declared `columns` its file does not have, with the closest the file has:
    from the header alone (a CSV's first line, a Parquet file's schema), so that a misspelt column
    is named now, not by ingest once Spark has started. [] for a remote or unreadable source:
    ingest names what is wrong with those."""
    from cnai.core.sources import package_file

    source = _source(table.source, config_path.parent)
    if "://" in source:
        return []
    path = package_file(source) if source.startswith(PACKAGE_PREFIX) else Path(source)
    header = _header(path, table)
    if header is None:
        return []
    missing = [name for name in table.columns if name not in header]
    if not missing:
        return []
    if table.format == "csv" and len(header) == 1 and (seen := [d for d in CSV_DELIMITERS
                                                                if d in header[0] and d != table.delimiter]):
        return [f"{key}: {path} reads as one column ({header[0][:80]!r}{'...' if len(header[0]) > 80 else ''}), so its "
                f"fields are not separated by {table.delimiter!r}: set {key}.delimiter: {json.dumps(seen[0])} in cnai.yaml "
                "(`cnai init` finds it)"]
    near = [f"{key}.columns: {name!r} is not a column of {path}{hint}" for name in missing
            if (hint := did_you_mean(name, header))]
    others = [name for name in missing if not did_you_mean(name, header)]
    if others:  # named once together, with the header once
        near.append(f"{key}.columns: {others[0]!r} is not a column of {path}" if len(others) == 1 else
                    f"{key}.columns: {others} are not columns of {path}")
        near[-1] += f"; its columns are {header[:20]}{' ...' if len(header) > 20 else ''}"
    return near


def _opener(path: Path):
    """`open` for the file as Spark reads it: compressed by its name's suffix, or plain."""
    import bz2
    import gzip

    return {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix.lower(), open)


def _header(path: Path, table: TableSource) -> list[str] | None:
    """The column names ingest will see in `path` (None when it cannot be read here)."""
    import csv
    import io
    import zipfile

    try:
        if table.format == "parquet":
            import pyarrow.dataset as pads

            # A folder Spark wrote with partitionBy holds its partition columns in its folder names.
            return list(pads.dataset(str(path), format="parquet", partitioning="hive").schema.names)
        if not path.is_file():
            return None
        encoding = "utf-8-sig" if table.encoding.lower() == "utf-8" else table.encoding
        if path.suffix.lower() == ".zip":  # one table zipped, as ingest unpacks it (cnai.core.sources)
            with zipfile.ZipFile(path) as archive:
                [member] = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX/")]
                with io.TextIOWrapper(archive.open(member), encoding=encoding, newline="") as file:
                    names = next(csv.reader(file, delimiter=table.delimiter), None)
        else:
            with _opener(path)(path, "rt", encoding=encoding, newline="") as file:
                names = next(csv.reader(file, delimiter=table.delimiter), None)
    except (OSError, EOFError, ValueError, csv.Error, UnicodeDecodeError, zipfile.BadZipFile):
        return None
    # A field with no name is _c<position> to Spark, as `cnai init` declares it.
    return None if names is None else [name or f"_c{i}" for i, name in enumerate(names)]


FIRST_ROWS = 100_000  # the events' rows the checks before a run read


def first_event_rows(config: ProjectConfig, config_path: Path, rows: int = FIRST_ROWS):
    """The events' first `rows` in the columns the checks before a run look at (the label, the text
    features), read once for all of them: a CSV's as text, a Parquet table's as stored, by record
    batches (not whole columns: a table of 100M rows is not read into memory before the run). None
    when the table cannot be read here: ingest names what is wrong with it."""
    import pandas as pd
    import pyarrow as pa

    from cnai.core.sources import resolve_source

    data, events = config.data, config.data.events
    texts = [c for c in data.features if events.columns.get(c) == "string"]
    columns = [c for c in dict.fromkeys([data.label, *texts]) if c in events.columns]
    source = _source(events.source, config_path.parent)
    if not columns or "://" in source:
        return None
    try:
        path = resolve_source(source, project_home(config, config_path) / "data")
        if events.format == "parquet":
            import pyarrow.dataset as pads

            return pads.dataset(str(path), format="parquet", partitioning="hive").head(rows, columns=columns).to_pandas()
        return pd.read_csv(path, usecols=columns, nrows=rows, sep=events.delimiter, encoding=events.encoding, dtype=str,
                           keep_default_na=False)
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None


def check_label_values(config: ProjectConfig, config_path: Path, rows=None) -> None:
    """A binary task's label must have two values, and positive_label must be one of them; a
    multiclass one must not be a measurement (`_check_classes`): said now, from the first rows of
    the events (a typo was found only when tuning started, an amount as a binary label at validate),
    with the values there are. `rows`: `first_event_rows`'s, when the caller has read them."""
    import pandas as pd

    data = config.data
    if data.task not in ("binary", "multiclass") or data.label not in data.events.columns:
        return
    if (first := rows if rows is not None else first_event_rows(config, config_path)) is None:
        return
    values, events = first[data.label], data.events
    found = sorted({str(v).strip() for v in values.dropna()} - {"", "NA", *events.null_values})
    if data.task == "multiclass":
        _check_classes(data.label, events.columns.get(data.label, "string"), values, found)
        return
    wanted = str(data.positive_label)
    boolean = isinstance(data.positive_label, bool) or events.columns.get(data.label) == "boolean"
    if boolean:  # true, True and TRUE are one value to Spark
        found, wanted = sorted({v.lower() for v in found}), wanted.lower()
    if len(distinct := {_as_label(v, events.columns.get(data.label, "string")) for v in found}) > 2:
        present = values[values.map(lambda v: str(v).strip() in found)]
        numbers = pd.to_numeric(present, errors="coerce")
        hint = task_hint(numbers if numbers.notna().all() else present, len(found), data.label)
        raise ConfigError(f"data.task: binary, but data.label {data.label!r} has {len(distinct)} values in the first "
                          f"{len(values):,} rows ({', '.join(map(repr, found[:5]))}{', ...' if len(found) > 5 else ''}): "
                          f"{hint}; or derive a label of two values in data.events.derived_columns")
    if data.positive_label is None:
        return
    if len(found) == 2 and wanted not in found and not any(_same_number(wanted, v) for v in found):
        close = [v for v in found if v.lower() == wanted.lower()]
        raise ConfigError(f"data.positive_label: {data.positive_label!r} is not a value of {data.label!r} ({found})"
                          + (f"; did you mean {close[0]!r}" if close else yaml_boolean_hint(data.positive_label, found)))


def check_date_text_features(config: ProjectConfig, config_path: Path, rows=None, sample_rows: int = 1_000) -> None:
    """A feature declared string that holds dates is refused now, from the events' first
    `sample_rows`, as train and tune refuse it (a new user met it at tune, after the data steps).
    `rows`: `first_event_rows`'s, when the caller has read them."""
    from cnai.models.base import date_text_problem

    data, events = config.data, config.data.events
    texts = [c for c in data.features if events.columns.get(c) == "string"]
    if not texts or (first := rows if rows is not None else first_event_rows(config, config_path)) is None:
        return
    missing = ["", "NA", *events.null_values]  # a CSV's null markers, read as text here
    for column in texts:
        values = first[column].head(sample_rows).astype(object)
        values = values.where(~values.isin(missing), None)
        if problem := date_text_problem(column, values, "data.events.derived_columns"):
            raise ConfigError(f"data.features[{data.features.index(column)}]: {problem}")


def _check_classes(label: str, spark_type: str, values, found: list[str]) -> None:
    """A multiclass label most of whose many values are too rare to be classes (a measurement, such
    as a duration) is refused with the task it calls for, as `cnai init` refuses it: the run found
    it only at tune, after the data steps, with advice to merge classes."""
    from collections import Counter

    from cnai.core.splits import ROWS_TO_TUNE_A_CLASS
    from cnai.core.tasks import MULTICLASS_MAX_INTEGER_VALUES

    wanted = set(found)
    rows = Counter(_as_label(str(v).strip(), spark_type) for v in values.dropna() if str(v).strip() in wanted)
    rare = [value for value, count in rows.items() if count < ROWS_TO_TUNE_A_CLASS]
    if len(rare) * 2 > len(rows) > MULTICLASS_MAX_INTEGER_VALUES:
        numeric = all(isinstance(value, float) for value in rows)
        raise ConfigError(f"data.task: multiclass, but data.label {label!r} has {len(rows)} values in the first "
                          f"{len(values):,} rows, {len(rare)} of them with fewer than the {ROWS_TO_TUNE_A_CLASS} rows a "
                          "class needs: too few of each to learn as classes; "
                          + ("set data.task: regression to predict the number, or derive" if numeric else "derive")
                          + " a coarser label (a few classes) in data.events.derived_columns")


def _as_label(text: str, spark_type: str):
    """A label's text as its declared type reads it: 1 and 1.0 one number, yes and TRUE one boolean."""
    from cnai.models.base import FALSE_WORDS, TRUE_WORDS

    if spark_type == "boolean":
        word = text.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else word
    if spark_type not in ("string", "timestamp", "date"):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def check_before_running(config: ProjectConfig, config_path: Path, registry_uri: str) -> None:
    """What would otherwise fail minutes into a local run, after the data steps: the services it
    talks to, and hyperparameters the model or the local tuner cannot take."""
    from cnai.backends.local.deployment import (
        port_problem,
        port_taken_by_another,
        project_servers,
        stop_server,
    )
    from cnai.backends.local.warm_steps import call_in_fork
    from cnai.components.training.tune.executor import check_model_parameters, check_runs_locally

    check_services_reachable(config, registry_uri)
    settings = config.settings
    if port_taken_by_another(settings.serving_host, settings.serving_port, config.model_name):
        for renamed in (name for name in project_servers() if name != config.model_name):
            # this project's own server, for the model under the name it had before cnai.yaml changed
            print(f"stopping this project's model server for {renamed!r}: the model is {config.model_name!r} now "
                  "(data.label or data.task changed) and serves on the same port")
            stop_server(renamed)
    if port_taken_by_another(settings.serving_host, settings.serving_port, config.model_name):
        raise ConfigError(f"{config_path}: settings.serving_port: {port_problem(settings.serving_host, settings.serving_port)}; "
                          "nothing was run")
    try:
        check_runs_locally(config.tuning.algorithm)
        check_tables_readable(config, config_path)
        first = first_event_rows(config, config_path)
        check_label_values(config, config_path, first)
        check_date_text_features(config, config_path, first)
        # In the run's warm interpreter, which imports scikit-learn anyway: not again in `cnai`. Last,
        # as it waits for that interpreter's imports, which the checks above overlap.
        call_in_fork(check_model_parameters, model_kind_name=config.model.kind, task=config.data.task,
                     parameters=config.tuning.search_space, fixed=config.model.params)
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}; nothing was run") from exc
    from cnai.orchestration.serve import serve_production

    # A deploy killed half-way left the server on a version never smoke-tested: put production back
    # before this run's deploy would record that version as the one to roll back to. What cannot be
    # put back is said, and the run goes on (its own deploy may be what mends it).
    try:
        serve_production(config, registry_uri, start=False)
    except CnaiError as exc:
        print(f"Warning: could not put production back on the local server before this run: {exc}; "
              "`cnai stop` stops that server", file=sys.stderr)
