"""A training set larger than `model.max_training_rows` is trained on a seeded, stratified sample
read batch by batch: the same rows every time, each class in its share, and what was done recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnai.core.sampling import read_training_set


@pytest.fixture
def big(tmp_path):
    """Three Parquet files (a dataset directory, as Spark writes them); a rare class of 1%."""
    rng = np.random.default_rng(0)
    rows = 30_000
    frame = pd.DataFrame({"x": rng.normal(size=rows), "city": rng.choice(["a", "b", "c"], rows),
                          "label": np.where(rng.random(rows) < 0.01, "rare", np.where(rng.random(rows) < 0.3, "yes", "no"))})
    (tmp_path / "set").mkdir()
    for i, part in enumerate(np.array_split(frame, 3)):
        part.to_parquet(tmp_path / "set" / f"part-{i}.parquet", index=False)
    return str(tmp_path / "set"), frame


def test_a_small_training_set_is_read_whole(big):
    path, frame = big
    read, sample = read_training_set(path, "label", True, 50_000, seed=1)
    pd.testing.assert_frame_equal(read, frame)
    assert sample == {"rows": 30_000, "sampled_rows": 30_000, "seed": None, "stratified": False}


def test_a_larger_one_is_a_seeded_stratified_sample_of_its_own_rows(big):
    path, frame = big
    read, sample = read_training_set(path, "label", True, 3_000, seed=1)
    assert sample["rows"] == 30_000 and sample["seed"] == 1 and sample["stratified"]
    assert abs(len(read) - 3_000) <= 3 and sample["sampled_rows"] == len(read)
    shares, kept = frame["label"].value_counts(normalize=True), read["label"].value_counts(normalize=True)
    for value in shares.index:  # each class keeps its share, the rare one included
        assert abs(kept[value] - shares[value]) < 0.002, value
    assert read.merge(frame, how="left", indicator=True)["_merge"].eq("both").all(), "only rows of the set"
    assert not read.duplicated().any()
    again, _ = read_training_set(path, "label", True, 3_000, seed=1)
    pd.testing.assert_frame_equal(read, again)
    other, _ = read_training_set(path, "label", True, 3_000, seed=2)
    assert not read.equals(other)
    assert list(read.dtypes) == list(frame.dtypes)


def test_regression_samples_uniformly(big):
    path, frame = big
    read, sample = read_training_set(path, "x", False, 2_000, seed=3)
    assert len(read) == 2_000 and not sample["stratified"]
    assert abs(read["x"].mean() - frame["x"].mean()) < 0.1
