"""features: apply the Feast repo, materialize the online store, build a point-in-time training set."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.backends.online_features import write_spec
from cnai.core.artifacts import atomic_output
from cnai.core.config import cluster_config
from cnai.core.errors import DataError

log = logging.getLogger(__name__)

VIEWS_FILE = "feature_views.yaml"  # what the packaged repo's definitions are built from (feature_repo/feature_views.py)


def packaged_feature_repo() -> Path:
    spec = find_spec("cnai.feature_repo")
    return Path(next(iter(spec.submodule_search_locations)))


STATIC_AS_OF = pd.Timestamp("1900-01-01", tz="UTC")  # a static table's rows hold since before any event
STATIC_TIME = "_cnai_as_of"  # the time column Feast needs, added to a static table


def build_training_set(
    events: str,
    feature_tables: str,
    training_set: str,
    feature_store: str,
    feature_statistics: str,
    feature_refs: list[str],
    feature_views: list[dict[str, Any]],
    timestamp: str,
    label: str,
    features: list[str],
    feature_repo: str = "",
    target: str = "local",
    cluster: dict[str, Any] | None = None,
    in_memory_rows: int | None = None,
) -> dict[str, Any]:
    """Apply a Feast repo into `feature_store`, materialize the online store, join point-in-time.

    `feature_views` describe the side tables, each in `feature_tables/<name>/`: its `name`, its key
    `entity`, the events' column it is `join_on`, its `timestamp` ("" for a static table: joined
    on the key alone) and `ttl_hours` (0: no limit). Our packaged repo builds the FeatureViews from
    them; a team's own `feature_repo` is applied as it is, each table written where its view's
    source reads. With `target="kubeflow"` the repo's `feature_store.cluster.yaml` is applied
    instead: Spark as the offline store and Redis (`cluster.feast_online_store`) as the online store.

    With the packaged repo the events are joined out of core: DuckDB joins them as of their time to
    the very files the FeatureViews read, with Feast's semantics (the newest row at or before,
    within the TTL; static views on the key alone), spilling to disk, and writes the training set
    without the events ever being in memory whole. It is faster than Feast's offline store at every
    size measured (BENCHMARKS.md, time-to-model), so Feast's own join runs only for events up to
    `in_memory_rows` when a caller asks (the tests, which hold both equal), and always for a team's
    own repo (its offline store may be any).
    """
    import pyarrow.dataset as pads

    from cnai.backends.feast_import import import_feast

    own_repo = bool(feature_repo)
    source_repo = Path(feature_repo) if own_repo else packaged_feature_repo()
    views = _views(feature_views, feature_refs, timestamp)
    keys = list(dict.fromkeys(view["join_on"] for view in views))
    labels = [label] if label else []  # unlabelled events (new traffic to check for drift) have none
    event_columns = list(dict.fromkeys([*keys, *([timestamp] if timestamp else []), *labels, *features]))
    events_schema = _schema(events, event_columns, "events")
    event_rows = pads.dataset(events, format="parquet").count_rows()
    in_memory = own_repo or (in_memory_rows is not None and event_rows <= in_memory_rows)
    events_frame = _read(events, event_columns, "events") if in_memory else None
    if events_frame is not None and not timestamp:  # only static views: every event is "now" for them
        events_frame = events_frame.assign(**{STATIC_TIME: STATIC_AS_OF})
    event_time = timestamp or STATIC_TIME
    tables = {view["name"]: _side_table(feature_tables, view) for view in views}
    feature_columns = [*features, *[ref.split(":", 1)[1] for ref in feature_refs]]
    columns = list(dict.fromkeys([*([timestamp] if timestamp else []), *keys, *feature_columns, *labels]))
    if not in_memory:  # DuckDB's output and spill, beside the output (one filesystem); removed however the step ends
        _check_event_time(events_schema, timestamp, events)
        Path(training_set).parent.mkdir(parents=True, exist_ok=True)
        scratch_dir = tempfile.TemporaryDirectory(prefix=".cnai-join-", dir=Path(training_set).parent)
        scratch = Path(scratch_dir.name)

    with atomic_output(feature_store) as repo:
        shutil.copytree(source_repo, repo, ignore=shutil.ignore_patterns("data", "__pycache__", "__init__.py"))
        if target == "kubeflow":
            _use_cluster_stores(repo, cluster or {})
        (repo / "data").mkdir()
        if not own_repo:
            _write_views(repo, views, tables, events_schema)

        # Feast resolves some relative source paths against the working directory, not the repo.
        with contextlib.chdir(repo):
            store = import_feast(instrumented=own_repo).FeatureStore(repo_path=str(repo))
            contents = _parse_repo(repo)
            for view in views:
                source_file = _source_path(contents, view["name"], repo)
                source_file.parent.mkdir(parents=True, exist_ok=True)
                tables[view["name"]].to_parquet(source_file, index=False)
            store.apply([*contents.entities, *contents.data_sources, *contents.feature_views, *contents.feature_services])
            write_spec(repo, views)  # what serving reads from the online store, by which key
            for view in views:
                stamps = tables[view["name"]][view["time"]]
                start, end = stamps.min(), stamps.max() + pd.Timedelta(seconds=1)
                log.info("materializing view %s, %s .. %s, into the online store", view["name"], start, end)
                store.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime(), feature_views=[view["name"]])

            if in_memory:
                joined = _join_with_feast(store, events_frame, events, event_time, keys, feature_refs)
            else:
                joined = None
                sources = {view["name"]: _source_path(contents, view["name"], repo) for view in views}
                _join_out_of_core(events, sources, views, timestamp, columns, scratch / "joined.parquet", scratch / "spill")
            online_rows = {view["name"]: len(store.get_online_features(
                features=view["refs"], entity_rows=[{view["join_on"]: v} for v in tables[view["name"]][view["join_on"]].unique()],
            ).to_df()) for view in views}

    with atomic_output(training_set) as staging:
        if joined is not None:
            joined = joined.rename(columns={"event_timestamp": event_time})
            # Every column orders the rows: offline stores return events that share a timestamp and
            # keys in any order (DuckDB and Spark differ), and a time split must not depend on that.
            joined = joined[columns].sort_values(columns, kind="stable").reset_index(drop=True)
            joined.to_parquet(staging, index=False)
        else:
            (scratch / "joined.parquet").rename(staging)
        staged = ColumnReader(str(staging))
        for view in views:
            _refuse_an_empty_join(staged, view, events, tables[view["name"]], feature_tables, event_time)
    written = ColumnReader(training_set)
    if not in_memory:
        scratch_dir.cleanup()
    statistics, coverage = feature_statistics_of(written, feature_columns, label)
    with atomic_output(feature_statistics) as staging:
        staging.write_text(statistics)
    unmatched = {view["name"]: _unmatched(written, view) for view in views if view["columns"]}
    return {
        "rows": written.rows,
        "unmatched": unmatched,
        "summary": _join_summary(written.rows, unmatched),
        "feature_columns": feature_columns,
        "feature_coverage": coverage,
        "online_entities": online_rows,
        "join": "Feast offline store, in memory" if in_memory else "DuckDB, out of core",
        "output_metadata": {
            "training_set": {"rows": written.rows, "feature_columns": feature_columns, "label": label, "timestamp": timestamp},
            "feature_store": {"project": store.project, "feature_refs": feature_refs,
                              "feature_views": [view["name"] for view in views]},
        },
    }


def _views(feature_views: list[dict[str, Any]], feature_refs: list[str], timestamp: str) -> list[dict[str, Any]]:
    """The views with their references and the time column Feast reads (static tables get one)."""
    by_name = {view.get("name"): view for view in feature_views}
    refs: dict[str, list[str]] = {}
    for ref in feature_refs:
        view, _, column = ref.partition(":")
        if view not in by_name or not column:
            raise DataError(f"feature_refs: {ref!r} must be `view:feature` with a view of feature_views ({sorted(map(str, by_name))})")
        refs.setdefault(view, []).append(ref)
    views = []
    for view in feature_views:
        missing = [k for k in ("name", "entity") if not view.get(k)]
        if missing:
            raise DataError(f"feature_views: {view} has no {missing}")
        name = view["name"]
        if name not in refs:
            raise DataError(f"feature_refs: none from view {name!r}; name a column of it as '{name}:<column>'")
        static = not view.get("timestamp")
        if not static and not timestamp:
            raise DataError(f"feature view {name!r} is joined as of each event's time, but the events have no timestamp; "
                            "give them one, or make the view static (no timestamp)")
        views.append({"name": name, "entity": view["entity"], "join_on": view.get("join_on") or view["entity"],
                      "timestamp": view.get("timestamp") or "", "time": STATIC_TIME if static else view["timestamp"],
                      "ttl_hours": 0 if static else float(view.get("ttl_hours") or 0), "refs": refs[name],
                      "columns": [ref.split(":", 1)[1] for ref in refs[name]]})
    return views


def _side_table(feature_tables: str, view: dict[str, Any]) -> pd.DataFrame:
    """A view's table keyed by the events' column name; a static one gets its as-of time."""
    path = str(Path(feature_tables) / view["name"])
    if not Path(path).exists():
        raise DataError(f"{feature_tables}: no table {view['name']!r} (expected {path}); ingest it with the feature sources")
    table = _read(path, [view["entity"], *([view["timestamp"]] if view["timestamp"] else []), *view["columns"]],
                  f"feature source of view {view['name']!r}")
    if table.empty:
        raise DataError(f"{path} (feature source of view {view['name']!r}): no rows; nothing to join or serve")
    duplicated = table.duplicated([view["entity"], *([view["timestamp"]] if view["timestamp"] else [])])
    if duplicated.any():
        example = table.loc[duplicated, view["entity"]].tolist()[0]  # a plain value, for the message
        raise DataError(f"{path} (feature source of view {view['name']!r}): {int(duplicated.sum())} row(s) repeat a key"
                        + ("" if view["timestamp"] else " (a static table needs one row per key)")
                        + f", e.g. {view['entity']}={example!r}; keep one row per key"
                        + (" and time" if view["timestamp"] else ""))
    # The view's join key is the events' column: the side table's own key is renamed to it.
    table = table.rename(columns={view["entity"]: view["join_on"]})
    if not view["timestamp"]:
        table = table.assign(**{STATIC_TIME: STATIC_AS_OF})
    return _utc_micro(table, view["time"], path)


def _refuse_an_empty_join(joined: ColumnReader, view: dict[str, Any], events: str, table: pd.DataFrame,
                          feature_tables: str, event_time: str) -> None:
    """A join that found a value for no event would train on nothing but nulls: stop here, by name,
    with what usually causes it (keys written differently, times that do not overlap)."""
    columns, key = view["columns"], view["join_on"]
    if not columns or not joined.rows or any(joined.column(c).notna().any() for c in columns):
        return
    event_key = ColumnReader(events).first_value(key)
    side_key = table[key].dropna().iloc[0] if table[key].notna().any() else None
    keys = f"the events' {key} e.g. {event_key!r}, the side table's {view['entity']} e.g. {side_key!r}"
    if not view["timestamp"]:
        raise DataError(f"{feature_tables}/{view['name']}: the join of static view {view['name']!r} found no value of "
                        f"{columns} for any of the {joined.rows} events: no {key} of theirs is a key of the table. "
                        f"Check the keys are written alike ({keys})")
    ttl = f"within ttl_hours={view['ttl_hours']:g}" if view["ttl_hours"] else "(no ttl)"
    times = joined.column(event_time)
    raise DataError(
        f"{feature_tables}/{view['name']}: the point-in-time join of view {view['name']!r} found no value of "
        f"{columns} for any of the {joined.rows} events: no {key} of theirs has a row at or before its "
        f"{event_time} {ttl}. Check the keys are written alike ({keys}) and the times overlap (events "
        f"{times.min()} .. {times.max()}, side table {table[view['time']].min()} .. {table[view['time']].max()})")


def _unmatched(joined: ColumnReader, view: dict[str, Any]) -> dict[str, Any]:
    """The events the view found no row for (every one of its columns null): how many, and the keys
    that most often found none; a key written otherwise, or missing from the side table, shows."""
    found = pd.Series(False, index=range(joined.rows))
    for column in view["columns"]:
        found |= joined.column(column).notna().to_numpy()
    keys = joined.column(view["join_on"])[~found.to_numpy()]
    return {"events": int((~found).sum()), "key": view["join_on"],
            "keys": [str(k) for k in keys.value_counts().index[:UNMATCHED_KEYS_SAID]]}


UNMATCHED_KEYS_SAID, UNMATCHED_SAID_FROM = 3, 0.01  # a view's unmatched events are said from 1% of them


def _join_summary(rows: int, unmatched: dict[str, dict[str, Any]]) -> str:
    """The step's line in the run's table: the rows, and each view that found no row for a share of them."""
    said = [f"{name!r} found no row for {u['events']:,} ({u['events'] / rows:.1%}; {u['key']} e.g. "
            f"{', '.join(map(repr, u['keys']))})" for name, u in unmatched.items() if rows and u["events"] >= UNMATCHED_SAID_FROM * rows]
    return f"{rows:,} rows" + (f"; {'; '.join(said)}" if said else "")


class ColumnReader:
    """A Parquet table read one column at a time: what the checks and statistics after a join
    need, in the memory of one column however many rows."""

    def __init__(self, path: str) -> None:
        import pyarrow.dataset as pads

        self.path = path
        self._dataset = pads.dataset(path, format="parquet")
        self.names = self._dataset.schema.names
        self.rows = self._dataset.count_rows()

    def column(self, name: str) -> pd.Series:
        import pyarrow as pa

        # Text stays in Arrow buffers: 100M Python strings would be gigabytes.
        text = pd.StringDtype("pyarrow")
        return self._dataset.to_table(columns=[name]).to_pandas(
            types_mapper={pa.string(): text, pa.large_string(): text}.get).iloc[:, 0]

    def first_value(self, name: str) -> Any:
        import pyarrow.compute as pc

        for batch in self._dataset.to_batches(columns=[name]):
            present = pc.drop_null(batch.column(0))
            if len(present):
                return present[0].as_py()
        return None


def _schema(path: str, columns: list[str], what: str):
    """The table's Arrow schema, refusing it by name when a column is missing."""
    import pyarrow.dataset as pads

    schema = pads.dataset(path, format="parquet").schema  # a file or a Spark output directory
    missing = [c for c in dict.fromkeys(columns) if c not in schema.names]
    if missing:
        raise DataError(f"{path} ({what}): column(s) {missing} not found; it has {schema.names}")
    return schema


