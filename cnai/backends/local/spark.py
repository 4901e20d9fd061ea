"""One Spark session per process, configured for UTC and Parquet that pandas and Feast read as UTC."""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=4)
def spark_session(master: str = "local[*]", app_name: str = "cnai"):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", os.environ.get("CNAI_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.ansi.enabled", "false")  # a bad value becomes NULL, which ingest reports by column
        # pandas writes nanosecond timestamps, which Spark refuses; read them as longs and let
        # ingest turn them into timestamps (cnai.core.tabular.read_parquet).
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )
