"""ingest: read CSV or Parquet with Spark, apply the declared column types, write a Parquet Dataset."""

from cnai.backends.tables import ingest_table

__all__ = ["ingest_table"]