AS_OF_TIME = ("derive a time from it in the table's derived_columns (to_timestamp with its pattern, make_date from "
              "numbers) and name that as its timestamp")


def _check_event_time(schema, timestamp: str, events: str) -> None:
    """The events' time must be a timestamp, as the in-memory path insists (`_utc_micro`)."""
    import pyarrow as pa

    if timestamp and not pa.types.is_timestamp(schema.field(timestamp).type):
        raise DataError(f"{events}: data.events.timestamp {timestamp!r} is {schema.field(timestamp).type}, not a time, and "
                        f"the side tables are joined as of each event's time: {AS_OF_TIME}")


def _join_with_feast(store, events_frame: pd.DataFrame, events: str, event_time: str, keys: list[str],
                     feature_refs: list[str]) -> pd.DataFrame:
    """Feast's own point-in-time join (its offline store), for events that fit in memory."""
    entity_df = _utc_micro(events_frame, event_time, events).rename(columns={event_time: "event_timestamp"})
    # A feature value depends only on the keys and the time, so Feast joins each distinct (keys,
    # time) once and the events take theirs from that: many events share them (events often share
    # a key and an hour), and Feast's join grows with the rows it is given.
    distinct = entity_df[[*keys, "event_timestamp"]].drop_duplicates(ignore_index=True)
    log.info("point-in-time join of %d events (%d distinct keys and times) with %s", len(entity_df), len(distinct), feature_refs)
    features_at = store.get_historical_features(entity_df=distinct, features=feature_refs).to_df()
    # Offline stores differ in the timestamps they hand back (Spark: naive nanoseconds).
    features_at = _utc_micro(features_at, "event_timestamp", "the offline store's answer")
    return entity_df.merge(features_at, on=[*keys, "event_timestamp"], how="left", validate="many_to_one")


