"""Tables typed as declared: a source read with its column types and derived columns (Spark SQL),
refusing what does not parse. The same code runs in a local session and in a Spark Operator job."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING
from cnai.core.errors import DataError

T = TypeVar("T")

# The Spark settings the typed table depends on: a local session's and a SparkApplication's alike.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "false",  # a bad value becomes NULL, which ingest reports by column
    # Spark 4's CSV reader takes only Unicode, Latin-1 and ASCII unless told to take any Java
    # charset: Excel's windows-1252 is a table's encoding cnai.yaml takes.
    "spark.sql.legacy.javaCharsets": "true",
    # pandas writes nanosecond timestamps, which Spark refuses; read them as longs and let
    # ingest turn them into timestamps (read_parquet).
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}


@contextmanager
def spark_errors_named(source: str, source_format: str) -> Iterator[None]:
    """Spark's failures while reading `source` (a malformed CSV row, a corrupt file) as a DataError
    naming the file and Spark's own first line, not a JVM stack trace."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JJavaError) as exc:
        cause = _root_cause(exc)
        hint = ("; that row has more or fewer fields than the header: a delimiter inside a field that is not quoted, "
                "or a quote left open; quote the field or mend the row" if MALFORMED_CSV in cause else "")
        raise DataError(f"{source}: Spark could not read it as {source_format}: {cause}{hint}") from exc



def _root_cause(exc: BaseException) -> str:
    """The innermost of Spark's 'Caused by' lines (e.g. "[MALFORMED_CSV_RECORD] Malformed CSV record:
    2013,1,1,..."), without the Java class name; the whole message is in the chained exception."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("Caused by:")] or [line for line in lines if "Exception:" in line] or lines
    reason = causes[-1] if causes else type(exc).__name__
    return reason.split("Exception: ", 1)[-1][:500]



def typed_frame(spark, source: str, column_types: dict[str, str], derived_columns: dict[str, str] | None = None,
                source_format: str = "csv", limit_rows: int = 0, null_values: list[str] | None = None,
                delimiter: str = CSV_DELIMITER, encoding: str = CSV_ENCODING, decimal: str = CSV_DECIMAL):
    """`source` read with every declared type and derived column, refusing what does not parse
    (checked by a query of its own, before the frame is returned; the steps write in one pass:
    `write_typed`, which also reads a CSV whose quoted fields hold line breaks). A CSV's
    `null_values` (besides NA and an empty field) are read as missing; `delimiter` and `encoding`
    are its dialect, and `decimal` its numbers' decimal mark (cnai.yaml's, which `cnai init` finds)."""
    raw, declared = _read_declared(spark, source, column_types, source_format, limit_rows, null_values, delimiter,
                                   encoding, decimal)
    checked = _checked(declared, column_types)
    if checked:
        counts = raw.select(*[_count(_did_not_parse(column_ref(c), _cast(c, column_types[c]))).alias(c)
                              for c in checked]).first().asDict()
        _refuse_unparsable(source, raw, column_types, counts)
    frame = _derived(raw.select(*_typed_columns(declared, column_types)), derived_columns)
    return _dates_as_times(frame, frame.schema)[0]


def write_typed(spark, source: str, destination: str, column_types: dict[str, str],
                derived_columns: dict[str, str] | None = None, source_format: str = "csv", limit_rows: int = 0,
                null_values: list[str] | None = None, delimiter: str = CSV_DELIMITER, encoding: str = CSV_ENCODING,
                decimal: str = CSV_DECIMAL) -> tuple[int, dict[str, str]]:
    """`typed_frame(...)` written as Parquet to `destination` in one pass over the source: the
    values that did not parse are counted while the write reads them (an Observation), not by a
    query of their own that reads the source once more. On a bad value it raises as typed_frame
    does, after writing: the caller writes to a staging place it then discards.
    Returns the rows written and their schema (column: Spark type)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    def written(multi_line: bool):
        raw, declared = _read_declared(spark, source, column_types, source_format, limit_rows, null_values, delimiter,
                                       encoding, decimal, multi_line)
        as_read = {c: f"__cnai_as_read_{i}" for i, c in enumerate(declared)}
        checked = _checked(declared, column_types)
        observation = Observation("unparsable")
        typed = (raw.select(*_typed_columns(declared, column_types), *[column_ref(c).alias(as_read[c]) for c in checked])
                 # The cast is computed once: what is counted is the typed column the write reads too.
                 .observe(observation, F.count(F.lit(1)).alias(ROWS_SEEN),  # at least one metric, however many are checked
                          *[_count(_did_not_parse(F.col(as_read[c]), column_ref(c))).alias(c) for c in checked])
                 .select(*[column_ref(c) for c in declared]))
        frame, schema = _derived_checked(source, typed, derived_columns)
        frame.write.mode("overwrite").parquet(destination)
        return raw, schema, observation.get

    raw, schema, counts = _by_line_or_whole(written, source_format)
    rows = counts.pop(ROWS_SEEN)
    _refuse_unparsable(source, raw, column_types, counts)
    return rows, {f.name: f.dataType.simpleString() for f in schema.fields}


