"""`model.kind: torch_tabular`: a PyTorch network for tables, trained with DistributedDataParallel.

Each categorical column goes through its own embedding (unseen and missing values share index 0),
numeric columns are standardized (missing as the mean), and a few fully connected layers give one
logit (binary), one per class (multiclass) or the value (regression, on a standardized target).
`fit` trains in `processes` processes on this machine under `torchrun` (cnai.models.torch_ddp;
gloo on CPU), with per-epoch validation, early stopping, checkpoints and a seed that makes a run
repeatable. The model is saved as TorchScript (`model.pt`, the network alone) beside
`preprocess.json` (the vocabularies and scaling); our KServe model server serves it v1 and v2 like
every kind, as modelFormat `pytorch` in the cnai ServingRuntime on a cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from cnai.core.errors import DataError
from cnai.models.base import ModelKind
from cnai.models.tabular_network import TabularNetwork

PREPROCESS_FILE = "preprocess.json"


class Preprocessing:
    """Categories to embedding indices, numbers standardized; fitted on the training rows."""

    def __init__(self, categorical: list[str], numeric: list[str], vocabularies: dict[str, list[str]] | None = None,
                 means: dict[str, float] | None = None, stds: dict[str, float] | None = None) -> None:
        self.categorical, self.numeric = categorical, numeric
        self.vocabularies, self.means, self.stds = vocabularies or {}, means or {}, stds or {}

    def fit(self, frame: pd.DataFrame) -> Preprocessing:
        for column in self.categorical:
            values = frame[column].dropna().astype(str)
            self.vocabularies[column] = sorted(values.unique().tolist())
        for column in self.numeric:
            values = pd.to_numeric(frame[column], errors="coerce").astype(float)
            self.means[column] = float(values.mean()) if values.notna().any() else 0.0
            std = float(values.std()) if values.notna().sum() > 1 else 0.0
            self.stds[column] = std if std > 0 else 1.0
        return self

    def transform(self, frame: pd.DataFrame | dict) -> tuple[np.ndarray, np.ndarray]:
        frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(dict(frame))
        rows = len(frame)
        categorical = np.zeros((rows, len(self.categorical)), dtype=np.int64)
        for i, column in enumerate(self.categorical):
            index = {v: j + 1 for j, v in enumerate(self.vocabularies[column])}
            values = frame[column]
            categorical[:, i] = [0 if v is None or (isinstance(v, float) and np.isnan(v)) else index.get(str(v), 0)
                                 for v in values.tolist()]
        numeric = np.zeros((rows, len(self.numeric)), dtype=np.float32)
        for i, column in enumerate(self.numeric):
            values = pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()
            numeric[:, i] = np.nan_to_num((values - self.means[column]) / self.stds[column], nan=0.0)
        return categorical, numeric

    def to_dict(self) -> dict[str, Any]:
        return {"categorical": self.categorical, "numeric": self.numeric, "vocabularies": self.vocabularies,
                "means": self.means, "stds": self.stds}


class _TabularNet:
    """scikit-learn's estimator protocol around the network (the seam's tune, train and serving use it)."""

    _estimator_type: ClassVar[str] = "classifier"
    task: ClassVar[str] = "binary"
    _parameter_constraints: ClassVar[dict] = {}  # filled below from scikit-learn's Interval

    def __init__(self, hidden_units: int = 64, layers: int = 2, dropout: float = 0.1, learning_rate: float = 3e-3,
                 weight_decay: float = 0.0, batch_size: int = 256, max_epochs: int = 50, patience: int = 5,
                 embedding_dim: int = 8, processes: int = 2, validation_fraction: float = 0.1,
                 categorical: list[str] | None = None, numeric: list[str] | None = None, random_state: int = 0) -> None:
        self.hidden_units, self.layers, self.dropout, self.learning_rate = hidden_units, layers, dropout, learning_rate
        self.weight_decay, self.batch_size, self.max_epochs, self.patience = weight_decay, batch_size, max_epochs, patience
        self.embedding_dim, self.processes, self.validation_fraction = embedding_dim, processes, validation_fraction
        self.categorical, self.numeric, self.random_state = categorical, numeric, random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "hidden_units", "layers", "dropout", "learning_rate", "weight_decay", "batch_size", "max_epochs", "patience",
            "embedding_dim", "processes", "validation_fraction", "categorical", "numeric", "random_state")}

    def set_params(self, **params: Any) -> _TabularNet:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        from sklearn.utils._param_validation import validate_parameter_constraints

        validate_parameter_constraints(self._parameter_constraints, self.get_params(), caller_name=type(self).__name__)

    def _outputs(self, y: np.ndarray) -> int:
        return 1

    def fit(self, features: pd.DataFrame, target) -> _TabularNet:
        """Train under torchrun in `processes` processes; keep the best epoch's weights."""
        self._validate_params()
        categorical = self.categorical if self.categorical is not None else []
        numeric = self.numeric if self.numeric is not None else [c for c in features.columns if c not in categorical]
        self.preprocessing_ = Preprocessing(categorical, numeric).fit(features)
        cats, nums = self.preprocessing_.transform(features)
        y = np.asarray(target)
        if self.task == "regression":
            self.target_mean_, self.target_std_ = float(y.mean()), float(y.std()) or 1.0
            y = ((y - self.target_mean_) / self.target_std_).astype(np.float32)
        else:
            self.classes_ = np.unique(y)
            y = y.astype(np.int64)
        spec = {"task": self.task, "cardinalities": [len(self.preprocessing_.vocabularies[c]) for c in categorical],
                "numeric": len(numeric), "outputs": self._outputs(y), "hidden_units": int(self.hidden_units),
                "layers": int(self.layers), "dropout": float(self.dropout), "embedding_dim": int(self.embedding_dim),
                "learning_rate": float(self.learning_rate), "weight_decay": float(self.weight_decay),
                "batch_size": int(self.batch_size), "max_epochs": int(self.max_epochs), "patience": int(self.patience),
                "validation_fraction": float(self.validation_fraction), "seed": int(self.random_state)}
        with tempfile.TemporaryDirectory(prefix="cnai-ddp-") as scratch:
            work = Path(scratch)
            np.savez(work / "data.npz", categorical=cats, numeric=nums, target=y)
            (work / "spec.json").write_text(json.dumps(spec))
            self.ranks_ = run_distributed(work, int(self.processes))
            self.history_ = [json.loads(line) for line in (work / "history.jsonl").read_text().splitlines()]
            network = TabularNetwork(spec["cardinalities"], spec["numeric"], spec["outputs"], spec["hidden_units"],
                                       spec["layers"], spec["dropout"], spec["embedding_dim"])
            network.load_state_dict(torch.load(work / "best.pt", weights_only=True))
        network.eval()
        self.network_, self.spec_ = network, spec
        return self

    def _forward(self, features) -> np.ndarray:
        cats, nums = self.preprocessing_.transform(features)
        with torch.no_grad():
            return self.network_(torch.from_numpy(cats), torch.from_numpy(nums)).numpy()


