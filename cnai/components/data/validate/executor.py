"""validate: run a Great Expectations suite; stop on critical failures, quarantine failing rows.

Each expectation's `meta.severity` says what a failure means:
- `critical`   the data cannot be used; the step fails naming the column and expectation;
- `quarantine` (default) the failing rows are moved to the quarantine artifact, never dropped.
"""

from __future__ import annotations

import bisect
import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.core.artifacts import atomic_output
from cnai.core.errors import ValidationFailed
from cnai.core.scale import BATCH_ROWS, IN_MEMORY_ROWS

log = logging.getLogger(__name__)

CATEGORICAL_MAX_DISTINCT = 60


# Row-level expectations whose verdict on a row is the row's alone: checked batch by batch. Every
# other one (uniqueness, order, z-scores and outliers, a column's type) is checked on its columns whole.
BY_ROW = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list", "expect_column_values_to_match_like_pattern",
    "expect_column_values_to_not_match_like_pattern", "expect_column_values_to_match_like_pattern_list",
    "expect_column_values_to_not_match_like_pattern_list", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal", "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_match_json_schema", "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b", "expect_column_pair_values_to_be_in_set",
    "expect_multicolumn_sum_to_equal", "expect_select_column_values_to_be_unique_within_record"})
LABEL_VALUES_KEPT = 1000  # enough to judge a label against its task, in bounded memory
UNEXPECTED_VALUES_KEPT = 1000  # failing values kept per expectation in batches (every failing row's index is kept)
# Expectations about the table's shape: its columns, checked on its schema with no rows; its row
# count, on a frame of as many rows and no columns (GX still materializes its index: ~25 bytes a row).
SCHEMA_ONLY = frozenset({"expect_column_to_exist", "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
                         "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between"})
ROW_COUNT = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
# Uniqueness: a row's verdict needs every other row's key, but only the rows whose key's hash
# occurs twice can fail; those are found batch by batch and judged together (bounded memory).
UNIQUE_KEY = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})