def _join_out_of_core(events: str, sources: dict[str, Path], views: list[dict[str, Any]], timestamp: str,
                      columns: list[str], out: Path, spill: Path) -> None:
    """The point-in-time join Feast does, in DuckDB, from the files the FeatureViews read: each
    event takes its key's newest row at or before its time (ASOF), none older than the TTL; a static
    view's row on the key alone. Sorted by every column, as the in-memory path sorts, and written
    as Parquet; DuckDB spills to `spill` past its memory limit."""
    from cnai.core.scale import duckdb_connection, parquet_files

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def literal(path: Path | str) -> str:
        return "'" + str(path).replace("'", "''") + "'"

    # Each output column's expression: the events' own (their time as UTC, as the in-memory path
    # makes it), or a view's value as of the event.
    selected = {c: f"e.{quoted(c)}" for c in columns}
    as_utc_micro = lambda column: f"* REPLACE ({quoted(column)}::TIMESTAMPTZ AS {quoted(column)})"  # noqa: E731
    events_table = f"(SELECT {as_utc_micro(timestamp) if timestamp else '*'} FROM read_parquet({literal(parquet_files(events))}))"
    joins = []
    for n, view in enumerate(views):
        alias, key = f"v{n}", quoted(view["join_on"])
        source = f"(SELECT {as_utc_micro(view['time'])} FROM read_parquet({literal(sources[view['name']])}))"
        if view["timestamp"]:
            time = quoted(view["time"])
            joins.append(f"ASOF LEFT JOIN {source} {alias} ON e.{key} = {alias}.{key} AND e.{quoted(timestamp)} >= {alias}.{time}")
            fresh = (f"e.{quoted(timestamp)} - {alias}.{time} <= to_microseconds({int(view['ttl_hours'] * 3_600_000_000)})"
                     if view["ttl_hours"] else "TRUE")
            selected.update({c: f"CASE WHEN {fresh} THEN {alias}.{quoted(c)} END" for c in view["columns"]})
        else:
            joins.append(f"LEFT JOIN {source} {alias} ON e.{key} = {alias}.{key}")
            selected.update({c: f"{alias}.{quoted(c)}" for c in view["columns"]})
    order = ", ".join(f"{quoted(c)} ASC NULLS LAST" for c in columns)
    query = (f"SELECT {', '.join(f'{selected[c]} AS {quoted(c)}' for c in columns)} "
             f"FROM {events_table} e {' '.join(joins)} ORDER BY {order}")
    connection = duckdb_connection(spill)
    try:
        log.info("point-in-time join out of core (DuckDB) with %s", [v["name"] for v in views])
        connection.execute(f"COPY ({query}) TO {literal(out)} (FORMAT parquet)")
    finally:
        connection.close()