def _by_line_or_whole(read: Callable[[bool], T], source_format: str) -> T:
    """`read(False)`: a CSV read line by line, which Spark splits across tasks; if Spark found a
    malformed record there, `read(True)`: each file read whole (Spark's multiLine), which a field
    holding a line break inside its quotes needs (valid CSV, which pandas and spreadsheets write).
    Not whole every time: a file read whole is not split, so a large one would be read by one task."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        return read(False)
    except (PySparkException, Py4JJavaError) as exc:
        if source_format != "csv" or MALFORMED_CSV not in str(exc) or not _quote_left_open(str(exc)):
            raise
    return read(True)


def _quote_left_open(message: str) -> bool:
    """Whether the record Spark could not split leaves a quote open (a line break inside quotes cut
    it); a row of too many fields closes its quotes, and reading its file whole would change
    nothing but the time. True when the record is not in the message."""
    found = re.search(r"Malformed CSV record: (.*?)(?: SQLSTATE|$)", message, re.MULTILINE)
    return found is None or found.group(1).count('"') % 2 == 1


MALFORMED_CSV = "MALFORMED_CSV_RECORD"  # Spark's error class for a row it could not split into the header's fields


ROWS_SEEN = "__cnai_rows"


def _derived(typed, derived_columns: dict[str, str] | None):
    from pyspark.sql import functions as F

    for name, expression in (derived_columns or {}).items():
        typed = typed.withColumn(name, F.expr(expression))
    return typed


def _derived_checked(source: str, typed, derived_columns: dict[str, str] | None):
    """(`_derived(typed, derived_columns)`, its schema): a derived column Spark cannot analyse (a
    misspelt function or column, a syntax error) is a DataError naming it and Spark's reason, before
    any row is read; the write would fail with it too, but said as a Java frame of the Connect server."""
    from pyspark.errors import PySparkException

    try:
        frame = _derived(typed, derived_columns)
        return _dates_as_times(frame, frame.schema)  # a Connect session analyses here, a classic one in _derived already
    except PySparkException:
        names = list(derived_columns or {})
        for count, name in enumerate(names, start=1):  # the first that fails: later ones may read earlier ones
            try:
                _ = _derived(typed, {n: derived_columns[n] for n in names[:count]}).schema
            except PySparkException as exc:
                reason = str(exc).strip().splitlines()[0].split(" SQLSTATE:")[0]
                raise DataError(f"{Path(source).name}: derived_columns.{name} ({derived_columns[name]!r}) is not a Spark SQL "
                                f"expression over the table's columns: {reason}") from exc
        raise


def _dates_as_times(frame, schema):
    """(`frame` with its DATE columns, declared or derived, as timestamps at midnight UTC, its
    schema): pandas has no date type (a DATE arrives as objects), and the time split, the as-of join
    and the checks of times take timestamps. A make_date(year, quarter * 3 - 2, 1) is a time then."""
    from pyspark.sql.types import DateType

    dates = {f.name for f in schema.fields if isinstance(f.dataType, DateType)}
    if not dates:
        return frame, schema
    frame = frame.select(*[column_ref(f.name).cast("timestamp").alias(f.name) if f.name in dates else column_ref(f.name)
                           for f in schema.fields])
    return frame, frame.schema


def _checked(declared: list[str], column_types: dict[str, str]) -> list[str]:
    """The columns whose text must parse: every declared one but text."""
    return [c for c in declared if column_types[c] != "string"]


def _typed_columns(declared: list[str], column_types: dict[str, str]) -> list:
    return [_cast(c, column_types[c]).alias(c) for c in declared]


def _did_not_parse(as_read, typed):
    """A value written (not empty, not a null marker) that its declared type could not read."""
    return as_read.isNotNull() & typed.isNull()


def _count(condition):
    from pyspark.sql import functions as F

    return F.sum(condition.cast("int"))


def _read_declared(spark, source: str, column_types: dict[str, str], source_format: str, limit_rows: int,
                   null_values: list[str] | None, delimiter: str, encoding: str, decimal: str, multi_line: bool = False):
    """(the source as read, every column text for a CSV; the declared columns in the source's order)."""
    from pyspark.sql import functions as F

    reader = spark.read
    if source_format == "csv":
        # Read every column as text first, so a bad value is reported instead of silently nulled.
        # A quote inside a quoted field is written twice ("a ""b"" c"), as pandas reads it; Spark's own
        # escape, a backslash, kept the quotes doubled.
        reader = (reader.option("header", True).option("nullValue", "NA").option("mode", "FAILFAST")
                  .option("sep", delimiter).option("encoding", encoding).option("escape", '"')
                  .option("multiLine", multi_line))
        raw = reader.csv(source, inferSchema=False)
        if decimal != ".":  # 0,25 -> 0.25 in the columns declared as fractional numbers, before typing
            raw = raw.select(*[F.regexp_replace(column_ref(c), re.escape(decimal), ".").alias(c)
                               if column_types.get(c) in ("double", "float") else column_ref(c) for c in raw.columns])
        if null_values:  # Spark's reader takes one null marker; the others become null here, before typing
            markers = [str(v) for v in null_values]
            raw = raw.select(*[F.when(F.trim(column_ref(c)).isin(markers), None).otherwise(column_ref(c)).alias(c)
                               for c in raw.columns])
    elif source_format == "parquet":
        raw = read_parquet(spark, source)
    else:
        raise DataError(f"{source}: unknown format {source_format!r}; use 'csv' or 'parquet'")

    missing = [c for c in column_types if c not in raw.columns]
    if missing and not raw.columns:
        raise DataError(f"{source}: the file is empty (not even a header line)")
    if missing:
        hint = ""
        if source_format == "csv" and len(raw.columns) == 1 and (seen := [d for d in CSV_DELIMITERS if d in raw.columns[0]]):
            hint = (f"; its header is one column holding {seen[0]!r}: set the table's `delimiter: {json.dumps(seen[0])}` in "
                    "cnai.yaml (`cnai init` finds it)")
        raise DataError(f"{source}: declared column(s) {missing} not found; the file has {raw.columns}{hint}")
    if limit_rows:
        raw = raw.limit(limit_rows)

    # The source's column order, not the declaration's: KFP passes dict parameters without key order.
    return raw, [c for c in raw.columns if c in column_types]



CSV_DELIMITERS = (",", ";", "\t", "|")  # what `cnai init` looks for; any one character is read


def header_fields_problem(rows: list[list[str]]) -> str:
    """For a CSV's first rows, as csv.reader splits them: a first line of fewer fields than every row
    after it (scikit-learn's CSVs begin with a line of counts, "569,30,malignant,benign"), which
    pandas reads with the rows' first values as an index and ingest refuses as a quote left open;
    "" otherwise. The last row may be cut short, and one field more is R's row names (said apart)."""
    if len(rows) < 2 or not all(len(row) == len(rows[1]) for row in rows[1:-1]) or len(rows[1]) <= len(rows[0]) + 1:
        return ""
    return (f"its first line has {len(rows[0])} fields ({rows[0][:5]}) and its rows {len(rows[1])}: the first line is not "
            f"the header of these rows; put a line of the {len(rows[1])} column names first")


def read_parquet(spark, source: str):
    """`source` as Spark reads it, with nanosecond timestamps (pandas' default) as timestamps.

    Spark cannot read Parquet's TIMESTAMP(NANOS); our session reads them as epoch nanoseconds, and
    the file's own schema (read with pyarrow, metadata only) says which longs those are.
    """
    import pyarrow as pa
    import pyarrow.dataset as pads
    from pyspark.sql import functions as F

    try:
        schema = pads.dataset(source.replace("s3a://", "s3://", 1), format="parquet").schema
    except (OSError, pa.ArrowInvalid) as exc:
        if "://" in source and not source.startswith("file:"):
            schema = pa.schema([])  # a filesystem only Spark knows: Spark reports what is wrong
        else:
            raise DataError(f"{source}: not a readable Parquet file or directory ({exc})") from exc
    nanos = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]
    frame = spark.read.parquet(source)
    for name in nanos:  # to microseconds, Spark's precision (sub-microsecond digits dropped)
        frame = frame.withColumn(name, F.expr(f"timestamp_micros(div(`{name}`, 1000))"))
    return frame



