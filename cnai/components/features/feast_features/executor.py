"""features: apply the Feast repo, materialize the online store, build a point-in-time training set."""

from __future__ import annotations

import contextlib
import logging
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.core.artifacts import atomic_output
from cnai.core.config import cluster_config
from cnai.core.errors import DataError

log = logging.getLogger(__name__)

VIEWS_FILE = "feature_views.yaml"  # what the packaged repo's definitions are built from (feature_repo/feature_views.py)


def packaged_feature_repo() -> Path:
    spec = find_spec("cnai.feature_repo")
    return Path(next(iter(spec.submodule_search_locations)))


def build_training_set(
    events: str,
    feature_table: str,
    training_set: str,
    feature_store: str,
    feature_statistics: str,
    feature_refs: list[str],
    entity: str,
    timestamp: str,
    label: str,
    features: list[str],
    feature_view: dict[str, Any] | None = None,
    feature_repo: str = "",
    target: str = "local",
    cluster: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply a Feast repo into `feature_store`, materialize the online store, join point-in-time.

    `feature_view` describes the side table (`name`, its `entity` and `timestamp` columns,
    `ttl_hours`): our packaged repo builds the FeatureView from it. A team's own `feature_repo` is
    applied as it is, with the side table written where its view's source reads.
    With `target="kubeflow"` the repo's `feature_store.cluster.yaml` is applied instead: Spark as
    the offline store and Redis (`cluster.feast_online_store`) as the online store.
    """
    from feast import FeatureStore

    own_repo = bool(feature_repo)
    source_repo = Path(feature_repo) if own_repo else packaged_feature_repo()
    view_name = _view_of(feature_refs)
    view = {"name": view_name, "entity": entity, "timestamp": timestamp, "ttl_hours": 24 * 365, **(feature_view or {})}
    events_frame = _read(events, [entity, timestamp, label, *[f for f in features if f != entity]], "events")
    table = _read(feature_table, [view["entity"], view["timestamp"], *[ref.split(":", 1)[1] for ref in feature_refs]],
                  f"feature source of view {view_name!r}")
    # The view's join key is the events' entity column: the side table's own key is renamed to it.
    table = _utc_micro(table.rename(columns={view["entity"]: entity}), view["timestamp"], feature_table)

    with atomic_output(feature_store) as repo:
        shutil.copytree(source_repo, repo, ignore=shutil.ignore_patterns("data", "__pycache__", "__init__.py"))
        if target == "kubeflow":
            _use_cluster_stores(repo, cluster or {})
        (repo / "data").mkdir()
        if not own_repo:
            _write_views(repo, view, entity, table, events_frame, feature_refs)

        # Feast resolves some relative source paths against the working directory, not the repo.
        with contextlib.chdir(repo):
            store = FeatureStore(repo_path=str(repo))
            contents = _parse_repo(repo)
            source_file = _source_path(contents, view_name, repo)
            source_file.parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(source_file, index=False)
            store.apply([*contents.entities, *contents.data_sources, *contents.feature_views, *contents.feature_services])
            start, end = table[view["timestamp"]].min(), table[view["timestamp"]].max() + pd.Timedelta(seconds=1)
            log.info("materializing %s .. %s into the online store", start, end)
            store.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime())

            entity_df = _utc_micro(events_frame, timestamp, events).rename(columns={timestamp: "event_timestamp"})
            # A feature value depends only on the entity and the time, so Feast joins each distinct
            # (entity, time) once and the events take theirs from that: many events share a pair
            # (events often share a key and an hour), and Feast's join grows with the rows it is given.
            keys = entity_df[[entity, "event_timestamp"]].drop_duplicates(ignore_index=True)
            log.info("point-in-time join of %d events (%d distinct %s and times) with %s",
                     len(entity_df), len(keys), entity, feature_refs)
            features_at = store.get_historical_features(entity_df=keys, features=feature_refs).to_df()
            # Offline stores differ in the timestamps they hand back (Spark: naive nanoseconds).
            features_at = _utc_micro(features_at, "event_timestamp", f"{feature_store} (offline store)")
            joined = entity_df.merge(features_at, on=[entity, "event_timestamp"], how="left", validate="many_to_one")
            entity_rows = [{entity: value} for value in table[entity].unique()]
            online_rows = len(store.get_online_features(features=feature_refs, entity_rows=entity_rows).to_df())

    joined = joined.rename(columns={"event_timestamp": timestamp})
    _refuse_an_empty_join(joined, view, [ref.split(":", 1)[1] for ref in feature_refs], entity, timestamp,
                          events_frame, table, feature_table)
    feature_columns = [*features, *[ref.split(":", 1)[1] for ref in feature_refs]]
    columns = [timestamp, entity, *[c for c in feature_columns if c != entity], label]
    # Every column orders the rows: offline stores return events that share a timestamp and entity
    # in any order (DuckDB and Spark differ), and the time split must not depend on that.
    joined = joined[columns].sort_values(columns, kind="stable").reset_index(drop=True)
    with atomic_output(training_set) as staging:
        joined.to_parquet(staging, index=False)

    coverage = {c: round(float(joined[c].notna().mean()), 4) for c in feature_columns if c in joined}
    with atomic_output(feature_statistics) as staging:
        staging.write_text(statistics_markdown(joined, feature_columns, label))
    return {
        "rows": len(joined),
        "feature_columns": feature_columns,
        "feature_coverage": coverage,
        "online_entities": online_rows,
        "output_metadata": {
            "training_set": {"rows": len(joined), "feature_columns": feature_columns, "label": label, "timestamp": timestamp},
            "feature_store": {"project": store.project, "feature_refs": feature_refs},
        },
    }


def _refuse_an_empty_join(joined: pd.DataFrame, view: dict[str, Any], columns: list[str], entity: str, timestamp: str,
                          events: pd.DataFrame, table: pd.DataFrame, feature_table: str) -> None:
    """A join that found a value for no event would train on nothing but nulls: stop here, by name,
    with what usually causes it (keys written differently, times that do not overlap)."""
    if not columns or joined.empty or joined[columns].notna().any().any():
        return
    example = lambda frame, column: frame[column].dropna().iloc[0] if frame[column].notna().any() else None  # noqa: E731
    raise DataError(
        f"{Path(feature_table).name}: the point-in-time join of view {view['name']!r} found no value of "
        f"{columns} for any of the {len(joined)} events: no {entity} of theirs has a row at or before its "
        f"{timestamp} within ttl_hours={view['ttl_hours']}. Check the keys are written alike (events' "
        f"{entity} e.g. {example(events, entity)!r}, the side table's {view['entity']} e.g. {example(table, entity)!r}) "
        f"and the times overlap (events {events[timestamp].min()} .. {events[timestamp].max()}, side table "
        f"{table[view['timestamp']].min()} .. {table[view['timestamp']].max()})")


def _view_of(feature_refs: list[str]) -> str:
    views = sorted({ref.partition(":")[0] for ref in feature_refs})
    if len(views) != 1 or any(":" not in ref for ref in feature_refs):
        raise DataError(f"feature_refs {feature_refs}: expected `view:feature` references to one feature view")
    return views[0]


def _read(path: str, columns: list[str], what: str) -> pd.DataFrame:
    import pyarrow.dataset as pads

    present = pads.dataset(path, format="parquet").schema.names  # a file or a Spark output directory
    missing = [c for c in dict.fromkeys(columns) if c not in present]
    if missing:
        raise DataError(f"{path} ({what}): column(s) {missing} not found; it has {present}")
    return pd.read_parquet(path, columns=list(dict.fromkeys(columns)))


def _write_views(repo: Path, view: dict[str, Any], entity: str, table: pd.DataFrame, events: pd.DataFrame,
                 feature_refs: list[str]) -> None:
    """The packaged repo's `feature_views.yaml`: one view, typed from the side table."""
    import yaml

    def spark_type(values: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(values):
            return "boolean"
        if pd.api.types.is_integer_dtype(values):
            return "bigint"
        if pd.api.types.is_numeric_dtype(values):
            return "double"
        return "timestamp" if pd.api.types.is_datetime64_any_dtype(values) else "string"

    key_type = spark_type(events[entity])
    if spark_type(table[entity]) != key_type:
        raise DataError(f"feature view {view['name']!r}: its key {view['entity']!r} is {table[entity].dtype} but the "
                        f"events' {entity!r} is {events[entity].dtype}; give both the same type in cnai.yaml's columns")
    spec = {"name": view["name"], "entity": entity, "entity_type": key_type, "timestamp": view["timestamp"],
            "ttl_hours": view["ttl_hours"],
            "features": {c: spark_type(table[c]) for c in (ref.split(":", 1)[1] for ref in feature_refs)}}
    (repo / VIEWS_FILE).write_text(yaml.safe_dump({"feature_views": [spec]}, sort_keys=False))


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


def statistics_markdown(frame: pd.DataFrame, feature_columns: list[str], label: str) -> str:
    """Per-feature statistics of the training set, as the KFP UI's Markdown viewer shows them."""
    lines = [f"# Training set: {len(frame):,} rows, label `{label}`: {_label_summary(frame[label])}", "",
             "| feature | type | present | mean | std | min | max | top values |", "|---|---|---|---|---|---|---|---|"]
    for column in feature_columns:
        values = frame[column]
        present = f"{values.notna().mean():.1%}"
        if pd.api.types.is_numeric_dtype(values):
            stats = values.describe()
            lines.append(f"| {column} | numeric | {present} | {stats['mean']:.4g} | {stats['std']:.4g} | "
                         f"{stats['min']:.4g} | {stats['max']:.4g} | |")
        else:
            top = ", ".join(f"{k} ({v:.0%})" for k, v in values.value_counts(normalize=True).head(4).items())
            lines.append(f"| {column} | categorical ({values.nunique()} values) | {present} | | | | | {top} |")
    return "\n".join(lines) + "\n"


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

    from feast.repo_operations import parse_repo

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
        raise DataError(f"{where}: column {column!r} is {stamps.dtype}, not a timestamp")
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return frame.assign(**{column: stamps.astype("datetime64[us, UTC]")})
