from kfp import dsl
from kfp.dsl import Dataset, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def ingest(
    source: str,
    column_types: dict,
    dataset: Output[Dataset],
    derived_columns: dict = {},  # noqa: B006 (KFP reads the literal default; it is never mutated)
    source_format: str = "csv",
    spark_master: str = "local[*]",
    source_hash: str = "",
    limit_rows: int = 0,
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
    null_values: list = [],  # noqa: B006 (KFP reads the literal default; it is never mutated)
    delimiter: str = ",",
    encoding: str = "UTF-8",
    decimal: str = ".",
):
    """Read CSV or Parquet with PySpark, apply declared column types and derived columns, write Parquet.

    A small local CSV that DuckDB is sure to read as Spark does is typed in the step with DuckDB
    instead (no JVM; `cnai.backends.local.small_tables`); the step's facts name the engine.

    Args:
        source: Path or URI of the table; `package:<module>/<path>` for a file shipped in an installed package.
        column_types: Column name -> Spark SQL type; a missing column or unparsable value fails by name.
        dataset: The typed table, as a Parquet dataset.
        derived_columns: New column name -> Spark SQL expression over the typed columns.
        source_format: `csv` or `parquet`.
        spark_master: Spark master URL; `local[*]` runs in the step's pod; `spark-operator` runs a SparkApplication on the cluster.
        source_hash: Content hash of `source`; part of the cache key, so changed data is re-read.
        limit_rows: Read only the first N rows (0 = all), for small runs.
        cluster: The `cluster` section of cnai.yaml; used when spark_master is `spark-operator`.
        null_values: CSV markers read as missing besides NA and an empty field (e.g. `?`).
        delimiter: CSV: the field separator (`,`, `;`, a tab...).
        encoding: CSV: the text encoding (UTF-8, ISO-8859-1 or windows-1252).
        decimal: CSV: the decimal mark of numbers declared double or float (`.` or `,`).
    """
    from cnai.components.data.ingest.executor import ingest_table
    from cnai.core.run_dir import home
    from cnai.core.sources import resolve_source
    from cnai.core.tracking import run_step

    run_step(
        "ingest",
        ingest_table,
        inputs={"source": resolve_source(source, home() / "data")},
        outputs={"dataset": dataset},
        params={"column_types": column_types, "derived_columns": derived_columns, "source_format": source_format,
                "spark_master": spark_master, "limit_rows": limit_rows, "cluster": cluster, "null_values": null_values,
                "delimiter": delimiter, "encoding": encoding, "decimal": decimal},
    )
