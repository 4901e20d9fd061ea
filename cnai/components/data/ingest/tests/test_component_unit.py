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


def test_a_derived_column_spark_cannot_read_is_named_with_spark_s_reason(tmp_path):
    """From a new user's trial: `yeer(date)` and `year(dat)` failed as "Spark could not read it as
    csv: at org.apache.spark.sql.connect.execution.ExecuteThreadRunner...", the file being fine."""
    source = tmp_path / "nyse.csv"
    source.write_text("date,volume\n1962-12-03,1.5\n1962-12-04,1.7\n")
    columns = {"date": "timestamp", "volume": "double"}
    for derived, named, reason in (({"year": "yeer(date)"}, "year", "UNRESOLVED_ROUTINE"),
                                   ({"year": "year(date)", "month": "month(dat)"}, "month", "`dat` cannot be resolved"),
                                   ({"year": "year(date", "later": "year + 1"}, "year", "PARSE_SYNTAX_ERROR")):
        with pytest.raises(DataError) as refused:
            ingest_table(str(source), str(tmp_path / "out"), columns, derived)
        message = str(refused.value)
        assert message.startswith(f"nyse.csv: derived_columns.{named} ({derived[named]!r}) is not a Spark SQL expression "
                                  "over the table's columns: [") and reason in message, message
        assert "\n" not in message and "org.apache" not in message
        assert not (tmp_path / "out").exists()


def test_a_value_of_another_type_says_what_to_declare_or_set(tmp_path):
    """From a new user's trial: a text column declared bigint, and numbers with a decimal comma,
    were named without what to do."""
    source = tmp_path / "college.csv"
    source.write_text("League,Books\nA,\"750,5\"\nN,\"600,0\"\n")
    with pytest.raises(DataError, match=r"League: 2 value\(s\) not bigint .*; if 'League' is not bigint, declare it as it "
                                        r"is under the table's columns in cnai\.yaml \(e\.g\. League: string\)"):
        ingest_table(str(source), str(tmp_path / "out"), {"League": "bigint"})
    with pytest.raises(DataError, match=r"Books: 2 value\(s\) not double \(e\.g\. column 'Books' has '750,5'\); its "
                                        r"numbers are written with a decimal comma: set the table's `decimal: ','`"):
        ingest_table(str(source), str(tmp_path / "out"), {"League": "string", "Books": "double"})


