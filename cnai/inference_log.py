"""What the served model saw and said: an append-only, rotated JSON-lines log, read by drift checks.

The local counterpart of KServe's request logger (on a cluster an InferenceService's `logger`
sends the same payloads as CloudEvents to a sink).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from pathlib import Path

import pandas as pd

TIME_FIELD = "_logged_at"
VERSION_FIELD = "_model_version"
PREDICTION_FIELD = "_prediction"


class InferenceLog:
    """Appends one line per scored row; starts a new file past `max_bytes`. Never rewrites a line."""

    def __init__(self, directory: str | Path, max_bytes: int = 64 << 20) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def _current_file(self) -> Path:
        files = sorted(self.directory.glob("inference-*.jsonl"))
        if files and files[-1].stat().st_size < self.max_bytes:
            return files[-1]
        number = int(files[-1].stem.split("-")[1]) + 1 if files else 0
        return self.directory / f"inference-{number:06d}.jsonl"

    def append(self, frame: pd.DataFrame, predictions, model_version: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat()
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        lines = []
        for record, prediction in zip(records, predictions, strict=True):
            record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
            record.update({TIME_FIELD: stamp, VERSION_FIELD: model_version, PREDICTION_FIELD: float(prediction)})
            lines.append(json.dumps(record, default=str))
        with self._lock, self._current_file().open("a") as handle:
            handle.write("\n".join(lines) + "\n")


def read_inference_log(directory: str | Path, since: str = "") -> pd.DataFrame:
    """Every logged row (at or after `since`, an ISO time), oldest first."""
    files = sorted(Path(directory).glob("inference-*.jsonl"))
    frames = [pd.read_json(path, lines=True, dtype=False, precise_float=True) for path in files if path.stat().st_size]
    if not frames:
        return pd.DataFrame()
    log = pd.concat(frames, ignore_index=True)
    log[TIME_FIELD] = pd.to_datetime(log[TIME_FIELD], utc=True, format="ISO8601")
    if since:
        log = log[log[TIME_FIELD] >= pd.Timestamp(since)]
    return log.reset_index(drop=True)
