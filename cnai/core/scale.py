"""Data past memory: the row count from which validate works batch by batch, the size up to which
a table is typed without Spark, and DuckDB (the point-in-time join's engine, out of core at every
size) set up to spill rather than grow.

Below it validate reads its input whole, which is faster; both ways give the same answer (the
steps' tests hold them equal).
"""

from __future__ import annotations

import os
from pathlib import Path

IN_MEMORY_ROWS = int(os.environ.get("CNAI_IN_MEMORY_ROWS", 2_000_000))
BATCH_ROWS = 1_000_000
# A local CSV up to this size is typed in its step's process with DuckDB, not Spark, when DuckDB
# is certain to give Spark's answer (cnai.backends.local.small_tables); 0: Spark always.
SMALL_TABLE_BYTES = int(os.environ.get("CNAI_SMALL_TABLE_BYTES", 64 << 20))
# DuckDB's own limit: past it, joins and sorts spill to its temporary directory.
DUCKDB_MEMORY = os.environ.get("CNAI_DUCKDB_MEMORY", "4GB")


def parquet_files(path: str) -> str:
    """A Parquet file, or a folder of them (Spark writes folders), as DuckDB's read_parquet takes it."""
    return str(Path(path) / "**" / "*.parquet") if Path(path).is_dir() else path


def duckdb_connection(scratch: Path):
    import duckdb

    scratch.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    connection.execute("SET temp_directory = '" + str(scratch).replace("'", "''") + "'")
    connection.execute("SET preserve_insertion_order = false")
    connection.execute("SET TimeZone = 'UTC'")  # a naive time is UTC, as the in-memory path reads it
    return connection
