import pandas as pd

from cnai.components.features.feast_features.executor import build_training_set

REFS = ["origin_weather:temp", "origin_weather:precip"]


def test_join_is_point_in_time_correct(tmp_path):
    """Each event gets the latest weather at or before its time, never a later reading, within the TTL."""
    hours = pd.to_datetime(["2013-01-01 10:00", "2013-01-01 11:00", "2013-01-01 12:00"], utc=True)
    weather = pd.DataFrame({"origin": ["EWR"] * 3, "time_hour": hours, "temp": [10.0, 20.0, 30.0], "precip": [0.0, 0.1, 0.2],
                            "dewp": 0.0, "humid": 0.0, "wind_speed": 0.0, "wind_gust": 0.0, "pressure": 0.0, "visib": 0.0})
    events = pd.DataFrame({
        "origin": ["EWR"] * 4,
        "time_hour": pd.to_datetime(["2013-01-01 10:30", "2013-01-01 11:00", "2013-01-01 09:00", "2013-01-01 18:00"], utc=True),
        "distance": [100.0, 200.0, 300.0, 400.0],
        "delayed": [0, 1, 0, 1],
    })
    weather.to_parquet(tmp_path / "weather.parquet")
    events.to_parquet(tmp_path / "events.parquet")
    facts = build_training_set(str(tmp_path / "events.parquet"), str(tmp_path / "weather.parquet"), str(tmp_path / "ts"),
                               str(tmp_path / "store"), str(tmp_path / "stats.md"), REFS, "origin", "time_hour", "delayed", ["distance"])
    joined = pd.read_parquet(tmp_path / "ts").set_index("distance")
    assert joined.loc[100.0, "temp"] == 10.0  # 10:30 sees the 10:00 reading, not 11:00's
    assert joined.loc[200.0, "temp"] == 20.0  # exactly on the hour
    assert pd.isna(joined.loc[300.0, "temp"])  # before any reading: nothing from the future
    assert pd.isna(joined.loc[400.0, "temp"])  # 6 h after the last reading: outside the 3 h TTL
    assert facts["online_entities"] == 1
    assert (tmp_path / "store" / "data" / "online_store.db").exists()
    assert (tmp_path / "store" / "feature_store.yaml").exists()
    statistics = (tmp_path / "stats.md").read_text()
    assert "4 rows, label `delayed` positive rate 50.0%" in statistics
    assert "| temp | numeric | 50.0% | 15 |" in statistics  # two of four events have a reading: 10 and 20


def test_every_event_gets_the_features_of_its_airport_and_hour(training_set, ingested, project_config):
    """Feast joins each distinct (airport, time) once; every one of the many flights sharing it must
    still get exactly the reading pandas' own as-of join finds (latest at or before, within 3 h)."""
    data = project_config.data
    trained = pd.read_parquet(training_set)
    weather = pd.read_parquet(ingested["weather"]).sort_values("time_hour")
    names = [ref.split(":", 1)[1] for ref in data.feature_refs]
    expected = pd.merge_asof(trained[["origin", "time_hour"]].reset_index().sort_values("time_hour"),
                             weather[["origin", "time_hour", *names]], on="time_hour", by="origin",
                             tolerance=pd.Timedelta(hours=3)).set_index("index").sort_index().rename_axis(None)
    assert trained.duplicated(["origin", "time_hour"]).any(), "the data must share airport-hours for this to test anything"
    pd.testing.assert_frame_equal(trained[names], expected[names], check_dtype=False)
