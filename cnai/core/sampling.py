"""A training set larger than memory is trained on a bounded, seeded sample, read without loading
the whole: which rows are kept is decided from the label column alone (stratified by class for
classification, so each class keeps its share), then the files are streamed batch by batch and
only the kept rows are held. The same path, size and seed give the same rows, so tune and train
see one sample; the sample's size and seed go into the step's lineage and the model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnai.core.errors import DataError


def _files(path: str) -> list[str]:
    """The Parquet files of a file or a dataset directory (Spark's or ours), in a fixed order."""
    import pyarrow.dataset as pads

    return sorted(pads.dataset(path, format="parquet").files) if Path(path).is_dir() else [path]


def _keep(labels: np.ndarray | None, total: int, max_rows: int, seed: int) -> np.ndarray:
    """A boolean per row: `max_rows` of `total`, each class (the codes in `labels`) in its share."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(total, dtype=bool)
    if labels is None:
        keep[rng.choice(total, size=max_rows, replace=False)] = True
        return keep
    classes, counts = np.unique(labels, return_counts=True)
    quotas = np.maximum(1, np.floor(counts * max_rows / total)).astype(int)  # every class stays in
    for code, quota in zip(classes, np.minimum(quotas, counts), strict=True):
        rows = np.flatnonzero(labels == code)
        keep[rng.choice(rows, size=quota, replace=False)] = True
    return keep


def read_training_set(path: str, label: str, classification: bool, max_rows: int | None, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set, or a seeded (stratified) sample of `max_rows` when it has more rows, and
    what was done: {rows, sampled_rows, seed, stratified}."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = _files(path)
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if not max_rows or total <= max_rows:
        return pd.read_parquet(path), {"rows": total, "sampled_rows": total, "seed": None, "stratified": False}
    labels = None
    if classification:
        try:
            column = pa.chunked_array([pq.read_table(f, columns=[label]).column(label) for f in files])
        except (KeyError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path}: no label column {label!r} to sample by ({exc})") from exc
        labels = pc.index_in(column, pc.unique(column)).to_numpy(zero_copy_only=False)
        labels = np.where(np.isnan(labels.astype(float)), -1, labels).astype(np.int64)  # a missing label is its own stratum
    keep = _keep(labels, total, max_rows, seed)
    kept, offset = [], 0
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=256_000):
            mask = keep[offset:offset + batch.num_rows]
            offset += batch.num_rows
            if mask.any():
                kept.append(batch.filter(pa.array(mask)))
    frame = (pa.Table.from_batches(kept) if kept else pq.read_schema(files[0]).empty_table()).to_pandas()
    return frame, {"rows": total, "sampled_rows": len(frame), "seed": seed, "stratified": classification}
