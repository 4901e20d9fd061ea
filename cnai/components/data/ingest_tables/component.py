from kfp import dsl
from kfp.dsl import Dataset, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def ingest_tables(
    tables: list,
    datasets: Output[Dataset],
    spark_master: str = "local[*]",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
):
    """Read several CSV or Parquet tables with one Spark session, typed as declared, into one Dataset.

    Each small local CSV that DuckDB is sure to read as Spark does is typed with DuckDB instead, as ingest does.

    Args:
        tables: One entry per table: `name`, `source` (path, URI or `package:<module>/<path>`), `columns` (name -> Spark SQL type), and optionally `derived_columns`, `format` (csv or parquet) and `hash` (the source's content hash: part of the cache key, so changed data is re-read).
        datasets: A folder with one Parquet dataset per table, named after it (`<datasets>/<name>/`).
        spark_master: Spark master URL; `local[*]` runs in the step's pod; `spark-operator` runs one SparkApplication per table on the cluster.
        cluster: The `cluster` section of cnai.yaml; used when spark_master is `spark-operator`.
    """
    from cnai.components.data.ingest_tables.executor import ingest_tables as work
    from cnai.components.data.ingest_tables.executor import source_inputs
    from cnai.core.tracking import run_step

    run_step(
        "ingest_tables",
        work,
        inputs=source_inputs(tables),
        outputs={"datasets": datasets},
        params={"tables": tables, "spark_master": spark_master, "cluster": cluster},
    )
