import pandas as pd
import pytest

from cnai.components.features.feast_features.executor import build_training_set
from cnai.core.errors import DataError

REFS = ["weather:temp", "weather:precip"]


def tables_dir(tmp_path, **tables: pd.DataFrame) -> str:
    """Side tables laid out as ingest_tables writes them: `<dir>/<view>/`."""
    for name, frame in tables.items():
        (tmp_path / "tables" / name).mkdir(parents=True)
        frame.to_parquet(tmp_path / "tables" / name / "part-0.parquet")
    return str(tmp_path / "tables")


def view(name: str, entity: str, timestamp: str = "", ttl_hours: float = 0, join_on: str = "") -> dict:
    return {"name": name, "entity": entity, "join_on": join_on or entity, "timestamp": timestamp, "ttl_hours": ttl_hours}


def join(tmp_path, events: pd.DataFrame, tables: dict, refs: list, views: list, timestamp: str, label: str,
         features: list) -> pd.DataFrame:
    """The training set, built by Feast's own offline store in memory; every case is also joined out
    of core (DuckDB, as the step joins with the packaged repo) and must agree: the same rows in the
    same order, the same statistics, the same facts, or the same error."""
    events.to_parquet(tmp_path / "events.parquet")
    side = tables_dir(tmp_path, **tables)

    def build(where, in_memory_rows):
        return build_training_set(str(tmp_path / "events.parquet"), side, str(where / "ts"), str(where / "store"),
                                  str(where / "stats.md"), refs, views, timestamp, label, features,
                                  in_memory_rows=in_memory_rows)

    (tmp_path / "out-of-core").mkdir()
    try:
        out_of_core = build(tmp_path / "out-of-core", None)
    except DataError as exc:
        out_of_core = exc
    try:
        facts = build(tmp_path, len(events))
    except DataError as exc:
        assert isinstance(out_of_core, DataError), f"only the in-memory path failed: {exc}"
        assert str(out_of_core).replace("/out-of-core", "") == str(exc)
        raise
    assert not isinstance(out_of_core, Exception), f"only the out-of-core path failed: {out_of_core}"
    joined = pd.read_parquet(tmp_path / "ts")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out-of-core" / "ts"), joined, check_dtype=False)
    assert (tmp_path / "out-of-core" / "stats.md").read_text() == (tmp_path / "stats.md").read_text()
    assert out_of_core.pop("join") == "DuckDB, out of core" and facts["join"] == "Feast offline store, in memory"
    assert out_of_core == {k: v for k, v in facts.items() if k != "join"}
    return joined, facts


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
    joined, facts = join(tmp_path, events, {"weather": weather}, REFS, [view("weather", "origin", "time_hour", 3)],
                         "time_hour", "late", ["distance"])
    joined = joined.set_index("distance")
    assert joined.loc[100.0, "temp"] == 10.0  # 10:30 sees the 10:00 reading, not 11:00's
    assert joined.loc[200.0, "temp"] == 20.0  # exactly on the hour
    assert pd.isna(joined.loc[300.0, "temp"])  # before any reading: nothing from the future
    assert pd.isna(joined.loc[400.0, "temp"])  # 6 h after the last reading: outside the 3 h TTL
    assert facts["online_entities"] == {"weather": 1}
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
    names = [ref.split(":", 1)[1] for ref in data.feature_refs if ref.startswith("origin_weather:")]
    expected = pd.merge_asof(trained[["origin", "time_hour"]].reset_index().sort_values("time_hour"),
                             weather[["origin", "time_hour", *names]], on="time_hour", by="origin",
                             tolerance=pd.Timedelta(hours=3)).set_index("index").sort_index().rename_axis(None)
    assert trained.duplicated(["origin", "time_hour"]).any(), "the data must share airport-hours for this to test anything"
    pd.testing.assert_frame_equal(trained[names], expected[names], check_dtype=False)
    # the static view beside it: each flight has its destination's row of the real airports table
    airports = pd.read_parquet(ingested["tables"] + "/destination").set_index("faa")
    pd.testing.assert_series_equal(trained["alt"], airports.loc[trained["dest"], "alt"].reset_index(drop=True),
                                   check_names=False, check_dtype=False)


