"""ingest: read CSV or Parquet with Spark, apply the declared column types, write a Parquet Dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.artifacts import atomic_output
from cnai.errors import DataError
from cnai.spark import spark_session


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
) -> dict[str, Any]:
    """Type `source`'s columns as declared and add derived columns (Spark SQL expressions).

    A declared column that is missing, or a value that does not parse as its declared type, is an
    error naming the file, the column and an example value; nothing is written in that case.
    """
    from pyspark.sql import functions as F

    from cnai.cluster import spark as on_kubernetes

    distributed = on_kubernetes.is_kubernetes(spark_master)
    shared = (artifact_uris or {}).get("dataset", "")
    if distributed and "://" not in shared:
        raise DataError(f"{source}: Spark on Kubernetes ({spark_master}) writes through the object store, but the "
                        f"output {dataset} has no object-store URI (run it as a pipeline step on the cluster)")
    extra = tuple(sorted(on_kubernetes.kubernetes_conf(cluster or {}, "cnai-ingest").items())) if distributed else ()
    spark = spark_session(spark_master, extra_conf=extra)
    if distributed:
        source = on_kubernetes.s3a(source)
    reader = spark.read
    if source_format == "csv":
        # Read every column as text first, so a bad value is reported instead of silently nulled.
        reader = reader.option("header", True).option("nullValue", "NA").option("mode", "FAILFAST")
        raw = reader.csv(source, inferSchema=False)
    elif source_format == "parquet":
        raw = reader.parquet(source)
    else:
        raise DataError(f"{source}: unknown format {source_format!r}; use 'csv' or 'parquet'")

    missing = [c for c in column_types if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: declared column(s) {missing} not found; the file has {raw.columns}")
    if limit_rows:
        raw = raw.limit(limit_rows)

    # The source's column order, not the declaration's: KFP passes dict parameters without key order.
    declared = [c for c in raw.columns if c in column_types]
    typed = raw.select(*[F.col(c).cast(column_types[c]).alias(c) for c in declared])
    _refuse_unparsable(source, raw, typed, column_types)
    for name, expression in (derived_columns or {}).items():
        typed = typed.withColumn(name, F.expr(expression))

    if distributed:  # executors write to the object store; the step then copies the result into its output
        from cnai.cluster.train_job import copy_tree

        staged = f"{shared.rstrip('/')}.spark"
        typed.write.mode("overwrite").parquet(on_kubernetes.s3a(staged))
        with atomic_output(dataset) as staging:
            copy_tree(staged, str(staging))
    else:
        with atomic_output(dataset) as staging:
            typed.write.mode("overwrite").parquet(str(staging))
    written = spark.read.parquet(dataset)
    rows = written.count()
    schema = {f.name: f.dataType.simpleString() for f in written.schema.fields}
    return {"rows": rows, "columns": len(schema), "output_metadata": {"dataset": {"rows": rows, "schema": schema, "format": "parquet"}}}


def _refuse_unparsable(source: str, raw, typed, column_types: dict[str, str]) -> None:
    """Fail naming the column and an example when a non-empty value did not cast to its type."""
    from pyspark.sql import functions as F

    checked = [c for c, t in column_types.items() if t != "string"]
    if not checked:
        return
    bad_counts = raw.select(
        *[
            F.sum((F.col(c).isNotNull() & F.col(c).cast(column_types[c]).isNull()).cast("int")).alias(c)
            for c in checked
        ]
    ).first().asDict()
    bad = {c: n for c, n in bad_counts.items() if n}
    if bad:
        column = next(iter(bad))
        example = (
            raw.where(F.col(column).isNotNull() & F.col(column).cast(column_types[column]).isNull())
            .select(column).first()[0]
        )
        details = ", ".join(f"{c}: {n} value(s) not {column_types[c]}" for c, n in bad.items())
        raise DataError(f"{Path(source).name}: {details} (e.g. column {column!r} has {example!r})")
