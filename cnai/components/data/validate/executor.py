"""validate: run a Great Expectations suite; stop on critical failures, quarantine failing rows.

Each expectation's `meta.severity` says what a failure means:
- `critical`   the data cannot be used; the step fails naming the column and expectation;
- `quarantine` (default) the failing rows are moved to the quarantine artifact, never dropped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.core.artifacts import atomic_output
from cnai.core.errors import ValidationFailed

log = logging.getLogger(__name__)

CATEGORICAL_MAX_DISTINCT = 60


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
) -> dict[str, Any]:
    """Validate `dataset` against `expectation_suite` (inferred from the data when empty).

    With a `label`, rows without one are quarantined (nothing can learn from them) whatever the
    suite says, and with a `task` the remaining labels must suit it: a label that cannot be
    trained on stops the run here, not in tuning minutes later.
    """
    frame = read_compact(dataset)
    if label and label not in frame.columns:
        raise ValidationFailed(f"{Path(dataset).name}: the label column {label!r} is not in the data; "
                               f"it has {list(frame.columns)} (data.label in cnai.yaml)")
    suite_dict = with_label_rule(expectation_suite or infer_suite(frame, name="inferred"), label)
    if inferred_suite is not None:
        with atomic_output(inferred_suite) as staging:
            staging.write_text(json.dumps(suite_dict, indent=2))

    result = run_suite(frame, suite_dict)
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

    if len(frame) and len(quarantined_rows) == len(frame):
        counts = pd.Series([f for failures in quarantined_rows.values() for f in failures]).value_counts()
        raise ValidationFailed(f"{Path(dataset).name}: every one of the {len(frame)} rows failed a row check, nothing "
                               f"is left to use; most failed: " + ", ".join(f"{f} ({n} rows)" for f, n in counts.head(3).items()))
    bad_index = pd.Index(sorted(quarantined_rows), dtype=frame.index.dtype)
    bad = frame.loc[bad_index].copy()
    bad["failed_expectations"] = [", ".join(quarantined_rows[i]) for i in bad_index]
    good = frame.drop(index=bad_index)
    if label and task:
        from cnai.core.tasks import label_classes

        label_classes(task, good[label], f"{Path(dataset).name} (after validation)", label)
    with atomic_output(validated) as staging:
        write_plain(good, staging)
    with atomic_output(quarantine) as staging:
        write_plain(bad, staging)
    if len(bad):
        log.warning("quarantined %d of %d rows; see the quarantine artifact", len(bad), len(frame))
    stats = result.statistics
    return {
        "rows_in": len(frame),
        "rows_valid": len(good),
        "rows_quarantined": len(bad),
        "expectations": stats["evaluated_expectations"],
        "expectations_failed": stats["unsuccessful_expectations"],
        "output_metadata": {
            "validated": {"rows": len(good)},
            "quarantine": {"rows": len(bad)},
            "results": {"success_percent": stats["success_percent"]},
        },
    }


def read_compact(dataset: str) -> pd.DataFrame:
    """The dataset with its text columns kept in Arrow buffers rather than one Python string per
    value: at 10M rows of short text that is gigabytes less, and validation only compares them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pd.StringDtype("pyarrow")
    return pq.read_table(dataset).to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)


def write_plain(frame: pd.DataFrame, path) -> None:
    """Parquet that reads back exactly as the step's input did (text as plain Python strings):
    without pandas' metadata, which would make readers rebuild the Arrow-backed text dtype."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)


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
    suite = context.suites.add(ExpectationSuite(**suite_dict))
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
    expectations: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"severity": "critical"}}
    ]
    for column in columns:
        series = frame[column]
        expectations.append({"type": "expect_column_to_exist", "kwargs": {"column": column}, "meta": {"severity": "critical"}})
        if series.notna().all():
            expectations.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}, "meta": {"severity": "quarantine"}})
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            expectations.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": column, "min_value": _plain(series.min()), "max_value": _plain(series.max())},
                    "meta": {"severity": "quarantine"},
                }
            )
        elif (series.dtype == object or pd.api.types.is_string_dtype(series)) and series.nunique() <= CATEGORICAL_MAX_DISTINCT:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": column, "value_set": sorted(series.dropna().unique().tolist())},
                    "meta": {"severity": "quarantine"},
                }
            )
    return {"name": name, "expectations": expectations, "meta": {"inferred_from_rows": len(frame)}}


def with_label_rule(suite: dict[str, Any], label: str) -> dict[str, Any]:
    """The suite plus "the label is present" (quarantine) unless it already says so."""
    rule = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": label}, "meta": {"severity": "quarantine"}}
    expectations = suite.get("expectations", [])
    if not label or any(e.get("type") == rule["type"] and (e.get("kwargs") or {}).get("column") == label for e in expectations):
        return suite
    return {**suite, "expectations": [*expectations, rule]}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
