import pandas as pd

from cnai.core.inference_log import InferenceLog, read_inference_log


def test_log_appends_rotates_and_reads_back_a_window(tmp_path):
    log = InferenceLog(tmp_path, max_bytes=200)
    frame = pd.DataFrame({"hour": [5, 6], "carrier": ["UA", None], "temp": [float("nan"), 40.5]})
    log.append(frame, [0.1, 0.9], "1")
    after_first = (read_inference_log(tmp_path)["_logged_at"].max() + pd.Timedelta(microseconds=1)).isoformat()
    log.append(frame, [0.2, 0.8], "2")
    assert len(list(tmp_path.glob("inference-*.jsonl"))) >= 2, "a file past max_bytes is not appended to"
    everything = read_inference_log(tmp_path)
    assert list(everything["_prediction"]) == [0.1, 0.9, 0.2, 0.8]
    assert everything["carrier"].isna().sum() == 2 and everything["temp"].isna().sum() == 2
    assert list(read_inference_log(tmp_path, since=after_first)["_model_version"].astype(str)) == ["2", "2"]
    assert read_inference_log(tmp_path / "empty").empty


def test_a_torn_line_is_skipped_and_named_not_fatal(tmp_path, caplog):
    """A full disk can leave half a line at the end of the newest file: the drift check failed on
    it with a bare ValueError."""
    log = InferenceLog(tmp_path)
    log.append(pd.DataFrame({"hour": [5, 6]}), [0.1, 0.9], "1")
    newest = sorted(tmp_path.glob("inference-*.jsonl"))[-1]
    with newest.open("ab") as handle:
        handle.write(b'{"hour": 7, "_logged_at": "2026-')  # cut short
    with caplog.at_level("WARNING"):
        logged = read_inference_log(tmp_path)
    assert list(logged["hour"]) == [5, 6]
    assert f"skipped 1 inference log line(s) that do not parse (a write cut short?): {newest.name}:3" in caplog.text


def test_a_value_that_cannot_be_recorded_writes_nothing(tmp_path):
    import pytest

    from cnai.core.errors import DataError

    log = InferenceLog(tmp_path)
    with pytest.raises(DataError, match=r"input 'hour' \('1180591620717411303424'\) in row 1: it cannot be recorded"):
        log.append({"hour": [1, 2**70]}, [0.1, 0.2], "1")
    assert read_inference_log(tmp_path).empty, "not the first row either"
