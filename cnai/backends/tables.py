"""A table typed with Spark, as declared (column types, derived columns), written as Parquet:
in this process's Spark, or as a SparkApplication on the cluster (the Spark Operator).

The ingest steps (one table, or a project's feature sources together) are thin over this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.backends.local import small_tables
from cnai.backends.local.spark import spark_session
from cnai.core.artifacts import atomic_output
from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING
from cnai.core.errors import DataError
from cnai.core.tabular import spark_errors_named, write_typed


def ingest_table(
    source: str,
    dataset: str,
    column_types: dict[str, str],
    derived_columns: dict[str, str] | None = None,
    source_format: str = "csv",
    spark_master: str = "local[*]",
    limit_rows: int = 0,
    cluster: dict[str, Any] | None = None,
    artifact_uris: dict[str, str] | None = None,
    null_values: list[str] | None = None,
    delimiter: str = CSV_DELIMITER,
    encoding: str = CSV_ENCODING,
    decimal: str = CSV_DECIMAL,
) -> dict[str, Any]:
    """Type `source`'s columns as declared and add derived columns (Spark SQL expressions).

    A declared column that is missing, or a value that does not parse as its declared type, is an
    error naming the file, the column and an example value; nothing is written in that case.
    With `spark_master="spark-operator"` the same work runs as a SparkApplication on the cluster
    (cnai.backends.kubeflow.spark_operator) and the step copies its result in.
    """
    from cnai.backends.kubeflow import spark_operator as on_kubernetes

    if on_kubernetes.is_spark_operator(spark_master):
        shared = (artifact_uris or {}).get("dataset", "")
        if "://" not in shared:
            raise DataError(f"{source}: the Spark Operator's driver writes through the object store, but the output "
                            f"{dataset} has no object-store URI (run it as a pipeline step on the cluster)")
        with atomic_output(dataset) as staging:
            on_kubernetes.ingest_on_spark_operator(source, str(staging), column_types, derived_columns or {}, source_format,
                                                   limit_rows, cluster or {}, shared, null_values or [], delimiter, encoding,
                                                   decimal)
        return _describe_written(dataset)
    if "://" not in source and not Path(source).exists():
        raise DataError(f"{source}: no such file or directory")
    why_spark = spark_needed(source, column_types, derived_columns, source_format, spark_master, encoding)
    if not why_spark:
        try:
            with atomic_output(dataset) as staging:
                written = small_tables.write_typed(source, str(staging), column_types, derived_columns, limit_rows,
                                                   null_values, delimiter, decimal)
                if isinstance(written, str):
                    raise _SparkTypesIt(written)
                rows, schema = written
                if not rows:
                    raise DataError(f"{source}: {NO_ROWS['csv']}")
            return _facts(rows, schema, "duckdb", "")
        except _SparkTypesIt as exc:
            why_spark = str(exc)
    spark = spark_session(spark_master)
    with spark_errors_named(source, source_format), atomic_output(dataset) as staging:
        rows, schema = write_typed(spark, source, str(staging), column_types, derived_columns, source_format, limit_rows,
                                   null_values, delimiter, encoding, decimal)
        if not rows:  # refused before it becomes the output
            raise DataError(f"{source}: {NO_ROWS[source_format]}")
    return _facts(rows, schema, "spark", why_spark)


NO_ROWS = {"csv": "no rows to read (a header line only); nothing can be learnt or checked from it",
           "parquet": "no rows to read (a schema and no rows); nothing can be learnt or checked from it"}


def spark_needed(source: str, column_types: dict[str, str], derived_columns: dict[str, str] | None, source_format: str,
               spark_master: str, encoding: str) -> str:
    """Why Spark types this table on this machine: "" when it is small enough and written plainly
    enough that DuckDB gives Spark's answer in this process (cnai.backends.local.small_tables)."""
    from cnai.core.sources import source_bytes

    if not spark_master.startswith("local"):
        return f"spark_master {spark_master}"
    table = {"source": source, "format": source_format, "encoding": encoding, "columns": column_types,
             "derived_columns": derived_columns or {}}
    return small_tables.spark_needed(table, source_bytes(source))


class _SparkTypesIt(Exception):
    """Leaves the small table's staging folder, discarded, for Spark's."""


def _facts(rows: int, schema: dict[str, str], engine: str, why_spark: str) -> dict[str, Any]:
    """The step's facts: what was written, and which engine typed it (and why Spark, if it did)."""
    typed_by = {"engine": engine, **({"why_spark": why_spark} if engine == "spark" and why_spark else {})}
    return {"rows": rows, "columns": len(schema), **typed_by,
            "output_metadata": {"dataset": {"rows": rows, "schema": schema, "format": "parquet"}}}


def _describe_written(dataset: str) -> dict[str, Any]:
    """Rows and schema of what the SparkApplication wrote (read with pyarrow: no Spark in this pod)."""
    import pyarrow.dataset as pads

    written = pads.dataset(dataset, format="parquet")
    rows = written.count_rows()
    schema = {field.name: str(field.type) for field in written.schema}
    return {"rows": rows, "columns": len(schema), "output_metadata": {"dataset": {"rows": rows, "schema": schema, "format": "parquet"}}}


