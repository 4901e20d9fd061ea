"""A small table typed with DuckDB in the step's process gives Spark's answer, value for value and
type for type (cnai.backends.local.small_tables); what DuckDB cannot be sure of goes to Spark."""

from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cnai.backends.local import small_tables
from cnai.backends.local.spark import spark_session
from cnai.core import tabular


def both(tmp_path: Path, source: Path, columns: dict, derived: dict | None = None, **dialect) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(DuckDB's table, Spark's table) of `source`, after checking their schemas are the same."""
    written = small_tables.write_typed(str(source), str(tmp_path / "duckdb"), columns, derived, **dialect)
    assert not isinstance(written, str), f"DuckDB should have taken it: {written}"
    spark_dialect = {k: v for k, v in dialect.items() if k != "limit_rows"}
    rows, schema = tabular.write_typed(spark_session(), str(source), str(tmp_path / "spark"), columns, derived, "csv",
                                       dialect.get("limit_rows", 0), **spark_dialect)
    assert written == (rows, schema), "rows and the schema the step records"
    # Spark marks a column it proves never null (a CASE of literals) required; the next steps read
    # values and types, which must be the same.
    arrow = [[(f.name, f.type) for f in pq.read_schema(glob.glob(str(tmp_path / engine / "*.parquet"))[0])]
             for engine in ("duckdb", "spark")]
    assert arrow[0] == arrow[1], "the Parquet types the next steps read"
    return pd.read_parquet(tmp_path / "duckdb"), pd.read_parquet(tmp_path / "spark")


def test_the_example_tables_are_the_same_from_duckdb_and_spark(tmp_path, small_tables, project_config):
    data = project_config.data
    sources = [(small_tables["events"], data.events), (small_tables["side"], data.feature_sources[0]),
               (Path(str(data.feature_sources[1].source)), data.feature_sources[1])]
    for i, (source, table) in enumerate(sources):
        if str(source).startswith("package:"):
            from cnai.core.sources import resolve_source

            source = Path(resolve_source(str(source), tmp_path / "data"))
        duck, spark = both(tmp_path / str(i), source, table.columns, table.derived_columns)
        assert len(duck) > 100 and duck.columns.tolist() == spark.columns.tolist()
        pd.testing.assert_frame_equal(duck, spark)


EDGES = (
    'id,s,n,big,d,f,ok,t,day,Mixed\n'
    '1,,5,9223372036854775807,1.5,0.1,true,2013-01-01 05:00:00,2013-01-01,a\n'
    '2,NA,-0,-9223372036854775808,-2e3,1e-5,FALSE,2013-01-01T05:00:00Z,2016-02-29,b\n'
    '3,"NA",007,0,.5,3.4028234e38,True,2013-01-01,2013-12-31,\n'
    '4,  x  ,2147483647.0,12.00,5.,-0.0,,2013-01-01T05:00,,NA\n'
    '5,"a,b",-2147483648,,0.1,1,false,2013-01-01 05:00:00.123456,2000-01-01,c\n'
    '\n'
    '6,"six",3,1,123e2,2,true,2013-06-30 23:59:59,1999-12-31,d\n'
    '7,"q ""x""",1,1,-7.25,3,false,2024-03-10 02:30:00,2024-03-10,e\n'
    '8,é ü ß,1,1,123456789.123456789,4,true,1970-01-01 00:00:00,1970-01-01,?\n'
    '9,-,-7,3,-1.5,5,false,2012-12-31T23:00:00.5,2012-12-31,f\n'
)
EDGE_COLUMNS = {"id": "int", "s": "string", "n": "int", "big": "bigint", "d": "double", "f": "float", "ok": "boolean",
                "t": "timestamp", "day": "date", "Mixed": "string"}