def test_a_side_table_with_its_own_key_and_time_names_is_joined(tmp_path):
    """The view is built from what the side table calls its key and time, not the events' names,
    and the source file is named for the view: no example names, no fixed file."""
    readings = pd.DataFrame({"store_code": [7, 7, 9], "measured_at": pd.to_datetime(
        ["2020-05-01", "2020-05-03", "2020-05-01"], utc=True), "footfall": [1.5, 2.5, 9.0]})
    sales = pd.DataFrame({"store": [7, 7, 9, 9], "day": pd.to_datetime(["2020-05-02", "2020-05-04", "2020-05-02", "2020-04-01"], utc=True),
                          "price": [1.0, 2.0, 3.0, 4.0], "sold": [3.0, 4.0, 5.0, 6.0]})
    joined, _ = join(tmp_path, sales, {"traffic": readings}, ["traffic:footfall"],
                     [view("traffic", "store_code", "measured_at", 72, join_on="store")], "day", "sold", ["price"])
    joined = joined.set_index("price")
    assert joined["footfall"].drop(4.0).to_dict() == {1.0: 1.5, 2.0: 2.5, 3.0: 9.0}
    assert pd.isna(joined.loc[4.0, "footfall"])  # before the store's first reading
    assert (tmp_path / "store" / "data" / "traffic.parquet").exists()
    assert "label `sold`: 3.0 25.0%, 4.0 25.0%" in (tmp_path / "stats.md").read_text()


def test_the_packaged_repo_joins_in_duckdb_at_any_size(tmp_path):
    """Feast's offline store took 10 s for the example's 327,346 flights and DuckDB's join 3 s (the
    same training set; BENCHMARKS.md, time-to-model), and it was faster on 3,000 events too: the
    step joins in DuckDB by default, however few the events."""
    readings = pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2020-01-01"], utc=True), "x": [1.0]})
    events = pd.DataFrame({"k": ["a", "a"], "t": pd.to_datetime(["2020-01-02", "2020-01-03"], utc=True), "y": [0, 1]})
    events.to_parquet(tmp_path / "events.parquet")
    facts = build_training_set(str(tmp_path / "events.parquet"), tables_dir(tmp_path, v=readings), str(tmp_path / "ts"),
                               str(tmp_path / "store"), str(tmp_path / "stats.md"), ["v:x"], [view("v", "k", "t", 0)],
                               "t", "y", [])
    assert facts["join"] == "DuckDB, out of core"
    assert pd.read_parquet(tmp_path / "ts")["x"].tolist() == [1.0, 1.0]


def test_a_missing_side_table_column_is_named(tmp_path):
    side = pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2020-01-01"], utc=True)})
    events = pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2020-01-02"], utc=True), "y": [1]})
    with pytest.raises(DataError, match=r"tables/v \(feature source of view 'v'\): column\(s\) \['x'\] not found"):
        join(tmp_path, events, {"v": side}, ["v:x"], [view("v", "k", "t", 1)], "t", "y", [])


def test_a_join_that_matches_no_event_stops_with_what_to_check(tmp_path):
    """Keys written differently in the two tables (7 and "S7"): every feature came back null, the
    step passed, and tune failed with a raw scikit-learn error."""
    readings = pd.DataFrame({"code": ["S7", "S9"], "at": pd.to_datetime(["2020-05-01", "2020-05-01"], utc=True),
                             "footfall": [1.5, 9.0]})
    sales = pd.DataFrame({"store": ["7", "9"], "day": pd.to_datetime(["2020-05-02", "2020-05-02"], utc=True), "sold": [3.0, 4.0]})
    with pytest.raises(DataError, match=r"tables/traffic: the point-in-time join of view 'traffic' found no value of "
                                        r"\['footfall'\] for any of the 2 events.*e.g. '7'.*e.g. 'S7'"):
        join(tmp_path, sales, {"traffic": readings}, ["traffic:footfall"],
             [view("traffic", "code", "at", 72, join_on="store")], "day", "sold", [])
    assert not (tmp_path / "ts").exists()


