import pandas as pd

from cnai.components.features.feast_features.executor import build_training_set

REFS = ["weather:temp", "weather:precip"]


def test_join_is_point_in_time_correct(tmp_path):
    """Each event gets the latest weather at or before its time, never a later reading, within the TTL."""
    hours = pd.to_datetime(["2013-01-01 10:00", "2013-01-01 11:00", "2013-01-01 12:00"], utc=True)
    weather = pd.DataFrame({"origin": ["EWR"] * 3, "time_hour": hours, "temp": [10.0, 20.0, 30.0], "precip": [0.0, 0.1, 0.2],
                            "dewp": 0.0, "humid": 0.0, "wind_speed": 0.0, "wind_gust": 0.0, "pressure": 0.0, "visib": 0.0})
    events = pd.DataFrame({
        "origin": ["EWR"] * 4,
        "time_hour": pd.to_datetime(["2013-01-01 10:30", "2013-01-01 11:00", "2013-01-01 09:00", "2013-01-01 18:00"], utc=True),
        "distance": [100.0, 200.0, 300.0, 400.0],
        "late": [0, 1, 0, 1],
    })
    weather.to_parquet(tmp_path / "weather.parquet")
    events.to_parquet(tmp_path / "events.parquet")
    facts = build_training_set(str(tmp_path / "events.parquet"), str(tmp_path / "weather.parquet"), str(tmp_path / "ts"),
                               str(tmp_path / "store"), str(tmp_path / "stats.md"), REFS, "origin", "time_hour", "late", ["distance"],
                               {"name": "weather", "entity": "origin", "timestamp": "time_hour", "ttl_hours": 3})
    joined = pd.read_parquet(tmp_path / "ts").set_index("distance")
    assert joined.loc[100.0, "temp"] == 10.0  # 10:30 sees the 10:00 reading, not 11:00's
    assert joined.loc[200.0, "temp"] == 20.0  # exactly on the hour
    assert pd.isna(joined.loc[300.0, "temp"])  # before any reading: nothing from the future
    assert pd.isna(joined.loc[400.0, "temp"])  # 6 h after the last reading: outside the 3 h TTL
    assert facts["online_entities"] == 1
    assert (tmp_path / "store" / "data" / "online_store.db").exists()
    assert (tmp_path / "store" / "feature_store.yaml").exists()
    statistics = (tmp_path / "stats.md").read_text()
    assert "4 rows, label `late`: 0 50.0%, 1 50.0%" in statistics
    assert "| temp | numeric | 50.0% | 15 |" in statistics  # two of four events have a reading: 10 and 20


def test_every_event_gets_the_features_of_its_airport_and_hour(training_set, ingested, project_config):
    """Feast joins each distinct (airport, time) once; every one of the many events sharing it must
    still get exactly the reading pandas' own as-of join finds (latest at or before, within 3 h)."""
    data = project_config.data
    trained = pd.read_parquet(training_set)
    weather = pd.read_parquet(ingested["side"]).sort_values("time_hour")
    names = [ref.split(":", 1)[1] for ref in data.feature_refs]
    expected = pd.merge_asof(trained[["origin", "time_hour"]].reset_index().sort_values("time_hour"),
                             weather[["origin", "time_hour", *names]], on="time_hour", by="origin",
                             tolerance=pd.Timedelta(hours=3)).set_index("index").sort_index().rename_axis(None)
    assert trained.duplicated(["origin", "time_hour"]).any(), "the data must share airport-hours for this to test anything"
    pd.testing.assert_frame_equal(trained[names], expected[names], check_dtype=False)


def test_a_side_table_with_its_own_key_and_time_names_is_joined(tmp_path):
    """The view is built from what the side table calls its key and time, not the events' names,
    and the source file is named for the view: no example names, no fixed file."""
    readings = pd.DataFrame({"store_code": [7, 7, 9], "measured_at": pd.to_datetime(
        ["2020-05-01", "2020-05-03", "2020-05-01"], utc=True), "footfall": [1.5, 2.5, 9.0]})
    sales = pd.DataFrame({"store": [7, 7, 9, 9], "day": pd.to_datetime(["2020-05-02", "2020-05-04", "2020-05-02", "2020-04-01"], utc=True),
                          "price": [1.0, 2.0, 3.0, 4.0], "sold": [3.0, 4.0, 5.0, 6.0]})
    readings.to_parquet(tmp_path / "readings.parquet")
    sales.to_parquet(tmp_path / "sales.parquet")
    build_training_set(str(tmp_path / "sales.parquet"), str(tmp_path / "readings.parquet"), str(tmp_path / "ts"),
                       str(tmp_path / "store"), str(tmp_path / "stats.md"), ["traffic:footfall"], "store", "day", "sold",
                       ["price"], {"name": "traffic", "entity": "store_code", "timestamp": "measured_at", "ttl_hours": 72})
    joined = pd.read_parquet(tmp_path / "ts").set_index("price")
    assert joined["footfall"].drop(4.0).to_dict() == {1.0: 1.5, 2.0: 2.5, 3.0: 9.0}
    assert pd.isna(joined.loc[4.0, "footfall"])  # before the store's first reading
    assert (tmp_path / "store" / "data" / "traffic.parquet").exists()
    assert "label `sold`: 3.0 25.0%, 4.0 25.0%" in (tmp_path / "stats.md").read_text()


def test_a_missing_side_table_column_is_named(tmp_path):
    import pytest

    from cnai.core.errors import DataError

    pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2020-01-01"], utc=True)}).to_parquet(tmp_path / "side.parquet")
    pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2020-01-02"], utc=True), "y": [1]}).to_parquet(tmp_path / "events.parquet")
    with pytest.raises(DataError, match=r"side.parquet \(feature source of view 'v'\): column\(s\) \['x'\] not found"):
        build_training_set(str(tmp_path / "events.parquet"), str(tmp_path / "side.parquet"), str(tmp_path / "ts"),
                           str(tmp_path / "store"), str(tmp_path / "stats.md"), ["v:x"], "k", "t", "y", [],
                           {"name": "v", "entity": "k", "timestamp": "t", "ttl_hours": 1})


def test_a_join_that_matches_no_event_stops_with_what_to_check(tmp_path):
    """Keys written differently in the two tables (7 and "S7"): every feature came back null, the
    step passed, and tune failed with a raw scikit-learn error."""
    import pytest

    from cnai.core.errors import DataError

    pd.DataFrame({"code": ["S7", "S9"], "at": pd.to_datetime(["2020-05-01", "2020-05-01"], utc=True),
                  "footfall": [1.5, 9.0]}).to_parquet(tmp_path / "readings.parquet")
    pd.DataFrame({"store": ["7", "9"], "day": pd.to_datetime(["2020-05-02", "2020-05-02"], utc=True),
                  "sold": [3.0, 4.0]}).to_parquet(tmp_path / "sales.parquet")
    with pytest.raises(DataError, match=r"readings.parquet: the point-in-time join of view 'traffic' found no value of "
                                        r"\['footfall'\] for any of the 2 events.*e.g. '7'.*e.g. 'S7'"):
        build_training_set(str(tmp_path / "sales.parquet"), str(tmp_path / "readings.parquet"), str(tmp_path / "ts"),
                           str(tmp_path / "store"), str(tmp_path / "stats.md"), ["traffic:footfall"], "store", "day",
                           "sold", [], {"name": "traffic", "entity": "code", "timestamp": "at", "ttl_hours": 72})
    assert not (tmp_path / "ts").exists()