# One of each kind of expression small_tables translates, null and edge values included.
EDGE_DERIVED = {
    "dow": "dayofweek(t)", "dow_day": "dayofweek(day)", "y": "year(t)", "m": "month(day)", "dom": "dayofmonth(t)",
    "d2": "day(t)", "h": "hour(t)", "mi": "minute(t)", "sec": "second(t)", "q": "quarter(t)", "w": "weekofyear(t)",
    "doy": "dayofyear(t)", "late": "CAST(d > 1.5 AS INT)", "gt": "n >= 5", "flag": "CAST(ok AS INT)",
    "ratio": "n / 2", "by_zero": "d / (n - n)", "rem": "n % 3", "rem0": "n % 0", "sum": "id + id", "sum_big": "id + big * 0", "mix": "n * d",
    "neg": "-id", "size": "abs(d)", "cut": "CAST(d AS INT)", "cut_big": "CAST(d * 1000 AS BIGINT)",
    "bucket": "CASE WHEN d < 0 THEN 'neg' WHEN d < 2 THEN 'small' ELSE 'large' END",
    "either": "if(s IS NULL, 'none', s)", "first": "coalesce(s, Mixed, 'x')", "in_list": "n IN (1, 3, 5)",
    "between": "d BETWEEN -2 AND 2", "like": "s LIKE 'a%'", "missing": "s IS NOT NULL AND NOT ok",
    "either_or": "ok OR n > 2", "same": "s <=> Mixed", "text_order": "s < 'b'", "upper_ref": "MIXED = 'a'",
    "made": "make_date(year(t), quarter(t) * 3 - 2, 1)", "as_text": "CAST(n AS STRING)",
    "later": "late + 1", "n": "id * 10", "when_ts": "t > CAST(day AS TIMESTAMP)", "nothing": "CASE WHEN n > 100 THEN n END",
    "wide": "n * 3000000000", "not_like": "s NOT LIKE '%b%'", "not_in": "n NOT IN (1, 3)",
    "not_between": "d NOT BETWEEN -2 AND 2", "smallest": "-2147483648", "minus": "id + -2147483648",
    "near_limit": "big < 99999999999999.5", "two_decimals": "1.3 = 1.25", "near_limit_int": "n >= 2147483646.5", "decimal_eq": "n = 5.0",
}


def test_edge_values_and_every_kind_of_derived_column_are_the_same_from_duckdb_and_spark(tmp_path):
    source = tmp_path / "edges.csv"
    source.write_bytes(b"\xef\xbb\xbf" + EDGES.encode())  # a byte-order mark, as Excel writes
    duck, spark = both(tmp_path, source, EDGE_COLUMNS, EDGE_DERIVED, null_values=["-", "?"])
    assert len(duck) == 9 and list(duck.columns)[:10] == list(EDGE_COLUMNS), "the header without its mark, in order"
    assert duck["n"].tolist()[:3] == [10, 20, 30], "a derived column of a column's name replaces it in place"
    pd.testing.assert_frame_equal(duck, spark)


def test_a_decimal_comma_a_tab_and_a_first_rows_limit_are_the_same_from_duckdb_and_spark(tmp_path):
    source = tmp_path / "european.tsv"
    source.write_text("k\tv\tw\n1\t0,25\t1\n2\t-3,5\t\n3\tn/a\t4\n4\t7\t5\n", encoding="utf-8")
    duck, spark = both(tmp_path, source, {"k": "int", "v": "double", "w": "bigint"}, {"twice": "v * 2"},
                       delimiter="\t", decimal=",", null_values=["n/a"], limit_rows=3)
    assert duck["v"].tolist()[:2] == [0.25, -3.5] and len(duck) == 3
    pd.testing.assert_frame_equal(duck, spark)


@pytest.mark.parametrize(("value", "column_type"), [
    (" 12", "int"), ("12.", "int"), ("12.5", "int"), ("3000000000", "int"), ('"1,5"', "double"), ("1e400", "double"), ("NaN", "double"),
    ("Infinity", "double"), ("2013/01/02", "timestamp"), ("Jan 2 2013", "timestamp"), ("1/2/2013", "timestamp"),
    ("2013-02-30", "date"), ("2013-01-01 24:00:00", "timestamp"), ("2013-01-01T05:00Z", "timestamp"), ("2013-01-01T05:00:00+02:00", "timestamp"),
    ("yes", "boolean"), ("1", "boolean"), ("falſe", "boolean")])
def test_a_value_only_spark_reads_its_own_way_leaves_the_table_to_spark(tmp_path, value, column_type):
    source = tmp_path / "t.csv"
    source.write_text(f"k,v\n1,{value}\n2,\n")
    why = small_tables.write_typed(str(source), str(tmp_path / "out"), {"k": "int", "v": column_type})
    assert isinstance(why, str) and ("'v'" in why or "its own way" in why), why


@pytest.mark.parametrize("text", [
    'k,v\n1,"a\nb"\n2,c\n',           # a line break in a field: Spark may split the record where the pieces parse
    'k,v\n1, "a"\n',                    # spaces before a quote: Spark keeps them and the quotes
    'k,v\n1,a\n \t\n2,b\n',              # a line of blanks: a row to DuckDB, skipped by Spark
    'k\tv\n1\ta\n\t\n',                   # a row of empty fields in a TSV: blanks to Spark's reader too
    'k,v\n1,"" \n',                     # "" then a blank
    'k,v\n \n1,a\n',                     # a line of blanks right under the header
    'k,v\n1,a\n\x0b\n',                  # a line of what Java's trim removes
    'k,v\r1,""\r2,x\r',                 # lines ended by a carriage return alone
    'k,v\n1,""\n'])                     # "": empty text to Spark, an unquoted empty field missing