STORES = pd.DataFrame({"store_id": [7, 9], "size_m2": [120.0, 800.0], "region": ["north", "south"]})


def test_static_and_timestamped_views_on_their_own_keys_are_joined_together(tmp_path):
    """A static lookup table (stores: one row per key, no time) joined on the key alone, beside a
    point-in-time view on another key, in one Feast repo and one training set."""
    prices = pd.DataFrame({"sku": ["a", "a", "b"], "priced_at": pd.to_datetime(["2020-05-01", "2020-05-03", "2020-05-01"], utc=True),
                           "price": [1.0, 2.0, 5.0]})
    sales = pd.DataFrame({"store": [7, 7, 9, 4], "item": ["a", "a", "b", "b"],
                          "day": pd.to_datetime(["2020-05-02", "2020-05-04", "2020-04-01", "2020-05-02"], utc=True),
                          "sold": [3.0, 4.0, 5.0, 6.0]})
    joined, facts = join(tmp_path, sales, {"stores": STORES, "prices": prices},
                         ["stores:size_m2", "stores:region", "prices:price"],
                         [view("stores", "store_id", join_on="store"), view("prices", "sku", "priced_at", join_on="item")],
                         "day", "sold", [])
    assert list(joined.columns) == ["day", "store", "item", "size_m2", "region", "price", "sold"]
    joined = joined.set_index("sold")
    assert joined["size_m2"].to_dict() == {3.0: 120.0, 4.0: 120.0, 5.0: 800.0, 6.0: pytest.approx(float("nan"), nan_ok=True)}
    assert joined.loc[5.0, "region"] == "south"  # long before any price: a static row holds at every time
    assert joined.loc[3.0, "price"] == 1.0 and joined.loc[4.0, "price"] == 2.0 and pd.isna(joined.loc[5.0, "price"])
    assert facts["online_entities"] == {"stores": 2, "prices": 2}
    # From a new user's trial: a side table lacking some events' keys was said nowhere but in the
    # statistics ("present 87.9%"). Store 4 has no row, sku b none before April's sale.
    assert facts["unmatched"] == {"stores": {"events": 1, "key": "store", "keys": ["4"]},
                                  "prices": {"events": 1, "key": "item", "keys": ["b"]}}
    assert facts["summary"] == "4 rows; 'stores' found no row for 1 (25.0%; store e.g. '4'); 'prices' found no row for 1 (25.0%; item e.g. 'b')"


def test_events_without_time_take_static_views(tmp_path):
    """A single table with no time column (split: random) can still look up a static table."""
    sales = pd.DataFrame({"store": [9, 7, 7], "sold": [1.0, 2.0, 3.0]})
    joined, _ = join(tmp_path, sales, {"stores": STORES}, ["stores:size_m2"], [view("stores", "store_id", join_on="store")],
                     "", "sold", ["store"])
    assert joined.set_index("sold")["size_m2"].to_dict() == {1.0: 800.0, 2.0: 120.0, 3.0: 120.0}
    assert list(joined.columns) == ["store", "size_m2", "sold"]


def test_a_static_table_with_a_repeated_key_is_refused_by_name(tmp_path):
    stores = pd.concat([STORES, STORES.iloc[[0]]])
    with pytest.raises(DataError, match=r"tables/stores \(feature source of view 'stores'\): 1 row\(s\) repeat a key "
                                        r"\(a static table needs one row per key\), e.g. store_id=7"):
        join(tmp_path, pd.DataFrame({"store": [7], "sold": [1.0]}), {"stores": stores}, ["stores:size_m2"],
             [view("stores", "store_id", join_on="store")], "", "sold", [])


def test_a_timestamped_view_needs_timed_events(tmp_path):
    prices = pd.DataFrame({"sku": ["a"], "at": pd.to_datetime(["2020-05-01"], utc=True), "price": [1.0]})
    with pytest.raises(DataError, match=r"feature view 'prices' is joined as of each event's time, but the events have no timestamp"):
        join(tmp_path, pd.DataFrame({"sku": ["a"], "sold": [1.0]}), {"prices": prices}, ["prices:price"],
             [view("prices", "sku", "at")], "", "sold", [])
