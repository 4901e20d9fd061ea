"""The TrainJob's node: train with the local step's code on data in the object store.

    python -m cnai.cluster.train_job --training-set s3://... --output s3://.../model.cnai-train-x \
        --feature-columns '["month"]' --label delayed --timestamp time_hour --params '{"max_iter": 150}'

Outputs are written locally, then copied under `--output` (model/, holdout/, metrics,
classification_metrics, facts.json), after which the pipeline step copies them into its own artifacts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cnai.cluster.trial import read_table


def _filesystem(uri: str):
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), uri
    scheme, rest = uri.split("://", 1)
    return fs.FileSystem.from_uri(f"s3://{rest}" if scheme == "minio" else uri)


def copy_tree(source: str, destination: str) -> None:
    """Copy a file or folder between local paths and object-store URIs (KFP's `minio://` is S3)."""
    from pyarrow import fs

    source_fs, source_path = _filesystem(source)
    destination_fs, destination_path = _filesystem(destination)
    info = source_fs.get_file_info(source_path)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"{source}: nothing there (did the TrainJob write its outputs?)")
    if info.type == fs.FileType.File:
        parent = destination_path.rsplit("/", 1)[0]
        if parent and parent != destination_path:
            destination_fs.create_dir(parent, recursive=True)
    else:
        destination_fs.create_dir(destination_path, recursive=True)
    fs.copy_files(source_path, destination_path, source_filesystem=source_fs, destination_filesystem=destination_fs)


def main(argv: list[str] | None = None) -> int:
    from cnai.steps.train import train_model

    parser = argparse.ArgumentParser(prog="python -m cnai.cluster.train_job", description=__doc__.split("\n")[0])
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--output", required=True, help="prefix (URI or path) the outputs are copied under")
    parser.add_argument("--feature-columns", required=True, help="JSON list")
    parser.add_argument("--label", required=True)
    parser.add_argument("--timestamp", required=True)
    parser.add_argument("--params", required=True, help="JSON object")
    parser.add_argument("--holdout-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        training_set = work / "training_set.parquet"
        read_table(args.training_set).to_parquet(training_set)
        outputs = {name: str(work / "out" / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
        (work / "out").mkdir()
        facts = train_model(str(training_set), feature_columns=json.loads(args.feature_columns), label=args.label,
                            timestamp=args.timestamp, params=json.loads(args.params),
                            holdout_fraction=args.holdout_fraction, seed=args.seed, **outputs)
        (work / "facts.json").write_text(json.dumps(facts, default=str))  # beside the model, not in it: same model hash
        for name, path in {**outputs, "facts.json": str(work / "facts.json")}.items():
            copy_tree(path, f"{args.output.rstrip('/')}/{name}")
    print(f"outputs written under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