def run_distributed(work: Path, processes: int) -> list[dict[str, Any]]:
    """torchrun with `processes` ranks on this machine; each rank's record, or our error with its log.
    Already inside a torchrun world (a TrainJob node on the torch-distributed runtime), this
    process is one rank of it and trains in place, with the other nodes."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ:
        from cnai.models.torch_ddp import train

        return train(work)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "cnai.models.torch_ddp", str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).splitlines()
        # torchrun's summary ends the output; a rank's own cause (a Python error, a C++ abort) is above it.
        causes = [line for line in lines[:-15] if any(mark in line for mark in ("Error", "terminate called", "what():"))
                  and "ChildFailedError" not in line]
        tail = "\n".join([*causes[-5:], *lines[-15:]])
        raise DataError(f"torch_tabular: distributed training in {processes} process(es) failed:\n{tail}")
    return [json.loads((work / f"rank-{rank}.json").read_text()) for rank in range(processes)]


class TabularNetClassifier(_TabularNet):
    task: ClassVar[str] = "binary"

    def _outputs(self, y: np.ndarray) -> int:
        classes = len(np.unique(y))
        return 1 if classes <= 2 else classes  # binary: one logit

    def fit(self, features, target):
        self.task = "binary" if len(np.unique(np.asarray(target))) <= 2 else "multiclass"
        return super().fit(features, target)

    def predict_proba(self, features) -> np.ndarray:
        logits = self._forward(features)
        if self.spec_["outputs"] == 1:
            positive = 1 / (1 + np.exp(-logits[:, 0]))
            return np.column_stack([1 - positive, positive])
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, features) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


class TabularNetRegressor(_TabularNet):
    _estimator_type: ClassVar[str] = "regressor"
    task: ClassVar[str] = "regression"

    def predict(self, features) -> np.ndarray:
        return self._forward(features)[:, 0] * self.target_std_ + self.target_mean_


def _constraints() -> dict:
    from numbers import Integral, Real

    from sklearn.utils._param_validation import Interval

    return {"hidden_units": [Interval(Integral, 1, None, closed="left")], "layers": [Interval(Integral, 0, None, closed="left")],
            "dropout": [Interval(Real, 0, 1, closed="left")], "learning_rate": [Interval(Real, 0, None, closed="neither")],
            "weight_decay": [Interval(Real, 0, None, closed="left")], "batch_size": [Interval(Integral, 1, None, closed="left")],
            "max_epochs": [Interval(Integral, 1, None, closed="left")], "patience": [Interval(Integral, 1, None, closed="left")],
            "embedding_dim": [Interval(Integral, 1, None, closed="left")], "processes": [Interval(Integral, 1, None, closed="left")],
            "validation_fraction": [Interval(Real, 0, 1, closed="neither")], "categorical": [list, None],
            "numeric": [list, None], "random_state": [Interval(Integral, 0, None, closed="left")]}


_TabularNet._parameter_constraints = _constraints()

INTEGERS = {"hidden_units", "layers", "batch_size", "max_epochs", "patience", "embedding_dim", "processes"}


class TorchTabular(ModelKind):
    name: ClassVar[str] = "torch_tabular"
    serving_format: ClassVar[str] = "pytorch"
    model_file: ClassVar[str] = "model.pt"
    fixed_parameters: ClassVar[frozenset[str]] = ModelKind.fixed_parameters | {"categorical", "numeric", "validation_fraction"}

    def default_search_space(self, rows: int) -> list[dict[str, Any]]:
        return [
            {"name": "learning_rate", "parameter_type": "double", "min": 0.0003, "max": 0.01, "log": True},
            {"name": "hidden_units", "parameter_type": "int", "min": 16, "max": 128},
            {"name": "dropout", "parameter_type": "double", "min": 0.0, "max": 0.3},
        ]

    def estimator_class(self, task: str) -> type:
        return TabularNetRegressor if task == "regression" else TabularNetClassifier

    def cast(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: int(v) if k in INTEGERS and isinstance(v, int | float) else v for k, v in params.items()}

    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        return self.estimator_class(task)(**{**self.cast(params), "categorical": categorical, "numeric": numeric,
                                             "random_state": seed})

    def save(self, estimator, directory: Path) -> None:
        torch.jit.script(estimator.network_).save(str(directory / self.model_file))
        state = {"kind": type(estimator).__name__, "params": estimator.get_params(), "spec": estimator.spec_,
                 "preprocessing": estimator.preprocessing_.to_dict(), "history": estimator.history_, "ranks": estimator.ranks_}
        if hasattr(estimator, "classes_"):
            state["classes"] = estimator.classes_.tolist()
        if hasattr(estimator, "target_mean_"):
            state["target"] = {"mean": estimator.target_mean_, "std": estimator.target_std_}
        (directory / PREPROCESS_FILE).write_text(json.dumps(state, default=str))

    def load(self, directory: Path):
        state = json.loads((directory / PREPROCESS_FILE).read_text())
        cls = TabularNetRegressor if state["kind"] == "TabularNetRegressor" else TabularNetClassifier
        estimator = cls(**state["params"])
        estimator.network_ = torch.jit.load(str(directory / self.model_file))
        estimator.network_.eval()
        estimator.spec_, estimator.history_, estimator.ranks_ = state["spec"], state["history"], state["ranks"]
        p = state["preprocessing"]
        estimator.preprocessing_ = Preprocessing(p["categorical"], p["numeric"], p["vocabularies"], p["means"], p["stds"])
        if "classes" in state:
            estimator.classes_ = np.asarray(state["classes"])
            estimator.task = "binary" if estimator.spec_["outputs"] == 1 else "multiclass"
        if "target" in state:
            estimator.target_mean_, estimator.target_std_ = state["target"]["mean"], state["target"]["std"]
        return estimator