# Dates with the month's name read as timestamps too: unambiguous, unlike 01/02/2000, which stays
# refused (write such a column as string and derive it with to_timestamp and its pattern).
# (Spark's datetime pattern, the same for Python's strptime), tried in order.
NAMED_MONTH_FORMATS = (("MMM d yyyy", "%b %d %Y"), ("MMM d, yyyy", "%b %d, %Y"), ("MMMM d yyyy", "%B %d %Y"),
                       ("MMMM d, yyyy", "%B %d, %Y"), ("d MMM yyyy", "%d %b %Y"), ("d MMMM yyyy", "%d %B %Y"))


# A date or time as text: 2013-01-31, 2013/1/31, 1/31/2013, 31-01-13, with a time of day or not.
DATE_TEXT = re.compile(r"(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[-/]\d{1,2}[-/]\d{2}(\d{2})?)([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?")
DATES_SAMPLED = 1_000


def date_text_example(values) -> str | None:
    """An example, when (nearly) every value of a text column (a pandas Series) sampled is a date;
    else None. Train and tune refuse such a column as a feature, and `cnai init` leaves it out."""
    import pandas as pd

    if values.dtype != object:
        return None
    sample = values.dropna().head(DATES_SAMPLED)
    texts = [v.strip() for v in sample if isinstance(v, str)]
    if len(texts) < 2 or len(texts) < len(sample):
        return None
    dates = pd.Series([t for t in texts if DATE_TEXT.fullmatch(t)], dtype=object)
    # Dates that are dates: 12-34-56 (a bank's sort code) has the form but no month 34.
    dates = dates[pd.to_datetime(dates, errors="coerce", format="mixed", utc=True).notna()] if len(dates) else dates
    return dates.iloc[0] if len(dates) >= 0.95 * len(texts) else None


