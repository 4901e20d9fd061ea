"""Imported by the fork server of `warm_steps` alone: the libraries steps use, once.

Only libraries, each free of threads at import (a fork copies no thread). Not our own package: a
task imports it from the files as they are then (the fork server may outlive an edit, as in a test
session); this module's parents are empty packages. Whatever these imports print goes nowhere: a
task's own output starts after its fork. A library that fails to import is left for the step that
needs it to report.
"""

from __future__ import annotations

import importlib
import os

# What several steps import. The first step waits for these imports, so a library one step alone
# uses (Great Expectations in validate, Optuna in tune) is left to that step: preloading it would
# only move its import in front of the first step.
PRELOADED = ("kfp.dsl.executor_main", "numpy", "pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.metrics",
             "sklearn.model_selection", "codecarbon", "mlflow", "duckdb", "yaml")


def _preload() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        for name in PRELOADED:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the step importing it says why
                continue
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (devnull, *saved):
            os.close(fd)


_preload()