def test_a_windows_export_is_read_with_its_own_encoding(tmp_path):
    """From a new user's trial: Excel's windows-1252 could only be declared ISO-8859-1, which reads
    its ’ (0x92) as an invisible control character: "Côte d’Ivoire" then matched no side table's key.
    cnai init finds windows-1252 for such a file, and ingest reads it so."""
    from cnai.orchestration.init_project import csv_dialect

    source = tmp_path / "dd.csv"
    source.write_bytes("country,v\nCôte d’Ivoire,1\nEuro €,2\n".encode("cp1252"))
    assert csv_dialect(str(source), str(source))["encoding"] == "windows-1252"
    ingest_table(str(source), str(tmp_path / "out"), {"country": "string", "v": "int"}, encoding="windows-1252")
    assert pd.read_parquet(tmp_path / "out")["country"].tolist() == ["Côte d’Ivoire", "Euro €"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("country,v\nCôte d'Ivoire,1\n".encode("latin-1"))  # no byte of 0x80-0x9F: Latin-1 as before
    assert csv_dialect(str(latin), str(latin))["encoding"] == "ISO-8859-1"


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


def test_an_empty_file_and_a_header_alone_are_refused_by_name(tmp_path):
    """A new user's empty export read as "declared column(s) not found; the file has []"; a header
    alone passed ingest and died in validate with Great Expectations' own pydantic error."""
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("a,b\n")
    with pytest.raises(DataError, match=r"empty.csv: the file is empty"):
        ingest_table(str(empty), str(tmp_path / "e"), {"a": "string"})
    with pytest.raises(DataError, match=r"header.csv: no rows to read \(a header line only\)"):
        ingest_table(str(header), str(tmp_path / "h"), {"a": "string", "b": "double"})
    assert not (tmp_path / "h").exists(), "nothing is left for a later step to read"


def test_a_decimal_in_a_column_declared_whole_is_refused_not_cut(tmp_path):
    """`balance: bigint` on 729.53 stored 729 and the run went on (Spark's cast cuts decimals)."""
    source = tmp_path / "default.csv"
    source.write_text("balance,income\n729.53,44361\n12.0,-3\n9007199254740993,7\n")
    with pytest.raises(DataError, match=r"default.csv: balance: 1 value\(s\) not bigint \(e.g. column 'balance' has '729.53'\)"):
        ingest_table(str(source), str(tmp_path / "d"), {"balance": "bigint", "income": "bigint"})
    source.write_text("balance,income\n12.0,-3\n9007199254740993,7\n")
    ingest_table(str(source), str(tmp_path / "d"), {"balance": "bigint", "income": "int"})
    assert pd.read_parquet(tmp_path / "d")["balance"].tolist() == [12, 9007199254740993], "whole, and exact past 2**53"


def test_whole_numbers_are_kept_only_as_written(tmp_path):
    """An int column keeps a value only if it is the number written: a double past the int range was
    stored as 2147483647, and a fraction past 2**53 cut to its whole part, without a word."""
    source = tmp_path / "whole.csv"
    source.write_text("n,big\n 12 ,+9007199254740993\n12.,9007199254740992.000\n-0,-9223372036854775808\n")
    ingest_table(str(source), str(tmp_path / "ok"), {"n": "int", "big": "bigint"})
    written = pd.read_parquet(tmp_path / "ok")
    assert written["n"].tolist() == [12, 12, 0]
    assert written["big"].tolist() == [9007199254740993, 9007199254740992, -9223372036854775808]
    for fraction in ("9007199254740995.5", "4503599627370496.5", "123456789.0000000001"):  # all equal a whole double
        source.write_text(f"n,big\n1,{fraction}\n")
        with pytest.raises(DataError, match=rf"big: 1 value\(s\) not bigint \(e.g. column 'big' has '{fraction}'\)"):
            ingest_table(str(source), str(tmp_path / "cut"), {"n": "int", "big": "bigint"})
    parquet = tmp_path / "doubles.parquet"
    pd.DataFrame({"n": [12.0, 3e9], "big": [1.2e17, 3e9]}).to_parquet(parquet)
    with pytest.raises(DataError, match=r"n: 1 value\(s\) not int"):
        ingest_table(str(parquet), str(tmp_path / "clamped"), {"n": "int", "big": "bigint"}, source_format="parquet")
    ingest_table(str(parquet), str(tmp_path / "big"), {"big": "bigint"}, source_format="parquet")
    assert pd.read_parquet(tmp_path / "big")["big"].tolist() == [120000000000000000, 3000000000]


def test_one_pass_write_equals_the_checked_frame_and_refuses_alike(tmp_path):
    """ingest writes in one pass over the source, counting what did not parse as it writes
    (cnai.core.tabular.write_typed); typed_frame checks first, with a query of its own. Both
    give the same rows, types and error."""
    from cnai.backends.local.spark import spark_session
    from cnai.core.tabular import typed_frame

    source = tmp_path / "mixed.csv"
    source.write_text("n,big,x,when,day,name,flag\n"
                      "1,9007199254740993,0.5,2020/01/31 10:00:00,Jan 31 2000,a,true\n"
                      "2.0,7,?,2020-02-01T00:00:00,,b,\n"
                      ",-3,1e3,,Feb 1 2000,,false\n")
    columns = {"n": "int", "big": "bigint", "x": "double", "when": "timestamp", "day": "date", "name": "string", "flag": "boolean"}
    derived = {"n_plus": "n + 1", "weekday": "dayofweek(when)"}
    info = ingest_table(str(source), str(tmp_path / "one_pass"), columns, derived, null_values=["?"])
    typed_frame(spark_session(), str(source), columns, derived, null_values=["?"]).write.parquet(str(tmp_path / "checked"))
    one_pass, checked = pd.read_parquet(tmp_path / "one_pass"), pd.read_parquet(tmp_path / "checked")
    pd.testing.assert_frame_equal(one_pass, checked)
    assert info["rows"] == 3 and one_pass["big"].tolist()[0] == 9007199254740993
    assert info["output_metadata"]["dataset"]["schema"]["n"] == "int"

    bad = tmp_path / "bad.csv"
    bad.write_text("n,x,name\n1,0.5,a\n2.5,zero,b\n3,x,c\n")
    bad_columns = {"n": "int", "x": "double", "name": "string"}
    with pytest.raises(DataError) as eager:
        typed_frame(spark_session(), str(bad), bad_columns)
    with pytest.raises(DataError) as written:
        ingest_table(str(bad), str(tmp_path / "bad_out"), bad_columns)
    assert str(written.value) == str(eager.value) and "x: 2 value(s) not double" in str(written.value)
    assert not (tmp_path / "bad_out").exists()


def test_a_quoted_field_holding_a_line_break_is_read_as_pandas_reads_it(tmp_path):
    """Valid CSV (bakeoff's challenges.csv) failed with Spark's bare [MALFORMED_CSV_RECORD]; a quote
    written twice inside quotes was kept doubled."""
    source = tmp_path / "challenges.csv"
    source.write_text('baker,signature,technical\nMiranda,"Triple Layered Cake\nwith Raspberry Cream",8.0\n'
                      'Ruth,"""Simmer Dim"" Sunset Cake",\nLea,"Cake, with Icing",10.0\n')
    ingest_table(str(source), str(tmp_path / "out"), {"baker": "string", "signature": "string", "technical": "double"})
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out"), pd.read_csv(source))


def test_a_row_with_a_field_too_many_says_why(tmp_path):
    source = tmp_path / "ragged.csv"
    source.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"ragged.csv: .*MALFORMED_CSV_RECORD.*more or fewer fields than the header"):
        ingest_table(str(source), str(tmp_path / "out"), {"a": "int", "b": "int"})


