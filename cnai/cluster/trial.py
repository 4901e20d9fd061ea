"""One Katib trial: score one set of hyperparameters, printing `metric=value` for Katib's collector.

    python -m cnai.cluster.trial --training-set s3://bucket/training_set --feature-columns '["month"]' \
        --label delayed --timestamp time_hour --metric roc_auc --param learning_rate=0.1 --param max_iter=150

The scoring is the local tuner's (`cnai.steps.tune.staged_scores` on the same split), so a trial on
the cluster and a trial on a laptop agree. The training set is read where the pipeline wrote it:
KFP's `minio://` URIs are its S3 API, reached with AWS_ENDPOINT_URL and the referenced Secret's keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd


def read_table(uri: str) -> pd.DataFrame:
    """A local path, or an object-store URI (`minio://` = S3 API) read through pyarrow's filesystems."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    if "://" not in uri:
        return pd.read_parquet(uri)
    scheme, rest = uri.split("://", 1)
    if scheme == "minio":
        uri = f"s3://{rest}"
    filesystem, path = fs.FileSystem.from_uri(uri)
    return pq.read_table(path, filesystem=filesystem).to_pandas()


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    from cnai.steps.tune import staged_scores, tuning_split

    parser = argparse.ArgumentParser(prog="python -m cnai.cluster.trial", description=__doc__.split("\n")[0])
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--feature-columns", required=True, help="JSON list")
    parser.add_argument("--label", required=True)
    parser.add_argument("--timestamp", required=True)
    parser.add_argument("--metric", default="roc_auc")
    parser.add_argument("--holdout-fraction", type=float, default=0.15)
    parser.add_argument("--max-tuning-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--param", action="append", default=[], help="name=value, repeated")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param {item!r}: expected name=value")
        params[name] = _value(value)
    frame = read_table(args.training_set)
    fit_part, valid_part = tuning_split(frame, args.timestamp, args.holdout_fraction, args.max_tuning_rows)
    for _step, value in staged_scores(params, fit_part, valid_part, json.loads(args.feature_columns), args.label,
                                     args.metric, args.seed):
        print(f"{args.metric}={value:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
