"""One Katib trial: score one set of hyperparameters, printing `metric=value` for Katib's collector.

    python -m cnai.backends.kubeflow.trial --training-set s3://bucket/training_set --feature-columns '["month"]' \
        --label churned --timestamp signup_time --metric roc_auc --param learning_rate=0.1 --param max_iter=150

The scoring is the local tuner's (`cnai.models.tuning.staged_scores` on the same split), so a trial on
the cluster and a trial on a laptop agree. The training set is read where the pipeline wrote it:
KFP's `minio://` URIs are its S3 API, reached with AWS_ENDPOINT_URL and the referenced Secret's keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cnai.core.storage import read_table


def _value(text: str) -> Any:
    """A parameter's value as Katib substitutes it: JSON, or Python's spelling of a bool (Katib
    writes a categorical's values as given; `str(False)` is "False")."""
    if text in ("True", "False"):
        return text == "True"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    from cnai.core.tasks import encode_labels
    from cnai.models.tuning import classes_of, staged_scores, tuning_split

    parser = argparse.ArgumentParser(prog="python -m cnai.backends.kubeflow.trial", description=__doc__.split("\n")[0])
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--feature-columns", required=True, help="JSON list")
    parser.add_argument("--label", required=True)
    parser.add_argument("--timestamp", required=True)
    parser.add_argument("--metric", default="roc_auc")
    parser.add_argument("--holdout-fraction", type=float, default=0.15)
    parser.add_argument("--max-tuning-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--param", action="append", default=[], help="name=value, repeated")
    parser.add_argument("--model-spec", default="{}", help='JSON: {"kind", "task", "split", "positive_label", "model_params"}')
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param {item!r}: expected name=value")
        params[name] = _value(value)
    spec = {"kind": "hist_gradient_boosting", "task": "binary", "split": "time", "positive_label": None,
            "model_params": {}, **json.loads(args.model_spec)}
    params = {**spec["model_params"], **params}
    frame = read_table(args.training_set)
    classes = classes_of(frame, spec["task"], args.label, args.training_set, spec["positive_label"])
    strata = encode_labels(frame[args.label], classes, args.training_set, args.label) if classes else None
    fit_part, valid_part = tuning_split(frame, spec["split"], args.timestamp, args.holdout_fraction, args.max_tuning_rows,
                                        args.seed, strata)
    speaks = os.environ.get("RANK", "0") == "0"  # a trial TrainJob's nodes are one DDP world: rank 0 reports
    for _step, value in staged_scores(spec["kind"], spec["task"], params, fit_part, valid_part,
                                      json.loads(args.feature_columns), args.label, classes, args.metric, args.seed):
        if speaks:
            print(f"{args.metric}={value:.6f}", flush=True)
    return 0


def run_in_trial_job(arguments: dict[str, Any]) -> None:
    """A trial TrainJob's node (cnai.backends.kubeflow.katib.katib_trial): the arguments the Kubeflow
    SDK passed, Katib's values for the searched parameters among them (as text), scored as above."""
    searched = arguments["searched"]
    argv = ["--training-set", arguments["training_set"], "--feature-columns", json.dumps(arguments["feature_columns"]),
            "--label", arguments["label"], "--timestamp", arguments["timestamp"], "--metric", arguments["metric"],
            "--holdout-fraction", str(arguments["holdout_fraction"]), "--seed", str(arguments["seed"]),
            "--model-spec", json.dumps(arguments["model_spec"]),
            *[a for name in searched for a in ("--param", f"{name}={arguments[name]}")]]
    code = main(argv)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    sys.exit(main())