def test_text_spark_reads_its_own_way_leaves_the_table_to_spark(tmp_path, text):
    (tmp_path / "t.csv").write_text(text)
    delimiter = "\t" if "\t" in text.splitlines()[0] else ","
    assert isinstance(small_tables.write_typed(str(tmp_path / "t.csv"), str(tmp_path / "out"), {"k": "int", "v": "string"},
                                               delimiter=delimiter), str)


def test_a_header_left_empty_or_na_is_named_as_spark_names_it(tmp_path):
    """R writes its row names under an empty header: Spark names that column _c0, and NA (its null
    marker) _c<i> too; a table declaring them, or not, is the same from both."""
    source = tmp_path / "r.csv"
    source.write_text('"","k","NA","v"\n"1",5,x,2.5\n"2",6,y,NA\n')
    for columns in ({"_c0": "string", "k": "int", "_c2": "string", "v": "double"}, {"k": "int", "v": "double"}):
        duck, spark = both(tmp_path / str(len(columns)), source, columns)
        pd.testing.assert_frame_equal(duck, spark)


@pytest.mark.parametrize("expression", [
    "concat(s, 'x')", "d * 1.5", "to_timestamp(s, 'dd/MM/yyyy')", "CAST(s AS INT)", "n + s", "d % 2", "upper(s)",
    "CASE WHEN n > 1 THEN 'a' ELSE 1 END", "t > '2013-01-01'", "nosuch > 1", "n >", "CAST(d AS STRING)", "1.5",
    # sqlglot reads other dialects' words, which Spark refuses; and what it reads but this module does not translate
    "day_of_week(t)", "iif(n > 1, 1, 0)", "CAST(n AS TEXT)", "if(n > 1, 1)", "CASE WHEN NULL THEN 1 ELSE 2 END",
    "ok = s LIKE 'a%'", "ok = n > 1", "n IS NULL = ok", "ok = NOT ok", "CAST(n AS INTEGER(5))", "é + n", "n IN ()",
    "CAST(n AS STRING FORMAT 'x')", "SAFE_CAST(n AS INT)", "nvl(n, 1)",
    "CAST(n AS BIGINT) BETWEEN 1 AND 2.5e0", "CAST(n AS BIGINT) IN (1, 2e0)", "1e400 > d",
    "n > 99999999999999999999.5", "10L + n", "n BETWEEN 1.5 AND 3", "n IN (1, 2.5)", "n BETWEEN SYMMETRIC 5 AND 1", "s LIKE 'a%' ESCAPE '!'", "NULL AND n > 1"])
def test_a_derived_column_whose_answer_only_spark_states_leaves_the_table_to_spark(expression):
    why = small_tables.spark_needed({"source": __file__, "format": "csv", "columns": {"s": "string", "n": "int", "d": "double",
                                                                                     "t": "timestamp"},
                                     "derived_columns": {"x": expression}}, 100)
    assert why.startswith("derived_columns.x"), why


def test_ingest_says_which_engine_typed_a_table_and_why_spark(tmp_path, monkeypatch):
    from cnai.backends.tables import ingest_table
    from cnai.core import scale

    plain, odd = tmp_path / "plain.csv", tmp_path / "odd.csv"
    plain.write_text("k,at\n1,2020-01-01 10:00:00\n2,\n")
    odd.write_text("k,at\n 1,2020-01-01 10:00:00\n2,\n")
    facts = ingest_table(str(plain), str(tmp_path / "a"), {"k": "int", "at": "timestamp"})
    assert facts["engine"] == "duckdb" and "why_spark" not in facts
    facts = ingest_table(str(odd), str(tmp_path / "b"), {"k": "int", "at": "timestamp"})
    assert facts["engine"] == "spark" and "'k'" in facts["why_spark"], facts
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a"), pd.read_parquet(tmp_path / "b"))
    monkeypatch.setattr(scale, "SMALL_TABLE_BYTES", 0)
    facts = ingest_table(str(plain), str(tmp_path / "c"), {"k": "int", "at": "timestamp"})
    assert facts["engine"] == "spark" and "CNAI_SMALL_TABLE_BYTES" in facts["why_spark"]


