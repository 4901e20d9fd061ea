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
