"""What the served model saw and said: an append-only, rotated JSON-lines log, read by drift checks.

The local counterpart of KServe's request logger (on a cluster an InferenceService's `logger`
sends the same payloads as CloudEvents to a sink).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from cnai.core.errors import DataError

log = logging.getLogger(__name__)

TIME_FIELD = "_logged_at"
VERSION_FIELD = "_model_version"
PREDICTION_FIELD = "_prediction"


class InferenceLog:
    """Appends one line per scored row; starts a new file past `max_bytes`. Never rewrites a line.

    The current file stays open: rotate by `max_bytes`, never by moving or deleting the newest
    file under a running server (its lines would go on into the moved file)."""

    def __init__(self, directory: str | Path, max_bytes: int = 64 << 20) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # The file being appended to, its size and an open descriptor, kept between requests:
        # listing the directory and opening the file per request cost more than the write itself.
        self._path: Path | None = None
        self._size = 0
        self._descriptor: int | None = None

    def _descriptor_for(self, length: int) -> int:
        if self._path is None:
            files = sorted(self.directory.glob("inference-*.jsonl"))
            self._path = files[-1] if files else self.directory / "inference-000000.jsonl"
            self._size = self._path.stat().st_size if self._path.exists() else 0
        if self._size and self._size + length > self.max_bytes:
            number = int(self._path.stem.split("-")[1]) + 1
            self.close()
            self._path, self._size = self.directory / f"inference-{number:06d}.jsonl", 0
        if self._descriptor is None:
            self._descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._descriptor

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def append(self, features: pd.DataFrame | Mapping[str, Sequence], predictions, model_version: str) -> None:
        """One JSON line per row: its features (missing values as null), time, version, prediction.

        orjson, not json: it is a fifth of the cost, and it writes NaN as null as JSON requires."""
        stamp = dt.datetime.now(dt.UTC).isoformat()
        columns = features.to_dict(orient="list") if isinstance(features, pd.DataFrame) else features
        lines = []
        for row, prediction in enumerate(np.asarray(predictions, dtype=float).tolist()):
            record = {name: values[row] for name, values in columns.items()}
            record.update({TIME_FIELD: stamp, VERSION_FIELD: model_version, PREDICTION_FIELD: prediction})
            try:
                lines.append(orjson.dumps(record, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY))
            except orjson.JSONEncodeError as exc:  # every line is encoded before any is written: nothing half
                raise DataError(f"{_unrecordable(record)} in row {row}: it cannot be recorded ({exc}); send "
                                "integers within 64 bits and text in valid UTF-8") from exc
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            # One unbuffered O_APPEND write of whole lines: a reader never sees half a row, and a
            # line is in the file (the page cache) when the response leaves, as with a close.
            written = os.write(self._descriptor_for(len(data)), data)
            self._size += written
            if written != len(data):  # a full disk; the rows' lines are incomplete, say so loudly
                raise OSError(f"{self._path}: wrote {written} of {len(data)} bytes of inference log")


def _json_default(value: Any) -> Any:
    """What orjson does not write itself (it writes NaN and infinity as null)."""
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _unrecordable(record: dict) -> str:
    for name, value in record.items():
        try:
            orjson.dumps(value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:
            return f"input {name!r} ({str(value)[:40]!r})"
    return "an input"


def _since(since: str) -> pd.Timestamp | None:
    stamp = pd.Timestamp(since) if since else None
    return stamp.tz_localize("UTC") if stamp is not None and stamp.tzinfo is None else stamp


def _logged(directory: str | Path, since: str, torn: list[str], newest_first: bool = False) -> Iterator[dict]:
    """Each row logged at or after `since`, file by file, as it is read; a line that does not parse
    is skipped and named (file:line) in `torn`."""
    since_stamp = _since(since)
    for path in sorted(Path(directory).glob("inference-*.jsonl"), reverse=newest_first):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                    stamp = pd.Timestamp(record[TIME_FIELD])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    torn.append(f"{path.name}:{number}")
                    continue
                if since_stamp is None or stamp >= since_stamp:
                    yield record


def has_rows(directory: str | Path, since: str = "") -> bool:
    """Whether any row was logged (at or after `since`), reading up to the first one only."""
    return count_rows(directory, since, at_most=1) > 0


def count_rows(directory: str | Path, since: str = "", at_most: int = 1) -> int:
    """The rows logged (at or after `since`), counted up to `at_most` only: as many as are read."""
    from itertools import islice

    return sum(1 for _ in islice(_logged(directory, since, [], newest_first=True), at_most))


def read_inference_log(directory: str | Path, since: str = "") -> pd.DataFrame:
    """Every logged row (at or after `since`, an ISO time), oldest first.

    Rows before `since` are dropped as they are read, not after. A line that does not parse (a
    write cut short by a full disk) is skipped and counted, by file and line, never fatal."""
    torn: list[str] = []
    records = list(_logged(directory, since, torn))
    if torn:
        log.warning("skipped %d inference log line(s) that do not parse (a write cut short?): %s",
                    len(torn), ", ".join(torn[:10]) + (" ..." if len(torn) > 10 else ""))
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    frame[TIME_FIELD] = pd.to_datetime(frame[TIME_FIELD], utc=True, format="ISO8601")
    return frame