def _read(path: str, columns: list[str], what: str) -> pd.DataFrame:
    import pyarrow.dataset as pads

    present = pads.dataset(path, format="parquet").schema.names  # a file or a Spark output directory
    missing = [c for c in dict.fromkeys(columns) if c not in present]
    if missing:
        raise DataError(f"{path} ({what}): column(s) {missing} not found; it has {present}")
    return pd.read_parquet(path, columns=list(dict.fromkeys(columns)))


def _write_views(repo: Path, views: list[dict[str, Any]], tables: dict[str, pd.DataFrame], events_schema) -> None:
    """The packaged repo's `feature_views.yaml`: one view per side table, typed from it."""
    import yaml

    def spark_type(values: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(values):
            return "boolean"
        if pd.api.types.is_integer_dtype(values):
            return "bigint"
        if pd.api.types.is_numeric_dtype(values):
            return "double"
        return "timestamp" if pd.api.types.is_datetime64_any_dtype(values) else "string"

    specs = []
    for view in views:
        table, key = tables[view["name"]], view["join_on"]
        events_key = events_schema.field(key).type.to_pandas_dtype()
        key_type = spark_type(pd.Series([], dtype=object if events_key is object else events_key))
        if spark_type(table[key]) != key_type:
            raise DataError(f"feature view {view['name']!r}: its key {view['entity']!r} is {table[key].dtype} but the "
                            f"events' {key!r} is {events_key.__name__ if hasattr(events_key, '__name__') else events_key}; "
                            "give both the same type in cnai.yaml's columns")
        specs.append({"name": view["name"], "entity": key, "entity_type": key_type, "timestamp": view["time"],
                      "ttl_hours": view["ttl_hours"], "features": {c: spark_type(table[c]) for c in view["columns"]}})
    (repo / VIEWS_FILE).write_text(yaml.safe_dump({"feature_views": specs}, sort_keys=False))


def _source_path(contents, view_name: str, repo: Path) -> Path:
    """Where the view's batch source reads (relative paths are the repo's)."""
    views = {v.name: v for v in contents.feature_views}
    if view_name not in views:
        raise DataError(f"{repo}: no feature view {view_name!r} in the Feast repo; it defines {sorted(views)}")
    path = getattr(views[view_name].batch_source, "path", None)
    if not path:
        raise DataError(f"{repo}: feature view {view_name!r} reads no file (its source is "
                        f"{type(views[view_name].batch_source).__name__}); point it at a FileSource or SparkSource path")
    return Path(path) if Path(path).is_absolute() else repo / path


def feature_statistics_of(table: ColumnReader, feature_columns: list[str], label: str) -> tuple[str, dict[str, float]]:
    """Per-feature statistics of the training set, as the KFP UI's Markdown viewer shows them, and
    each feature's share of present values; one pass, one column in memory at a time."""
    title = f"label `{label}`: {_label_summary(table.column(label))}" if label else "no label"
    lines = [f"# Training set: {table.rows:,} rows, {title}", "",
             "| feature | type | present | mean | std | min | max | top values |", "|---|---|---|---|---|---|---|---|"]
    coverage: dict[str, float] = {}
    for column in feature_columns:
        values = table.column(column)
        share = float(values.notna().mean())
        coverage[column], present = round(share, 4), f"{share:.1%}"
        if pd.api.types.is_numeric_dtype(values):
            stats = values.describe()
            lines.append(f"| {column} | numeric | {present} | {stats['mean']:.4g} | {stats['std']:.4g} | "
                         f"{stats['min']:.4g} | {stats['max']:.4g} | |")
        else:
            top = ", ".join(f"{k} ({v:.0%})" for k, v in values.value_counts(normalize=True).head(4).items())
            lines.append(f"| {column} | categorical ({values.nunique()} values) | {present} | | | | | {top} |")
    return "\n".join(lines) + "\n", coverage


def _label_summary(values: pd.Series) -> str:
    """Class shares for a label with few values, the distribution for a numeric one with many."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and values.nunique() > 20:
        return f"mean {values.mean():.4g}, std {values.std():.4g}, min {values.min():.4g}, max {values.max():.4g}"
    shares = sorted(values.value_counts(normalize=True, dropna=False).items(), key=lambda kv: (-kv[1], str(kv[0])))
    return ", ".join(f"{k!s} {v:.1%}" for k, v in shares[:6]) + (", ..." if len(shares) > 6 else "")


def _use_cluster_stores(repo: Path, cluster: dict[str, Any]) -> None:
    import yaml

    config = yaml.safe_load((repo / "feature_store.cluster.yaml").read_text())
    config["online_store"]["connection_string"] = cluster_config(cluster).feast_online_store
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _parse_repo(repo: Path):
    """Feast's parser imports the repo's modules by name, as its CLI does with the repo on sys.path."""
    import sys

    from cnai.backends.feast_import import import_feast

    parse_repo = import_feast("repo_operations").repo_operations.parse_repo
    sys.path.insert(0, str(repo))
    try:
        for path in repo.glob("*.py"):
            sys.modules.pop(path.stem, None)  # an earlier copy of the repo must not answer for this one
        return parse_repo(repo)
    finally:
        sys.path.remove(str(repo))


def _utc_micro(frame: pd.DataFrame, column: str, where: str) -> pd.DataFrame:
    """Feast's DuckDB store is fast only with UTC-aware, microsecond timestamps: insist on them."""
    if column not in frame.columns:
        raise DataError(f"{where}: timestamp column {column!r} not found; columns are {list(frame.columns)}")
    stamps = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        raise DataError(f"{where}: its timestamp {column!r} is {stamps.dtype}, not a time: {AS_OF_TIME}")
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return frame.assign(**{column: stamps.astype("datetime64[us, UTC]")})