def test_the_example_run_starts_no_spark_and_a_table_that_needs_one_is_named(tmp_path, project_config):
    from cnai.orchestration.local_run import why_spark
    from cnai.orchestration.project import pipeline_arguments

    config_path = Path(__file__).resolve().parents[1] / "cnai.yaml"
    arguments = pipeline_arguments(project_config, config_path)
    assert why_spark(arguments, tmp_path) == ""
    arguments["feature_sources"][1] = {**arguments["feature_sources"][1],
                                       "derived_columns": {"where": "concat(faa, '!')"}}
    assert why_spark(arguments, tmp_path).startswith("destination: derived_columns.where")


def test_an_r_export_with_missing_values_in_every_row_is_the_same_from_duckdb_and_spark(tmp_path):
    """R's write.csv quotes text and writes NA bare: a row of NA fields made the line-break count
    NULL (count_if of false OR NULL), and the step failed with a TypeError."""
    source = tmp_path / "penguins.csv"
    source.write_text('"","species","mass","comment"\n"1","Adelie",3750,NA\n"2","Gentoo",NA,NA\n')
    duck, spark = both(tmp_path, source, {"species": "string", "mass": "int"})
    pd.testing.assert_frame_equal(duck, spark)


def test_a_type_only_spark_knows_leaves_the_table_to_spark_and_raises_nothing():
    """A component's caller may declare any Spark SQL type (decimal(10,2)); a derived column passing
    such a column on raised a KeyError before the run."""
    table = {"source": __file__, "format": "csv", "columns": {"p": "decimal(10,2)"}, "derived_columns": {"x": "p"}}
    assert "decimal(10,2)" in small_tables.spark_needed(table, 100)
    with pytest.raises(small_tables.Unsure, match="derived_columns.x"):
        small_tables.derived_sql({"p": "decimal(10,2)"}, {"x": "coalesce(p, p)"})


def test_a_small_gzipped_csv_is_unpacked_once_and_typed_as_spark_types_the_gzip(tmp_path, monkeypatch):
    """A new user's tips.csv.gz (plotly's, a few KB) went to Spark, its reason "not one local CSV
    of at most 67,108,864 bytes": a compressed file's size says little of what it holds. One that
    unpacks to at most SMALL_TABLE_BYTES is unpacked into the run directory once and typed by
    DuckDB as Spark types the gzip itself; a larger one, or one that is not gzip, stays for Spark."""
    import gzip

    from cnai.backends.tables import ingest_table
    from cnai.core import scale
    from cnai.core.sources import resolve_source

    text = "k,at,v\n" + "".join(f"{i},2020-01-0{1 + i % 9} 10:00:00,{i / 4}\n" for i in range(50))
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    columns = {"k": "int", "at": "timestamp", "v": "double"}
    unpacked = resolve_source(str(packed), tmp_path / "data")
    assert unpacked != str(packed) and Path(unpacked).read_text() == text
    assert resolve_source(str(packed), tmp_path / "data") == unpacked  # once per version of the file
    assert ingest_table(unpacked, str(tmp_path / "duckdb"), columns)["engine"] == "duckdb"
    tabular.write_typed(spark_session(), str(packed), str(tmp_path / "spark"), columns, {}, "csv", 0)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "duckdb"), pd.read_parquet(tmp_path / "spark"))

    monkeypatch.setattr(scale, "SMALL_TABLE_BYTES", len(text))
    packed.write_bytes(gzip.compress((text + "50,2020-01-01 10:00:00,1\n").encode()))  # a new version, over the limit
    assert resolve_source(str(packed), tmp_path / "data") == str(packed)
    monkeypatch.setattr(scale, "SMALL_TABLE_BYTES", 2 * len(text))  # the limit raised: unpacked after all
    assert resolve_source(str(packed), tmp_path / "data").endswith("t.csv")
    link = tmp_path / "linked.csv.gz"  # a link named .gz to a file named otherwise (DVC's cache)
    (tmp_path / "cache-object").write_bytes(packed.read_bytes())
    link.symlink_to(tmp_path / "cache-object")
    assert Path(resolve_source(str(link), tmp_path / "data")).name == "linked.csv"
    assert small_tables.spark_needed({"source": str(packed), "format": "csv", "columns": columns}, None).startswith(
        "compressed (a gzipped CSV is typed without Spark when it unpacks to at most")
    (tmp_path / "not.csv.gz").write_text("k\n1\n")
    assert resolve_source(str(tmp_path / "not.csv.gz"), tmp_path / "data") == str(tmp_path / "not.csv.gz")