def column_ref(name: str):
    """A column by its own name: Spark reads `a.b` as field b of struct a, so the name is quoted
    (R-style names such as comp.ratio are common in CSVs)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _cast(column: str, spark_type: str):
    """The column as its declared type. Times written year first with slashes (2012/01/31) read as
    the ISO form Spark's cast takes, and dates with the month's name (Jan 1 2000) by their pattern;
    day-first and month-first numeric forms stay refused (ambiguous)."""
    from pyspark.sql import functions as F

    value = column_ref(column)
    if spark_type in ("int", "bigint"):
        # Spark casts "729.53" to 729 (and a double past the type's range to its largest value): a value
        # is kept only if it is the number it was written as, so 12, " 12 " and "12.0" read as 12 (exact
        # past 2**53: the comparison is only the check) and 729.53 or 3e9 as an int are refused. A
        # comparison, not a regular expression per value (the cost of the step); a text with a decimal
        # point also has its digits read, since a double cannot tell 4503599627370496.5 from its
        # whole part.
        whole = value.cast(spark_type)
        text = value.cast("string")
        fraction_written = F.trim(text).rlike(r"^[+-]?\d*\.\d*[1-9]\d*$")
        return F.when((whole == value.cast("double")) & (~text.contains(".") | ~fraction_written), whole)
    if spark_type not in ("timestamp", "date"):
        return value.cast(spark_type)
    iso = F.regexp_replace(value, r"^(\d{4})/(\d{1,2})/(\d{1,2})", "$1-$2-$3").cast(spark_type)
    named = [F.to_timestamp(value, spark) for spark, _ in NAMED_MONTH_FORMATS]
    return F.coalesce(iso, *[n.cast(spark_type) for n in named])


def _refuse_unparsable(source: str, raw, column_types: dict[str, str], counts: dict[str, int | None]) -> None:
    """Fail naming the column and an example when a non-empty value did not cast to its type
    (`counts`: of such values, by column)."""
    bad = {c: n for c, n in counts.items() if n}
    if bad:
        column = next(iter(bad))
        example = (
            raw.where(_did_not_parse(column_ref(column), _cast(column, column_types[column])))
            .select(column_ref(column)).first()[0]
        )
        details = ", ".join(f"{c}: {n} value(s) not {column_types[c]}" for c, n in bad.items())
        if column_types[column] in ("timestamp", "date"):
            hint = ("; times are read in ISO 8601 (2000-01-31 12:00), as yyyy/mm/dd, or with the month's name "
                    "(Jan 31 2000); for another form declare the column string and derive the time with its pattern, "
                    f"e.g. derived_columns: {{parsed: \"to_timestamp({column}, 'dd/MM/yyyy')\"}} and timestamp: parsed")
        elif column_types[column] in ("double", "float") and re.fullmatch(r"\s*[+-]?\d*,\d+\s*", str(example)):
            hint = "; its numbers are written with a decimal comma: set the table's `decimal: ','` in cnai.yaml"
        else:
            hint = (f"; if {column!r} is not {column_types[column]}, declare it as it is under the table's columns in "
                    f"cnai.yaml (e.g. {column}: string); else mend those values")
        raise DataError(f"{Path(source).name}: {details} (e.g. column {column!r} has {example!r}){hint}")

