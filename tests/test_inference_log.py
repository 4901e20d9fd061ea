import pandas as pd
import pytest

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


def test_whether_traffic_was_logged_is_answered_without_reading_the_whole_log(tmp_path, monkeypatch):
    """`cnai monitor` read the whole log (1.09 GB of memory for 128 MB) only to learn whether it was empty."""
    import cnai.core.inference_log as inference_log
    from cnai.core.inference_log import InferenceLog, has_rows

    log = InferenceLog(tmp_path)
    log.append(pd.DataFrame({"a": [1.0, 2.0]}), [0.1, 0.2], "1")
    monkeypatch.setattr(inference_log, "read_inference_log", lambda *a, **k: pytest.fail("read whole"))
    assert has_rows(tmp_path) and not has_rows(tmp_path, "2999-01-01") and not has_rows(tmp_path / "none")
    (tmp_path / "inference-0.jsonl").write_text('{"torn')
    assert has_rows(tmp_path)


def test_the_servers_own_log_is_rotated_as_a_server_starts(tmp_path):
    from cnai.backends.local.deployment import _rotate

    log = tmp_path / "m.log"
    log.write_bytes(b"x" * 100)
    _rotate(log, max_bytes=1000)
    assert log.exists() and not (tmp_path / "m.log.1").exists()
    log.write_bytes(b"y" * 2000)
    _rotate(log, max_bytes=1000)
    assert not log.exists() and (tmp_path / "m.log.1").read_bytes() == b"y" * 2000
