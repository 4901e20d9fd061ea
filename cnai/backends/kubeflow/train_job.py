"""The TrainJob's node: train with the local step's code on data in the object store.

    python -m cnai.backends.kubeflow.train_job --training-set s3://... --output s3://.../model.cnai-train-x \
        --feature-columns '["plan", "spend"]' --label churned --timestamp signup_time --params '{"max_iter": 150}'

Outputs are written locally, then copied under `--output` (model/, holdout/, metrics,
classification_metrics, facts.json), after which the pipeline step copies them into its own artifacts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from cnai.core.storage import copy_tree, read_table


def main(argv: list[str] | None = None) -> int:
    from cnai.models.training import fit_and_evaluate as train_model

    parser = argparse.ArgumentParser(prog="python -m cnai.backends.kubeflow.train_job", description=__doc__.split("\n")[0])
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--output", required=True, help="prefix (URI or path) the outputs are copied under")
    parser.add_argument("--feature-columns", required=True, help="JSON list")
    parser.add_argument("--label", required=True)
    parser.add_argument("--timestamp", required=True)
    parser.add_argument("--params", required=True, help="JSON object")
    parser.add_argument("--holdout-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-spec", default="{}", help='JSON: {"task", "model_kind_name", "split", "positive_label"}')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        training_set = work / "training_set.parquet"
        read_table(args.training_set).to_parquet(training_set)
        outputs = {name: str(work / "out" / name) for name in ("model", "holdout", "metrics", "classification_metrics")}
        (work / "out").mkdir()
        facts = train_model(str(training_set), feature_columns=json.loads(args.feature_columns), label=args.label,
                            timestamp=args.timestamp, params=json.loads(args.params),
                            holdout_fraction=args.holdout_fraction, seed=args.seed, **outputs,
                            **json.loads(args.model_spec))
        (work / "facts.json").write_text(json.dumps(facts, default=str))  # beside the model, not in it: same model hash
        if os.environ.get("RANK", "0") != "0":  # a distributed TrainJob's other nodes: rank 0 writes the outputs
            print(f"rank {os.environ['RANK']}: trained; rank 0 writes the outputs")
            return 0
        for name, path in {**outputs, "facts.json": str(work / "facts.json")}.items():
            copy_tree(path, f"{args.output.rstrip('/')}/{name}")
    print(f"outputs written under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
