import pandas as pd
import pytest

from cnai.components.data.ingest.executor import ingest_table
from cnai.core.errors import DataError
from conftest import LABEL


def test_types_and_derived_columns_are_applied(ingested, small_tables):
    frame = pd.read_parquet(ingested["events"])
    source_rows = sum(1 for _ in small_tables["events"].open()) - 1
    assert len(frame) == source_rows
    assert str(frame["time_hour"].dtype) == "datetime64[us, UTC]"
    assert frame["distance"].dtype == "float64" and frame["carrier"].dtype == object
    # the example derives its label: arr_delay > 15, NULL where the arrival is unknown
    labelled = frame.dropna(subset=["arr_delay"])
    assert (labelled[LABEL] == (labelled["arr_delay"] > 15).astype(int)).all()
    assert frame.loc[frame["arr_delay"].isna(), LABEL].isna().all()


def test_missing_declared_column_names_file_and_column(small_tables, tmp_path):
    with pytest.raises(DataError, match=rf"{small_tables['events'].name}.*'no_such_column'"):
        ingest_table(str(small_tables["events"]), str(tmp_path / "out"), {"no_such_column": "int"})
    assert not (tmp_path / "out").exists()


def test_unparsable_value_names_column_and_example(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("a,b\n1,x\n2,oops\n")
    with pytest.raises(DataError, match=r"bad\.csv: a: .*|bad\.csv: b: 2 value\(s\) not double.*'b'"):
        ingest_table(str(source), str(tmp_path / "out"), {"a": "int", "b": "double"})
    assert not (tmp_path / "out").exists(), "a failed ingest must leave no output behind"


def test_parquet_written_by_pandas_keeps_its_nanosecond_timestamps(tmp_path):
    """pandas writes TIMESTAMP(NANOS), which Spark alone refuses (PARQUET_TYPE_ILLEGAL)."""
    times = pd.to_datetime(["2013-01-01 05:00:00.123456789", "2013-06-30 23:59:59.000000000"], utc=True)
    pd.DataFrame({"time_hour": times, "naive": times.tz_localize(None), "n": [1, 2]}).to_parquet(tmp_path / "in.parquet")
    ingest_table(str(tmp_path / "in.parquet"), str(tmp_path / "out"),
                 {"time_hour": "timestamp", "naive": "timestamp", "n": "int"}, source_format="parquet")
    frame = pd.read_parquet(tmp_path / "out")
    expected = times.floor("us")  # Spark keeps microseconds
    assert list(frame["time_hour"]) == list(expected)
    assert list(frame["naive"].dt.tz_localize(None) if frame["naive"].dt.tz else frame["naive"]) == list(expected.tz_localize(None))


def test_truncated_parquet_names_the_file(tmp_path):
    source = tmp_path / "cut.parquet"
    pd.DataFrame({"n": range(1000)}).to_parquet(source)
    source.write_bytes(source.read_bytes()[:200])
    with pytest.raises(DataError, match=r"cut\.parquet: not a readable Parquet file"):
        ingest_table(str(source), str(tmp_path / "out"), {"n": "int"}, source_format="parquet")
    assert not (tmp_path / "out").exists()