def test_only_a_record_left_with_an_open_quote_is_read_again_whole(tmp_path):
    """Reading a file whole (one task) is for a line break inside quotes; a row of too many fields
    fails the same way whole, and a large file would be read twice for nothing. Judged from Spark's
    own messages for both."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from cnai.backends.local.spark import spark_session
    from cnai.core.tabular import _quote_left_open, _read_declared

    def message(text: str) -> str:
        (tmp_path / "t.csv").write_text(text)
        raw, _ = _read_declared(spark_session(), str(tmp_path / "t.csv"), {"a": "string", "b": "string"}, "csv", 0, None,
                                ",", "utf-8", ".")
        with pytest.raises((PySparkException, Py4JJavaError)) as failed:
            raw.collect()
        return str(failed.value)

    assert _quote_left_open(message('a,b\n1,"two\nlines"\n'))
    assert not _quote_left_open(message("a,b\n1,2\n3,4,5\n"))


def test_a_date_declared_or_derived_is_written_as_a_time_the_splits_order(tmp_path):
    """From a new user's trial (statsmodels' macrodata): a time derived as make_date(year, quarter*3-2, 1)
    was a DATE, which pandas reads as objects, and tune refused it as "text" after ingest and validate."""
    from cnai.core.splits import split_frame

    source = tmp_path / "macro.csv"
    source.write_text("year,quarter,day,gdp\n" + "".join(f"{1959 + i // 4}.0,{i % 4 + 1}.0,1960-01-0{i % 9 + 1},{2700 + i}\n"
                                                         for i in range(12)))
    columns = {"year": "double", "quarter": "double", "day": "date", "gdp": "double"}
    info = ingest_table(str(source), str(tmp_path / "out"), columns,
                        {"when": "make_date(cast(year as int), cast(quarter as int) * 3 - 2, 1)"})
    frame = pd.read_parquet(tmp_path / "out")
    assert info["output_metadata"]["dataset"]["schema"]["when"] == "timestamp"
    assert str(frame["when"].dtype) == str(frame["day"].dtype) == "datetime64[us, UTC]"
    assert frame["when"].iloc[5] == pd.Timestamp("1960-04-01", tz="UTC")
    kept, held = split_frame(frame, "time", 0.25, "when")
    assert kept["when"].max() < held["when"].min()
