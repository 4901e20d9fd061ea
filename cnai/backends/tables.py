"""A table typed with Spark, as declared (column types, derived columns), written as Parquet:
in this process's Spark, or as a SparkApplication on the cluster (the Spark Operator).

The ingest steps (one table, or a project's feature sources together) are thin over this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    spark = spark_session(spark_master)
    with spark_errors_named(source, source_format), atomic_output(dataset) as staging:
        rows, schema = write_typed(spark, source, str(staging), column_types, derived_columns, source_format, limit_rows,
                                   null_values, delimiter, encoding, decimal)
        if not rows:  # refused before it becomes the output
            shape = "a header line only" if source_format == "csv" else "a schema and no rows"
            raise DataError(f"{source}: no rows to read ({shape}); nothing can be learnt or checked from it")
    return {"rows": rows, "columns": len(schema), "output_metadata": {"dataset": {"rows": rows, "schema": schema, "format": "parquet"}}}


def _describe_written(dataset: str) -> dict[str, Any]:
    """Rows and schema of what the SparkApplication wrote (read with pyarrow: no Spark in this pod)."""
    import pyarrow.dataset as pads

    written = pads.dataset(dataset, format="parquet")
    rows = written.count_rows()
    schema = {field.name: str(field.type) for field in written.schema}
    return {"rows": rows, "columns": len(schema), "output_metadata": {"dataset": {"rows": rows, "schema": schema, "format": "parquet"}}}


