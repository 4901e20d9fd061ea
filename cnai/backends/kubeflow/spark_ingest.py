"""The SparkApplication's driver: the ingest step's typing and checks, writing to the object store.

    spark-submit .../cnai/cluster/spark_ingest.py --source s3a://... --output s3://.../dataset.spark \
        --column-types '{"origin": "string"}' [--derived-columns '{...}'] [--format csv] [--limit-rows 0]

The Spark Operator starts it (cnai.backends.kubeflow.spark_operator); the session is the one spark-submit configured.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from pyspark.sql import SparkSession

    from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING
    from cnai.core.storage import s3a
    from cnai.core.tabular import spark_errors_named, write_typed

    parser = argparse.ArgumentParser(prog="cnai.backends.kubeflow.spark_ingest")
    parser.add_argument("--source", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--column-types", required=True, help="JSON object")
    parser.add_argument("--derived-columns", default="{}", help="JSON object")
    parser.add_argument("--format", default="csv")
    parser.add_argument("--limit-rows", type=int, default=0)
    parser.add_argument("--null-values", default="[]", help="JSON list: CSV markers read as missing")
    parser.add_argument("--delimiter", default=CSV_DELIMITER, help="CSV: the field separator")
    parser.add_argument("--encoding", default=CSV_ENCODING, help="CSV: the text encoding")
    parser.add_argument("--decimal", default=CSV_DECIMAL, help="CSV: the numbers' decimal mark")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.getOrCreate()
    # The local step's one pass (its retry of a CSV whose quoted fields hold line breaks included);
    # on a bad value it fails after writing, and the step then takes nothing from the output.
    with spark_errors_named(args.source, args.format):
        rows, _ = write_typed(spark, s3a(args.source), s3a(args.output), json.loads(args.column_types),
                              json.loads(args.derived_columns), args.format, args.limit_rows, json.loads(args.null_values),
                              args.delimiter, args.encoding, args.decimal)
    print(f"wrote {args.output} ({rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