def validate_dataset(
    dataset: str,
    validated: str,
    quarantine: str,
    results: str,
    data_docs: str,
    expectation_suite: dict[str, Any] | None = None,
    inferred_suite: str | None = None,
    label: str = "",
    task: str = "",
    batch_rows: int | None = None,
    timestamp: str = "",
    split: str = "",
) -> dict[str, Any]:
    """Validate `dataset` against `expectation_suite` (inferred from the data when empty).

    With a `label`, rows without one are quarantined (nothing can learn from them) whatever the
    suite says; with `split="time"` so are rows without a `timestamp` (the split cannot place them:
    sorted last, they would be held out as the newest). With a `task` the remaining labels must
    suit it: a label that cannot be trained on stops the run here, not in tuning minutes later.

    Memory is bounded by `batch_rows` (cnai.core.scale's BATCH_ROWS for a dataset past its
    IN_MEMORY_ROWS; 0: in one piece): row-level expectations run batch by batch and their verdicts are added up, the others
    on the columns they name, and the outputs are written batch by batch.
    """
    import pyarrow.dataset as pads

    source = pads.dataset(dataset, format="parquet")
    rows, columns = source.count_rows(), source.schema.names
    if label and label not in columns:
        raise ValidationFailed(f"{Path(dataset).name}: the label column {label!r} is not in the data; "
                               f"it has {columns} (data.label in cnai.yaml)")
    timestamp = timestamp if split == "time" else ""
    if timestamp and timestamp not in columns:
        raise ValidationFailed(f"{Path(dataset).name}: the time column {timestamp!r} is not in the data; "
                               f"it has {columns} (data.events.timestamp in cnai.yaml)")
    batches = Batches(dataset, rows, batch_rows if batch_rows is not None else (BATCH_ROWS if rows > IN_MEMORY_ROWS else 0))
    if not expectation_suite:
        import pyarrow as pa

        profiles: dict[str, dict[str, Any]] = {}
        booleans = frozenset(f.name for f in source.schema if pa.types.is_boolean(f.type))
        for _, frame in batches:
            profiles = merge_profiles(profiles, column_profiles(frame, columns, booleans))
        expectation_suite = suite_from_profiles(profiles, columns, rows, name="inferred")
    suite_dict = with_required_columns(expectation_suite, [label, timestamp])
    if inferred_suite is not None:
        with atomic_output(inferred_suite) as staging:
            staging.write_text(json.dumps(suite_dict, indent=2))

    result = run_suite_in_batches(batches, suite_dict, columns)
    result_dict = result.to_json_dict()
    with atomic_output(results) as staging:
        staging.write_text(json.dumps(result_dict, indent=2, default=str))
    with atomic_output(data_docs) as staging:
        staging.write_text(render_data_docs(result))

    critical, quarantined_rows = [], {}
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        severity = (config.meta or {}).get("severity", "quarantine")
        column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []) or "<table>"
        indices = (item.result or {}).get("unexpected_index_list")
        if severity == "critical" or not indices:
            critical.append(_describe_failure(config.type, column, item))
        else:
            for index in indices:
                quarantined_rows.setdefault(index, []).append(f"{config.type}({column})")
    if critical:
        raise ValidationFailed(f"{Path(dataset).name}: critical expectation(s) failed: " + "; ".join(critical))

    if rows and len(quarantined_rows) == rows:
        counts = pd.Series([f for failures in quarantined_rows.values() for f in failures]).value_counts()
        raise ValidationFailed(f"{Path(dataset).name}: every one of the {rows} rows failed a row check, nothing "
                               f"is left to use; most failed: " + ", ".join(f"{f} ({n} rows)" for f, n in counts.head(3).items()))
    with atomic_output(validated) as good_path, atomic_output(quarantine) as bad_path:
        labels = _write_split(batches, quarantined_rows, good_path, bad_path, label if task else "")
    if label and task:
        from cnai.core.tasks import label_classes

        label_classes(task, labels, f"{Path(dataset).name} (after validation)", label, distinct_kept=LABEL_VALUES_KEPT)
    bad_count = len(quarantined_rows)
    if bad_count:
        log.warning("quarantined %d of %d rows; see the quarantine artifact", bad_count, rows)
    stats = result.statistics
    return {
        "rows_in": rows,
        "rows_valid": rows - bad_count,
        "rows_quarantined": bad_count,
        "batches": len(batches),
        "expectations": stats["evaluated_expectations"],
        "expectations_failed": stats["unsuccessful_expectations"],
        "output_metadata": {
            "validated": {"rows": rows - bad_count},
            "quarantine": {"rows": bad_count},
            "results": {"success_percent": stats["success_percent"]},
        },
    }


class Batches:
    """The dataset as (first row's index, frame) pieces of `size` rows, read again on each pass
    (one piece, kept, when `size` is 0)."""

    def __init__(self, dataset: str, rows: int, size: int) -> None:
        self.dataset, self.rows, self.size = dataset, rows, size
        self._whole: pd.DataFrame | None = None

    def __len__(self) -> int:
        return -(-self.rows // self.size) if self.size else 1

    def __iter__(self) -> Iterator[tuple[int, pd.DataFrame]]:
        if not self.size:
            if self._whole is None:
                self._whole = read_compact(self.dataset)
            yield 0, self._whole
            return
        offset = 0
        for table in _record_batches(self.dataset, self.size):
            frame = compact(table)
            frame.index = pd.RangeIndex(offset, offset + len(frame))
            yield offset, frame
            offset += len(frame)

    def columns(self, names: list[str]) -> pd.DataFrame:
        """Some columns, whole."""
        import pyarrow.parquet as pq

        return compact(pq.read_table(self.dataset, columns=names))

    def schema_frame(self, columns: list[str]) -> pd.DataFrame:
        """Every column and no rows: what schema checks look at."""
        import pyarrow as pa

        return pd.DataFrame({c: pd.arrays.ArrowExtensionArray(pa.nulls(0)) for c in columns})


def _record_batches(dataset: str, size: int):
    import pyarrow as pa
    import pyarrow.dataset as pads

    pending: list = []
    held = 0
    for batch in pads.dataset(dataset, format="parquet").to_batches(batch_size=size):
        pending.append(batch)
        held += batch.num_rows
        if held >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, held = ([*rest.to_batches()], rest.num_rows) if rest.num_rows else ([], 0)
    if held:
        yield pa.Table.from_batches(pending)


def run_suite_in_batches(batches: Batches, suite_dict: dict[str, Any], columns: list[str]):
    """The suite's result as one run over the whole dataset gives it: row-level expectations batch
    by batch (row indices are the dataset's), added up; the others on what they read."""
    expectations = suite_dict.get("expectations", [])

    def by_row(expectation: dict[str, Any]) -> bool:
        return expectation["type"] in BY_ROW and not (expectation.get("kwargs") or {}).get("row_condition")

    if len(batches) == 1:
        _, whole = next(iter(batches))
        return run_suite(whole, suite_dict)
    row_level = [i for i, e in enumerate(expectations) if by_row(e)]
    merged: dict[int, Any] = {}
    if row_level:
        part = {**suite_dict, "expectations": [expectations[i] for i in row_level]}
        for _, frame in batches:
            for i, item in zip(row_level, run_suite(frame, part).results, strict=True):
                merged[i] = item if i not in merged else _added(merged[i], item)
    for i, expectation in enumerate(expectations):
        if i in merged:
            continue
        kwargs = expectation.get("kwargs") or {}
        named = columns if kwargs.get("row_condition") else _columns_named(expectation)
        if expectation["type"] in UNIQUE_KEY and not kwargs.get("row_condition") and named and set(named) <= set(columns) \
                and kwargs.get("ignore_row_if", "all_values_are_missing") == "all_values_are_missing":
            merged[i] = _unique_in_batches(batches, {**suite_dict, "expectations": [expectation]}, named)
            continue
        frame = (batches.schema_frame(columns) if expectation["type"] in SCHEMA_ONLY
                 else pd.DataFrame(index=pd.RangeIndex(batches.rows)) if expectation["type"] in ROW_COUNT or not named
                 else batches.columns([c for c in dict.fromkeys(named) if c in columns]))
        merged[i] = run_suite(frame, {**suite_dict, "expectations": [expectation]}).results[0]
    whole = run_suite(batches.schema_frame(columns), {**suite_dict, "expectations": []})  # the envelope
    whole.results = [merged[i] for i in range(len(expectations))]
    evaluated, passed = len(whole.results), sum(bool(r.success) for r in whole.results)
    whole.success = passed == evaluated
    whole.statistics = {**whole.statistics, "evaluated_expectations": evaluated, "successful_expectations": passed,
                        "unsuccessful_expectations": evaluated - passed,
                        "success_percent": passed / evaluated * 100 if evaluated else None}
    return whole


def _unique_in_batches(batches: Batches, suite_dict: dict[str, Any], key: list[str]):
    """A uniqueness expectation's verdict as on the whole dataset, holding a hash per row and the
    rows that share a hash (not every key's values): those rows are judged by GX together, which
    decides ties and missing values as it always does, and the counts are the whole dataset's."""
    import numpy as np

    hashes, absent, missing = [], [], 0
    for _, frame in batches:
        keys = frame[key]
        hashes.append(pd.util.hash_pandas_object(keys.apply(_hashable), index=False).to_numpy())
        gone = keys.isna().all(axis=1).to_numpy()
        absent.append(gone)
        missing += int(gone.sum())  # GX's missing: the key wholly absent (ignored, never a duplicate)
    every, ignored = np.concatenate(hashes), np.concatenate(absent)
    del hashes, absent
    ordered = np.sort(every[~ignored])
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    candidates = np.flatnonzero(np.isin(every, repeated) & ~ignored)
    del every, ignored
    parts = []
    for offset, frame in batches:
        inside = candidates[(candidates >= offset) & (candidates < offset + len(frame))]
        if len(inside):
            parts.append(frame.loc[inside, key])
    subset = pd.concat(parts) if parts else batches.schema_frame(key)
    item = run_suite(subset, suite_dict).results[0]
    result = dict(item.result or {})
    if "element_count" in result:
        result["element_count"], result["missing_count"] = batches.rows, missing
    item.result = result
    item = _recounted(item)
    if "partial_unexpected_counts" in result:  # GX's own: every failing row was in the subset
        item.result["partial_unexpected_counts"] = result["partial_unexpected_counts"]
    return item


def _hashable(values: pd.Series) -> pd.Series:
    """A key column as the same values hash the same in every batch: pandas makes a whole-number
    column float in a batch with a gap and int64 in one without (and a boolean one object), and
    hashes 2 and 2.0 differently. Numbers and booleans as float64 (-0.0 as 0.0); a hash shared by
    unequal values only adds a candidate, which GX then judges."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64") + 0.0
    if values.dtype == object:
        present = values.dropna()
        if len(present) and present.map(lambda v: isinstance(v, bool | int | float)).all():
            return values.astype("float64") + 0.0
    return values


def _columns_named(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    return [*[kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)], *(kwargs.get("column_list") or [])]


def _added(total, part):
    """Two batches' verdicts of one row-level expectation as one: counts added, row indices joined,
    success recomputed (with `mostly`, over all the rows)."""
    a, b = total.result or {}, part.result or {}
    result = dict(a)
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in a or key in b:
            result[key] = a.get(key, 0) + b.get(key, 0)
    # The row indices are what the quarantine needs, all of them (extended in place: batches add up
    # linearly); the failing values themselves are kept as a sample, as GX's partial list is.
    if "unexpected_index_list" in a or "unexpected_index_list" in b:
        result["unexpected_index_list"] = a.get("unexpected_index_list", [])
        result["unexpected_index_list"].extend(b.get("unexpected_index_list", []))
    if "unexpected_list" in a or "unexpected_list" in b:
        result["unexpected_list"] = [*a.get("unexpected_list", []), *b.get("unexpected_list", [])][:UNEXPECTED_VALUES_KEPT]
    for key in ("partial_unexpected_list", "partial_unexpected_index_list"):
        if key in a or key in b:
            result[key] = [*a.get(key, []), *b.get(key, [])][:20]
    raised = [i for i in (total.exception_info, part.exception_info) if _raised(i)]
    if "unexpected_count" not in result:  # a verdict with no count to add up: both batches must pass
        total.result, total.success = result, bool(total.success and part.success) and not raised
    else:
        total.result = result
        total = _recounted(total)
        total.success = total.success and not raised
    if raised:
        total.exception_info = raised[0]
    return total


def _recounted(item):
    """`item` with its percentages (in GX's order of operations) and success recomputed from its
    counts (with `mostly`, over all the rows counted)."""
    result = dict(item.result or {})
    elements, unexpected, missing = result.get("element_count", 0), result.get("unexpected_count", 0), result.get("missing_count", 0)
    checked = elements - missing if "missing_count" in result else elements
    if "unexpected_percent" in result:
        result["unexpected_percent"] = unexpected / checked * 100 if checked else 0.0
    if "missing_percent" in result:
        result["missing_percent"] = missing / elements * 100 if elements else None
    if "unexpected_percent_total" in result:
        result["unexpected_percent_total"] = unexpected / elements * 100 if elements else 0.0
    if "unexpected_percent_nonmissing" in result:
        result["unexpected_percent_nonmissing"] = result["unexpected_percent"]
    if "partial_unexpected_counts" in result:
        counts = pd.Series(result.get("partial_unexpected_list", []), dtype=object).value_counts(dropna=False)
        result["partial_unexpected_counts"] = [{"value": v, "count": int(n)} for v, n in counts.items()]
    if "unexpected_count" in result:
        mostly = (item.expectation_config.kwargs or {}).get("mostly")
        success = unexpected == 0 if mostly is None else (not checked or 1 - unexpected / checked >= mostly)
        item.success = bool(success) and not _raised(item.exception_info)
    item.result = result
    return item


def _raised(info: Any) -> bool:
    """GX's exception info, flat or keyed by metric (a missing column reports it the second way)."""
    if not isinstance(info, dict):
        return False
    return bool(info.get("raised_exception")) or any(_raised(v) for v in info.values() if isinstance(v, dict))


def _write_split(batches: Batches, quarantined_rows: dict[int, list[str]], good_path: Path, bad_path: Path,
                 label: str) -> pd.Series:
    """Rows that passed to `good_path`, the others with the expectations they failed to `bad_path`
    (nothing lost: their counts add up to the input's), batch by batch; the passing rows' labels."""
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    # The input's own column types, whatever a batch's values made of them in pandas (an integer
    # column with a gap is float there); no pandas metadata, so readers get plain Python strings.
    schema = pads.dataset(batches.dataset, format="parquet").schema.remove_metadata()
    schemas = {"good": schema, "bad": schema.append(pa.field("failed_expectations", pa.string()))}
    writers = {name: pq.ParquetWriter(path, schemas[name]) for name, path in (("good", good_path), ("bad", bad_path))}
    labels: list[pd.Series] = []

    def write(name: str, frame: pd.DataFrame) -> None:
        writers[name].write_table(pa.Table.from_pandas(frame, schema=schemas[name], preserve_index=False))

    all_bad = sorted(quarantined_rows)
    try:
        for offset, frame in batches:
            bad_index = pd.Index(all_bad[bisect.bisect_left(all_bad, offset):bisect.bisect_left(all_bad, offset + len(frame))],
                                 dtype=frame.index.dtype)
            bad = frame.loc[bad_index].copy()
            bad["failed_expectations"] = [", ".join(sorted(quarantined_rows[i])) for i in bad_index]
            good = frame.drop(index=bad_index)
            write("good", good)
            write("bad", bad)
            if label:  # a bounded set: a regression label has a value per row
                kept = pd.concat([*labels, good[label].dropna().drop_duplicates()], ignore_index=True).drop_duplicates()
                labels = [kept.head(LABEL_VALUES_KEPT + 1)]  # the one more tells a cut sample from a whole one
    finally:
        for writer in writers.values():
            writer.close()
    return labels[0] if labels else pd.Series(dtype=object)


def read_compact(dataset: str) -> pd.DataFrame:
    """The dataset with its text columns kept in Arrow buffers rather than one Python string per
    value: at 10M rows of short text that is gigabytes less, and validation only compares them."""
    import pyarrow.parquet as pq

    return compact(pq.read_table(dataset))


def compact(table) -> pd.DataFrame:
    import pyarrow as pa

    text = pd.StringDtype("pyarrow")
    return table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)


def _describe_failure(expectation: str, column: str, item) -> str:
    exception = (item.exception_info or {}).get("exception_message")
    observed = (item.result or {}).get("observed_value")
    unexpected = (item.result or {}).get("unexpected_count")
    detail = exception or (f"{unexpected} unexpected value(s)" if unexpected else f"observed {observed!r}")
    return f"column {column!r}: {expectation} ({detail})"


def run_suite(frame: pd.DataFrame, suite_dict: dict[str, Any]):
    """Run the suite on a pandas frame in an ephemeral GX context; row indices of failures kept."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(ExpectationSuite(**copy.deepcopy(suite_dict)))  # GX writes into what it is given
    batch = context.data_sources.add_pandas("cnai").add_dataframe_asset("dataset").add_batch_definition_whole_dataframe("all")
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="validate", data=batch, suite=suite))
    return definition.run(
        batch_parameters={"dataframe": frame},
        # Suites may compare with {"$PARAMETER": "now"}: this run's time plus an hour of clock skew.
        expectation_parameters={"now": pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=1)},
        result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False},
    )


def render_data_docs(result) -> str:
    """GX's own Data Docs page for one validation result, as a single HTML document."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    # GX's renderer formats observed values with a check that refuses numpy scalars (a column mean
    # arrives as numpy.float64); hand it plain Python numbers.
    for item in result.results:
        observed = (item.result or {}).get("observed_value")
        if hasattr(observed, "item"):
            item.result["observed_value"] = observed.item()
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def infer_suite(frame: pd.DataFrame, name: str, columns: list[str] | None = None) -> dict[str, Any]:
    """A first suite from a reference dataset, as TFX's SchemaGen infers a schema.

    Columns must exist (critical); observed ranges, value sets and completeness become row-level
    (quarantine) expectations. Review it and commit it: it is the data contract from then on.
    """
    columns = columns or list(frame.columns)
    return suite_from_profiles(column_profiles(frame, columns), columns, len(frame), name)


def column_profiles(frame: pd.DataFrame, columns: list[str], booleans: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """What a suite is inferred from, per column, in a form two batches' profiles add up from.
    `booleans`: the columns the table's own schema says are boolean (a batch with a gap in one
    makes it object-typed in pandas)."""
    profiles = {}
    for column in columns:
        series = frame[column]
        present = series.dropna()
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        # A boolean column is object-typed in a batch where it has a gap: never text, in any batch.
        boolean = column in booleans or pd.api.types.is_bool_dtype(series)
        text = not numeric and not boolean and (series.dtype == object or pd.api.types.is_string_dtype(series))
        values = present.unique().tolist() if text else []
        profiles[column] = {
            "numeric": numeric, "text": text, "complete": not series.isna().any(),
            "min": _plain(present.min()) if numeric and len(present) else None,
            "max": _plain(present.max()) if numeric and len(present) else None,
            "values": set(values) if len(values) <= CATEGORICAL_MAX_DISTINCT else None,
        }
    return profiles


def merge_profiles(total: dict[str, dict[str, Any]], part: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if not total:
        return part
    merged = {}
    for column, a in total.items():
        b = part[column]
        values = None if a["values"] is None or b["values"] is None else a["values"] | b["values"]
        merged[column] = {
            "numeric": a["numeric"] or b["numeric"], "text": a["text"] or b["text"], "complete": a["complete"] and b["complete"],
            "min": min((v for v in (a["min"], b["min"]) if v is not None), default=None),
            "max": max((v for v in (a["max"], b["max"]) if v is not None), default=None),
            "values": values if values is None or len(values) <= CATEGORICAL_MAX_DISTINCT else None,
        }
    return merged


def suite_from_profiles(profiles: dict[str, dict[str, Any]], columns: list[str], rows: int, name: str) -> dict[str, Any]:
    expectations: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"severity": "critical"}}
    ]
    for column in columns:
        profile = profiles[column]
        expectations.append({"type": "expect_column_to_exist", "kwargs": {"column": column}, "meta": {"severity": "critical"}})
        if profile["complete"]:
            expectations.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}, "meta": {"severity": "quarantine"}})
        if profile["numeric"] and profile["min"] is not None:  # an empty column has no range to keep
            expectations.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": column, "min_value": profile["min"], "max_value": profile["max"]},
                    "meta": {"severity": "quarantine"},
                }
            )
        elif profile["text"] and profile["values"] is not None:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": column, "value_set": sorted(profile["values"])},
                    "meta": {"severity": "quarantine"},
                }
            )
    return {"name": name, "expectations": expectations, "meta": {"inferred_from_rows": rows}}


def with_required_columns(suite: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The suite plus "the value is present" (quarantine) for each of `columns` (the label, the
    events' time; empty names skipped) it does not already require."""
    kind = "expect_column_values_to_not_be_null"
    expectations = list(suite.get("expectations", []))
    for column in dict.fromkeys(c for c in columns if c):
        if not any(e.get("type") == kind and (e.get("kwargs") or {}).get("column") == column for e in expectations):
            expectations.append({"type": kind, "kwargs": {"column": column}, "meta": {"severity": "quarantine"}})
    return {**suite, "expectations": expectations}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
