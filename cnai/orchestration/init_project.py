"""`cnai init`: a first `cnai.yaml` for a table, inferred from the data as TFX's SchemaGen infers a
schema: column types, the task from the label, a time column for the split, the features, and the
model kind's default search space. Review it, then `cnai run`."""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cnai.core.config import (
    TIME_TYPES,
    Settings,
    TableSource,
    default_model_name,
    default_of,
    did_you_mean,
    time_feature_problem,
)
from cnai.core.errors import ConfigError, DataError
from cnai.core.sources import resolve_source, single_byte_encoding
from cnai.core.splits import ROWS_TO_TUNE_A_CLASS, named_classes, sql_name, too_rare
from cnai.core.tabular import CSV_DELIMITERS, NAMED_MONTH_FORMATS, date_text_example, header_fields_problem
from cnai.core.tasks import MAX_CLASSES, MULTICLASS_MAX_INTEGER_VALUES, TASKS, is_quantity

SAMPLE_ROWS = 200_000  # enough to type the columns and see the label's values; the run reads everything
NULL_VALUES = ["NA", ""]  # what the ingest step reads as null (cnai.core.tabular.typed_frame)


def read_sample(source: str, source_format: str, null_values: list[str] | None = None,
                dialect: dict[str, str] | None = None) -> pd.DataFrame:
    """The first rows as ingest would read them; a CSV in `dialect` (its own, found, when None)."""
    path = resolve_source(source, Path(tempfile.gettempdir()) / "cnai-init")
    if Path(str(path)).suffix.lower() in (".json", ".jsonl", ".ndjson"):
        lines = ", lines=True" if Path(str(path)).suffix.lower() != ".json" else ""
        raise DataError(f"{source}: JSON is not read; tables are CSV or Parquet. Convert it first, e.g. with pandas: "
                        f"pd.read_json(path{lines}).to_parquet('table.parquet')")
    try:
        if source_format == "parquet":
            return pd.read_parquet(path).head(SAMPLE_ROWS)
        dialect = dialect or csv_dialect(source, path)
        _check_header(source, path, dialect)
        frame = pd.read_csv(path, nrows=SAMPLE_ROWS, na_values=[*NULL_VALUES, *(null_values or [])], keep_default_na=False,
                            low_memory=False, sep=dialect["delimiter"], encoding=dialect["encoding"],
                            decimal=dialect.get("decimal", "."))
        # A column with no name in the header: Spark (the ingest step) calls it _c<position>, pandas "Unnamed: <position>".
        return frame.rename(columns=lambda c: re.sub(r"^Unnamed: (\d+)$", r"_c\1", c) if isinstance(c, str) else c)
    except FileNotFoundError as exc:
        raise DataError(f"{source}: no such file") from exc
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: cannot be read as {source_format} ({' '.join(str(exc).split())})") from exc


def opened(path: str, mode: str, **options):
    """A file as Spark and pandas read it: gzip and bzip2 by their suffix."""
    import bz2
    import gzip

    return {".gz": gzip.open, ".bz2": bz2.open}.get(Path(path).suffix, open)(path, mode, **options)


def csv_dialect(source: str, path: str) -> dict[str, str]:
    """The CSV's field separator and text encoding, as cnai.yaml declares them (TableSource's
    `delimiter` and `encoding`): UTF-8 unless the bytes are not, then windows-1252 or ISO-8859-1
    (`single_byte_encoding`); the separator among CSV_DELIMITERS that splits the first lines into the same
    number of fields, the most fields winning."""
    import csv
    import io

    try:
        with opened(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise DataError(f"{source}: cannot be read ({exc})") from exc
    if b"\x00" in head[:4096]:
        raise DataError(f"{source}: holds NUL bytes, so it is not a text CSV (UTF-16, or a binary file?); "
                        "save it as UTF-8 CSV, or as Parquet")
    cut = head[: head.rfind(b"\n") + 1] or head  # whole lines: a multi-byte character is never split
    encoding = default_of(TableSource, "encoding")
    try:
        text = cut.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = single_byte_encoding(cut)
        text = cut.decode(encoding)
    lines = text.splitlines()[:50]

    def widths(delimiter: str) -> list[int]:
        try:
            return [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter) if row]
        except csv.Error:
            return []

    found = {d: w for d in CSV_DELIMITERS if (w := widths(d)) and w[0] > 1}
    steady = {d: w[0] for d, w in found.items() if len(set(w[1:] or w)) == 1 and w[0] >= min(w)}
    pool = steady or {d: w[0] for d, w in found.items()}
    delimiter = max(pool, key=lambda d: (pool[d], -CSV_DELIMITERS.index(d))) if pool else default_of(TableSource, "delimiter")
    return {"delimiter": delimiter, "encoding": encoding}


def decimal_comma_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns that are numbers written with a decimal comma (0,25; -3,5; whole ones beside them)."""
    found = []
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        present = frame[column].dropna().astype(str).str.strip()
        comma = present.str.fullmatch(r"-?\d+,\d+")
        if len(present) and comma.any() and (comma | present.str.fullmatch(r"-?\d+")).mean() >= 0.8:
            found.append(str(column))
    return found


def dialect_keys(dialect: dict[str, str]) -> dict[str, str]:
    """What cnai.yaml needs to say: only what differs from TableSource's defaults."""
    return {k: v for k, v in dialect.items() if v != default_of(TableSource, k)}


def _check_header(source: str, path: str, dialect: dict[str, str]) -> None:
    """A header one name short of the rows (R's write.csv puts the row names first, unnamed) is
    read by pandas as an index and refused by Spark: say so here, before any step."""
    import csv

    try:
        with opened(path, "rt", newline="", encoding=dialect["encoding"], errors="replace") as handle:
            reader = csv.reader(handle, delimiter=dialect["delimiter"])
            header, first = next(reader, []), next(reader, [])
            rows = [header, first, *(row for row in itertools.islice(reader, 21) if row)]
    except (OSError, csv.Error):
        return
    if header and len(first) == len(header) + 1:
        raise DataError(f"{source}: the header names {len(header)} columns but the rows have {len(first)} values "
                        "(a first column without a name, as R's write.csv writes row names): add a name for it at "
                        "the start of the header line, e.g. `row,`")
    if problem := header_fields_problem(rows):  # init wrote 4 of breast_cancer.csv's 31 columns without a word
        raise DataError(f"{source}: {problem}")
    counts = Counter(name.strip() for name in header if name.strip())
    # A table's header (its first row has as many fields; a file that is no table is said otherwise).
    if len(first) == len(header) and (repeated := sorted(name for name, n in counts.items() if n > 1)):
        # pandas would call the second one a.1 and Spark a1 (a0 the first): no name both read.
        raise DataError(f"{source}: the header names {shown(repeated)} more than once; give each column its own name")


def spark_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "bigint"
    if pd.api.types.is_numeric_dtype(values):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "timestamp"
    present = values.dropna().astype(str)
    if len(present) and present.str.lower().isin(["true", "false"]).all():
        return "boolean"
    return "timestamp" if _is_time(present) else "string"


def shown(columns, most: int = 20, width: int = 40) -> str:
    """Column names for a message: a file that is no table (JSON read as CSV) has a 'header' of megabytes."""
    names = [str(c) if len(str(c)) <= width else str(c)[:width] + "..." for c in list(columns)[:most]]
    more = f" and {len(columns) - most} more" if len(columns) > most else ""
    return f"{names}{more}"


def _is_time(text: pd.Series) -> bool:
    """Text that reads as dates or times throughout: ISO-like (digits and separators), or a date with
    the month's name in one of the forms ingest reads (cnai.core.tabular.NAMED_MONTH_FORMATS)."""
    if not text.empty and any(pd.to_datetime(text, errors="coerce", format=python).notna().all()
                              for _, python in NAMED_MONTH_FORMATS):
        return True
    # A zone only as Spark's cast reads every one of them: Z, UTC or an offset. A zone's name
    # ("EST", "EDT") stays text: the cast reads some names (EST) and not others (EDT).
    if text.empty or not text.str.match(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}"
                                        r"([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s?(Z|UTC|[+-]\d{2}(:?\d{2})?)?)?$").all():
        return False
    with warnings.catch_warnings():  # pandas warns once per value it guesses: a terminal full, not a finding
        warnings.simplefilter("ignore")
        return pd.to_datetime(text.str.replace("/", "-"), errors="coerce", utc=True, format="mixed").notna().all()


def _numeric_date_recipe(values: pd.Series, column: str) -> str:
    """For dates written day or month first (31/01/2000, 01/31/2000), which ingest leaves to a
    pattern the user names (ambiguous otherwise): how to derive the time; "" for other values."""
    present = values.dropna().astype(str).str.strip()
    parts = present.str.extract(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
    if present.empty:
        return ""
    if parts[0].isna().any():
        return _month_date_recipe(present, column)
    first, second, mark = parts[0].astype(int), parts[2].astype(int), parts[1].iloc[0]
    # One letter each: Spark reads `M` as one digit or two, where `MM` refuses 9/22/2009 (and the
    # run then quarantined every such row).
    # Neither number past 12 in the sample: both orders read it, and only the user knows which.
    ambiguous = not (first > 12).any() and not (second > 12).any()
    pattern = f"d{mark}M{mark}yyyy" if (first > 12).any() else f"M{mark}d{mark}yyyy"
    return (f"dates written day or month first (e.g. {present.iloc[0]!r}) are not read as times by themselves; derive "
            f"one with its pattern (with the time of day: add ' HH:mm' to it): "
            + _derived_time(column, f"to_timestamp({column}, '{pattern}')")
            + (f" (month first; if the file writes the day first, 'd{mark}M{mark}yyyy')" if ambiguous else ""))


def _derived_time(column: str, expression: str, as_text: bool = True) -> str:
    """The cnai.yaml lines that derive a time from `column` with `expression`, as every recipe says them."""
    return (f"derived_columns: {{{column}_time: \"{expression}\"}}, then timestamp: {column}_time and split: time"
            + (f" ({column!r} itself is left out of features: dates as text are no feature)" if as_text else ""))


# Months written without a day, or days with the month's short name and dashes: (Spark's pattern,
# the same for Python's strptime), tried in order on text that is not read as times by itself.
MONTH_FORMATS = (("MMM-yyyy", "%b-%Y"), ("MMM yyyy", "%b %Y"), ("MMMM yyyy", "%B %Y"), ("yyyy-MM", "%Y-%m"),
                 ("MM/yyyy", "%m/%Y"), ("dd-MMM-yyyy", "%d-%b-%Y"), ("dd-MMM-yy", "%d-%b-%y"))


def _month_date_recipe(present: pd.Series, column: str) -> str:
    """For text such as 'Mar-2018' or '2018-03': the derived column that reads it; "" otherwise."""
    import datetime

    sample = present.drop_duplicates().head(200).tolist()
    for spark_pattern, python_format in MONTH_FORMATS:
        try:
            for value in sample:
                datetime.datetime.strptime(value, python_format)  # noqa: DTZ007 (a pattern check, no time zone)
        except ValueError:
            continue
        return (f"times written as {spark_pattern} (e.g. {sample[0]!r}) are not read as times by themselves; derive "
                "one with its pattern: " + _derived_time(column, f"to_timestamp({column}, '{spark_pattern}')"))
    return ""


PLAUSIBLE_YEARS = (1800, 2100)  # whole numbers in this range, in a column that is a time, read as years or dates


def _years(values: pd.Series | None) -> bool:
    """Whole numbers that are all plausible years (1935, 1954): a panel's time written as a number."""
    present = values.dropna() if values is not None else pd.Series(dtype=float)
    return (not present.empty and pd.api.types.is_integer_dtype(present)
            and bool(present.between(*PLAUSIBLE_YEARS).all()))


TIME_OF_DAY = re.compile(r"^\s*\d{1,2}:\d{2}(:\d{2})?\s*$")


def _time_of_day_recipe(values: pd.Series, column: str) -> str:
    """For text that is all times of day (11:38:36): what to derive from it (a category of every second
    of the day is none a model can learn); "" for other values."""
    present = values.dropna().astype(str).str.strip()
    if present.empty or not present.str.match(TIME_OF_DAY).all() or present.str.count(":").nunique() > 1:
        return ""  # one pattern reads them all, or the other form would read as missing
    if (present.str.split(":").str[0].astype(int) > 23).any():
        return ""  # durations (65:12), not times of day
    pattern = "H:mm:ss" if present.str.count(":").iloc[0] == 2 else "H:mm"
    expression = f"hour(to_timestamp({sql_name(column)}, '{pattern}'))"
    hour = re.sub(r"\W+", "_", column).strip("_") + "_hour"
    return (f"{column!r} holds times of day as text (e.g. {present.iloc[0]!r}): derive the hour from it, "
            f"data.events.derived_columns: {{{hour}: {json.dumps(expression)}}}, and list {hour} in data.features")


def _whole(values: pd.Series) -> pd.Series:
    """Numbers that are all whole (1959.0) as integers; other values as they are."""
    if pd.api.types.is_float_dtype(values) and len(values) and (values == values.round()).all():
        return values.astype("int64")
    return values


def _compact_date_recipe(values: pd.Series, column: str) -> str:
    """For whole numbers that all read as dates written yyyymmdd (19920430): how to derive the time;
    "" for other values. Such a column stays a number (a feature that orders like its date)."""
    present = values.dropna()
    if present.empty or not pd.api.types.is_integer_dtype(present) or not present.between(PLAUSIBLE_YEARS[0] * 10000 + 101, PLAUSIBLE_YEARS[1] * 10000 + 1231).all():
        return ""
    parsed = pd.to_datetime(present.astype(str), format="%Y%m%d", errors="coerce")
    if parsed.isna().any():
        return ""
    return (f"whole numbers, though they read as dates written yyyymmdd (e.g. {int(present.iloc[0])}); for a time, "
            "derive one: " + _derived_time(column, f"to_timestamp(cast({column} as string), 'yyyyMMdd')", as_text=False))


def _leaks(frame: pd.DataFrame, label: str, columns: list[str], classification: bool) -> list[str]:
    """Columns that hold the label's answer: the label is one value for each of the column's few
    values, or (classification) the column one value for each class, on every row that has both.
    A column known only with the answer (an application's 'rejected' beside 'approved') makes a
    perfect model on paper and a useless one in production."""
    leaks = []
    for column in columns:
        both = frame[[column, label]].dropna()
        values = both[column].nunique()
        if len(both) < 30 or values < 2 or both[label].nunique() < 2:
            continue
        # observed: a category column's unseen categories are no groups (and pandas warns otherwise)
        label_from_column = values <= min(20, len(both) // 10) and (
            both.groupby(column, observed=True)[label].nunique() == 1).all()
        column_from_label = classification and (both.groupby(label, observed=True)[column].nunique() == 1).all()
        if label_from_column or column_from_label:
            leaks.append(column)
    return leaks


def _classes_missing_from_newest(frame: pd.DataFrame, timestamp: str, label: str) -> list:
    """The label's classes a time split's holdout (the newest rows) would not hold."""
    times = frame[timestamp]
    if pd.api.types.is_numeric_dtype(times):  # years, or other numbers ordering the rows: as they are
        times = times.astype(float)
    elif not pd.api.types.is_datetime64_any_dtype(times):
        times = pd.to_datetime(times.astype(str).str.replace("/", "-"), errors="coerce", utc=True, format="mixed")
        for _, python in NAMED_MONTH_FORMATS:
            times = times.fillna(pd.to_datetime(frame[timestamp], errors="coerce", utc=True, format=python))
    ordered = frame.assign(_at=times).sort_values("_at", kind="stable")
    newest = ordered.tail(max(1, round(len(ordered) * default_of(Settings, "holdout_fraction"))))
    return sorted(set(frame[label].dropna()) - set(newest[label].dropna()), key=str)


def infer_task(values: pd.Series, label: str) -> str:
    present = values.dropna()
    distinct = present.nunique()
    if distinct < 2:
        raise DataError(f"label {label!r} has {distinct} distinct value(s) in the first {len(values)} rows; "
                        "nothing to learn (choose another --label)")
    if distinct == 2:
        return "binary"
    if pd.api.types.is_bool_dtype(present) or not pd.api.types.is_numeric_dtype(present):
        if distinct > MAX_CLASSES:  # refused here, not after ingest and minutes of Spark
            raise DataError(f"label {label!r} holds text with {distinct} distinct values in the first {len(values)} "
                            f"rows (e.g. {shown(present.unique()[:3])}): an identifier, a time or free text, not classes "
                            f"(at most {MAX_CLASSES}); choose another --label")
        return "multiclass"
    return "regression" if is_quantity(present) else "multiclass"


MANY_VALUES, ROWS_PER_CATEGORY = 1000, 4  # text of more values than this, with fewer rows each on average, is no category


def _identifier(values: pd.Series, rows: int) -> bool:
    """A key, not a feature: a distinct text or whole-number value on (almost) every row. Text with
    nine distinct values in ten rows (names, addresses) says nothing a model could learn either."""
    if pd.api.types.is_integer_dtype(values) and rows >= 10 and _row_numbers(values):
        return True  # 1, 2, 3, ... (statsmodels' OBS): the row's place in the file, whatever the table's size
    if rows < 50 or pd.api.types.is_float_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    is_text = not pd.api.types.is_numeric_dtype(values) and not numbers_but_markers(values)
    if not is_text and not KEY_NAME.search(re.sub(r"([a-z])([A-Z])", r"\1_\2", str(values.name)).lower()):
        return False  # distinct whole numbers are as often measurements (a population, a price) as keys
    # Text distinct on half the rows or more (car models, names) is a near-key: it would leak or overfit.
    # Counted over the rows that have a value: free text left empty on most rows (a breach's summary,
    # distinct wherever written) is no category either.
    if is_text:
        filled, distinct = int(values.notna().sum()), values.nunique()
        # Or thousands of values of a few rows each (pizzaplace's order ids, 2.3 rows each): a model keeps
        # at most a few hundred categories, and each new row brings a value it never saw.
        return filled >= 20 and (distinct >= 0.5 * filled or (distinct > MANY_VALUES and distinct * ROWS_PER_CATEGORY >= filled))
    return values.nunique() >= 0.95 * rows


def _features_among(frame: pd.DataFrame, columns: list) -> tuple[list, list[tuple[list, str]]]:
    """(the `columns` a model can learn from, [(the others, why), ...]): keys, and columns holding
    nothing, are left out; every one is named, so that none is dropped unsaid."""
    rows = len(frame)
    seen = f"in the first {rows} rows" if rows >= SAMPLE_ROWS else "in every row"
    keys = [c for c in columns if _identifier(frame[c], rows)]
    empty = [c for c in columns if c not in keys and frame[c].isna().all()]
    same = [c for c in columns if c not in keys and frame[c].notna().all() and frame[c].nunique() == 1]
    left_out = [(keys, "keys: a distinct value on almost every row; or text distinct on half or more of the rows that "
                       f"have one, such as names or free text, or of over {MANY_VALUES:,} values with fewer than "
                       f"{ROWS_PER_CATEGORY} rows each; add them by hand if they are features"),
                (empty, f"empty {seen}: nothing to learn from"),
                (same, f"one value {seen}: nothing to learn from")]
    dropped = {*keys, *empty, *same}
    return [c for c in columns if c not in dropped], [(names, why) for names, why in left_out if names]


# A whole-number column named as keys are: id, user_id, idNum, customer_no, zip code, index (not
# num or number: num_people and house_number are measurements as often).
KEY_NAME = re.compile(r"(^|[^a-z])(id|ids|key|uuid|guid|code|no|nr|index|idx)([^a-z]|$)")


def _row_numbers(values: pd.Series) -> bool:
    """Whole numbers that count the rows: each once, consecutive, in the file's order."""
    present = values.dropna()
    return len(present) == len(values) and present.is_monotonic_increasing and present.is_unique and \
        int(present.iloc[-1]) - int(present.iloc[0]) == len(present) - 1


def numbers_but_markers(values: pd.Series) -> list[str]:
    """The few short tokens ('?', 'N/A', '-') that keep a column of numbers from reading as numbers;
    [] when the column is not numbers with such markers."""
    if pd.api.types.is_numeric_dtype(values):
        return []
    present = values.dropna().astype(str).str.strip()
    if present.empty:
        return []
    parsed = pd.to_numeric(present, errors="coerce")
    others = present[parsed.isna()]
    tokens = sorted(others.unique().tolist())
    # Only what is written for nothing: cnai.yaml's null_values hold for every column, so a word
    # ('Studio') must not become one, and a mistyped number ('12O') would be read as missing unseen.
    if parsed.notna().mean() >= 0.8 and 0 < len(tokens) <= 3 and all(_says_missing(t) for t in tokens):
        return tokens
    return []


def _says_missing(token: str) -> bool:
    """A word for nothing (NA, null, missing), punctuation alone ('?', '-', '.'), or a spreadsheet's error value."""
    return (token.lower() in MISSING_WORDS or not any(ch.isalnum() for ch in token)
            or bool(SPREADSHEET_ERROR.match(token)))


def _label_markers(values: pd.Series, source_format: str) -> list[str]:
    """A CSV's text label's values that say it is missing ('?', 'N/A', '#N/A') on few of its rows
    (fewer than a class needs, or under 1%), with two classes or more besides: no class of their
    own. Not '-' or '+' (a class written so), nor 'unknown' (a category elsewhere in the table)."""
    if source_format != "csv" or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return []  # null_values are a CSV's
    counts = values.dropna().astype(str).str.strip().value_counts()
    markers = sorted(str(v) for v, n in counts.items()
                     if (str(v).lower() in LABEL_MISSING_WORDS or SPREADSHEET_ERROR.match(str(v)))
                     and (n < ROWS_TO_TUNE_A_CLASS or n * 100 < counts.sum()))
    return markers if len(counts) - len(markers) >= 2 else []


MISSING_WORDS = {"na", "n/a", "n.a.", "nan", "null", "none", "nil", "missing", "unknown", "empty", "blank"}
# Of those, what a label says for no answer: 'unknown', 'empty' and 'blank' can be a label's class
# (and a category elsewhere in the table, which null_values would null too); '?' is punctuation alone.
LABEL_MISSING_WORDS = (MISSING_WORDS - {"nil", "unknown", "empty", "blank"}) | {"?", "??", "???"}
SPREADSHEET_ERROR = re.compile(r"^#(VALUE!|DIV/0!|N/A|NAME\?|REF!|NUM!|NULL!|SPILL!|CALC!)$")


def numbers_but_text(values: pd.Series) -> list[str]:
    """The distinct values that keep a column of (at least 95%) numbers from reading as numbers,
    when they are not markers numbers_but_markers takes; [] otherwise."""
    if pd.api.types.is_numeric_dtype(values) or numbers_but_markers(values):
        return []
    present = values.dropna().astype(str).str.strip()
    parsed = pd.to_numeric(present, errors="coerce")
    if present.empty or parsed.notna().mean() < 0.95:
        return []
    return sorted(present[parsed.isna()].unique().tolist())


# Letters typed for the digits they look like ('12O', 'l5'). Anything else with a digit is data:
# house numbers ('12A', '3-5'), ZIP+4 codes, '1,234'; a column declared a number would refuse them
# at the first run. A slip is rare, too: the same value in many rows is how the column is written.
LOOK_ALIKE_DIGITS = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})
MOST_MISTYPED_VALUES, MOST_MISTYPED_SHARE = 3, 0.01


def mistyped_numbers(values: pd.Series, others: list[str]) -> bool:
    """Whether `others` (what numbers_but_text found in `values`) are numbers mistyped: a digit
    among them, a number once look-alike letters are read as the digits they stand for, and very few."""
    if not 0 < len(others) <= MOST_MISTYPED_VALUES:
        return False
    mended = pd.to_numeric(pd.Series([t.translate(LOOK_ALIKE_DIGITS) for t in others]), errors="coerce")
    if mended.isna().any() or not all(re.search(r"\d", t) for t in others):
        return False
    present = values.dropna().astype(str).str.strip()
    return present.isin(others).sum() <= max(1, MOST_MISTYPED_SHARE * len(present))


# What a spreadsheet's summary row says in a text cell, where a record would hold a value.
SUMMARY_CELL = re.compile(r"^\s*(grand\s+)?(total|totals|sum|subtotal|overall|all)\s*:?\s*$", re.IGNORECASE)


def _refuse_summary_row(source: str, frame: pd.DataFrame) -> None:
    """A last row such as 'TOTAL, 2545042, ...' (a spreadsheet's sums) is not a record: trained on,
    it skews the model and the inferred expectations. Refused with the line that drops it; only
    when the sample is the whole table (its last row is the file's)."""
    if len(frame) < 2 or len(frame) >= SAMPLE_ROWS:
        return
    last = frame.iloc[-1]
    for column, value in last.items():
        if isinstance(value, str) and SUMMARY_CELL.match(value) and (frame[column] == value).sum() == 1:
            reader = "read_parquet" if str(source).lower().endswith(".parquet") else "read_csv"
            writer = "to_parquet('table.parquet')" if reader == "read_parquet" else "to_csv('table.csv', index=False)"
            raise DataError(f"{source}: its last row looks like a summary, not a record (column {column!r} says "
                            f"{value!r}); a model would learn from it. Drop it first, e.g. with pandas: "
                            f"pd.{reader}(path).iloc[:-1].{writer}")


def _codes_with_leading_zeros(path: str, frame: pd.DataFrame, dialect: dict[str, str],
                              null_values: list[str]) -> dict[str, tuple[pd.Series, str]]:
    """Whole-number columns whose text holds a leading zero (zip codes, account numbers), as text
    (read again, only those columns), each with its first such value."""
    whole = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    if not whole:
        return {}
    positions = [frame.columns.get_loc(c) for c in whole]  # by position: a nameless column is _c0 here, not in the file
    text = pd.read_csv(path, nrows=SAMPLE_ROWS, usecols=positions, dtype=str, na_values=[*NULL_VALUES, *null_values],
                       keep_default_na=False, sep=dialect["delimiter"], encoding=dialect["encoding"])
    text.columns = [frame.columns[i] for i in sorted(positions)]
    codes = {}
    for column in whole:
        values = text[column].str.strip()
        if len(zeros := values[values.str.match(r"^0\d", na=False)]):
            codes[column] = (values, zeros.iloc[0])
    return codes


def read_table(source: str, source_format: str, where: str, notes: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table's first rows as ingest will read them, and the reading keys cnai.yaml needs for it
    (`where`.delimiter, .encoding, .null_values), each said in `notes`."""
    if source_format != "csv":
        frame = read_sample(source, source_format)
        _refuse_summary_row(source, frame)
        return frame, {}
    path = resolve_source(source, Path(tempfile.gettempdir()) / "cnai-init")
    dialect = csv_dialect(source, path)
    frame = read_sample(source, source_format, dialect=dialect)
    _refuse_summary_row(source, frame)
    if dialect["delimiter"] != "," and (fractional := decimal_comma_columns(frame)):
        # A European export: 0,25 is a number whose decimal mark is a comma (its fields are not comma-separated).
        example = str(frame[fractional[0]].dropna().iloc[0])
        dialect["decimal"] = ","
        frame = read_sample(source, source_format, dialect=dialect)
        notes.append(f"{where}.decimal: ',' (numbers such as {example!r} in {fractional} are written with a decimal comma)")
    reading: dict[str, Any] = dialect_keys(dialect)
    notes += [f"{where}.{key}: {value!r} (found in the file)" for key, value in reading.items() if key != "decimal"]
    markers = {str(c): numbers_but_markers(frame[c]) for c in frame.columns}
    null_values = sorted({m for found in markers.values() for m in found})
    if null_values:
        # Numbers but for a marker ('?', 'N/A'): the marker is read as missing, by init and by ingest alike.
        frame = read_sample(source, source_format, null_values, dialect)
        reading["null_values"] = null_values
        notes.append(f"{where}.null_values: {null_values} read as missing (numbers otherwise, in "
                     f"{sorted(c for c, found in markers.items() if found)})")
    if codes := _codes_with_leading_zeros(path, frame, dialect, null_values):
        # '02134' read as 2134 would lose the zero at ingest and refuse "02134" at serving: text it is.
        for column, (text, example) in codes.items():
            frame[column] = text
            notes.append(f"{where}.columns.{column}: string, though its values are digits: they are codes with "
                         f"leading zeros (e.g. {example!r}), which a number would drop")
    for column in frame.columns:
        if not (text := numbers_but_text(frame[column])):
            continue
        if mistyped_numbers(frame[column], text):
            # Declared a number, the run refuses the typo by name; as text the column would lose its numbers.
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
            notes.append(f"{where}.columns.{column}: {spark_type(frame[column])}, though values such as {text} are "
                         "not numbers (mistyped?): the run refuses them by name until they are mended in the file")
        else:
            notes.append(f"{where}.columns.{column}: string, though nearly all its values are numbers: values such as "
                         f"{text[:3]} are not (mend them in the file, or add them to {where}.null_values and declare it double)")
    return frame, reading


def project_config(source: str, label: str, source_format: str = "csv", task: str | None = None,
                   timestamp: str | None = None, model_kind_name: str = "hist_gradient_boosting"
                   ) -> tuple[dict[str, Any], list[str], list[str]]:
    """(the configuration, notes on what was inferred and why, what the run refuses until it is changed)."""
    from cnai.models.kinds import NAMED_KINDS, model_kind

    notes: list[str] = []
    frame, reading = read_table(source, source_format, "events", notes)
    if numbers := [str(c) for c in frame.columns if re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", str(c))]:
        # iris.csv's first line is "150,4,setosa,versicolor,virginica": counts and class names, read as names.
        notes.append(f"WARNING: the header names {shown(numbers[:5])} are numbers: if the first line of {source} is not "
                     "its column names, put a line of names first")
    quoted = [str(c) for c in frame.columns if re.fullmatch(r"'[^']*'", str(c))]
    rewrite = (f"or write the file without them first, e.g. with pandas: pd.read_csv(path, sep={reading.get('delimiter', ',')!r}, "
               "quotechar=\"'\").to_csv('table.csv', index=False)")
    if source_format == "csv" and len(quoted) == len(frame.columns) > 1 and label in frame.columns:
        # statsmodels' anes96.csv: Spark and pandas keep the quotes, and clients must send them too.
        notes.append(f"WARNING: the header names are written between single quotes ({shown(quoted[:3])}), which are part of "
                     f"each name as Spark reads them (requests to the model send {quoted[0]!r} too); {rewrite}")
    if label not in frame.columns:
        hint = ""
        if source_format == "csv" and f"'{label}'" in quoted:
            hint = (f"; its header names are written between single quotes, which Spark and pandas keep as part of each "
                    f"name: give --label \"'{label}'\" (requests to the model then send the quotes too), {rewrite}")
        if len(frame.columns) == 1 and label in re.split(r"[\s'\"]+", str(frame.columns[0])):
            hint = (f"; its header is one column holding {label!r} between spaces: fields separated by spaces are not "
                    "read (a CSV's delimiter is one of , ; tab |); write it as CSV first, e.g. with pandas: "
                    "pd.read_csv(path, sep=r'\\s+', quotechar=\"'\").to_csv('table.csv', index=False)")
        raise DataError(f"{source}: no column {label!r} to use as the label" + _or_its_columns(label, frame.columns) + hint)
    if frame.empty:  # else "label 'price' has 0 distinct value(s) in the first 0 rows"
        shape = "a header line only" if source_format == "csv" else "a schema and no rows"
        raise DataError(f"{source}: no rows to read ({shape}); nothing can be learnt from it")
    if markers := _label_markers(frame[label], source_format):
        # A '?' among a text label's values was a class too rare to split, which init advised merging
        # into the largest class: mislabelled rows. Read as missing, validate quarantines them.
        reading["null_values"] = sorted({*reading.get("null_values", []), *markers})
        marked = frame[label].astype(str).str.strip().isin(markers)
        frame[label] = frame[label].where(~marked)
        notes.append(f"data.events.null_values: {reading['null_values']} ({shown(markers)} in the label {label!r} on "
                     f"{int(marked.sum())} row(s), read as missing in every column: validate quarantines those rows)")
    if task is not None and task not in TASKS:
        raise ConfigError(f"--task {task!r}: use one of {list(TASKS)}")
    columns = {str(c): spark_type(frame[c]) for c in frame.columns}
    inferred = infer_task(frame[label], label)  # refuses a label with one value, whatever --task says
    if task == "regression" and not pd.api.types.is_numeric_dtype(frame[label].dropna()):
        raise DataError(f"{source}: --task regression, but label {label!r} holds text (e.g. "
                        f"{str(frame[label].dropna().iloc[0])!r}); choose a numeric label, or --task {inferred}")
    if task == "binary" and (distinct := frame[label].nunique()) != 2:
        raise DataError(f"{source}: --task binary, but label {label!r} has {distinct} distinct values in the first "
                        f"{len(frame)} rows; a binary label has two: derive one (e.g. a derived_columns entry such as "
                        f"\"{label} > 0\"), or --task {inferred}")
    given, task = task, task or inferred
    rows = {_plain(c): int(n) for c, n in frame[label].value_counts().items()}
    rare = {c: n for c, n in rows.items() if n < ROWS_TO_TUNE_A_CLASS}
    seen = f" in the first {len(frame)} rows" if len(frame) >= SAMPLE_ROWS else ""
    if task != "regression" and len(rare) * 2 > len(rows) > MULTICLASS_MAX_INTEGER_VALUES:
        # A measurement, not classes (a price): no derived label of merged classes would rescue it.
        numeric = pd.api.types.is_numeric_dtype(frame[label].dropna()) and not pd.api.types.is_bool_dtype(frame[label].dropna())
        raise DataError(f"{source}: {f'--task {given}: ' if given else ''}label {label!r} has {len(rows)} distinct values{seen}, "
                        f"{len(rare)} of them with fewer than the {ROWS_TO_TUNE_A_CLASS} rows a class needs "
                        f"(e.g. {named_classes(rare)}): too few of each to learn as classes. "
                        + ("Predict the number itself with --task regression, or label" if numeric else "Label")
                        + " the rows with a coarser column (a few classes, e.g. ranges of it) added to the table, and init on that")

    notes.append(f"data.task: {task} (label {label!r}: {frame[label].nunique()} distinct values, {frame[label].dtype})")
    times = [c for c, t in columns.items() if t in ("timestamp", "date") and c != label]
    if timestamp is not None and timestamp not in frame.columns:
        raise DataError(f"{source}: no column {timestamp!r} for --timestamp" + _or_its_columns(timestamp, frame.columns))
    if timestamp is not None and columns[timestamp] == "string":
        example = str(frame[timestamp].dropna().iloc[0]) if frame[timestamp].notna().any() else ""
        recipe = _numeric_date_recipe(frame[timestamp], timestamp)
        raise DataError(f"{source}: --timestamp {timestamp}: its values (e.g. {example!r}) do not read as times"
                        + (f"; {recipe}" if recipe else "; times are read in ISO 8601 (2000-01-31 12:00), as yyyy/mm/dd, "
                           "or with the month's name (Jan 31 2000)"))
    dates_as_text = []
    for column in (c for c, t in columns.items() if t == "string" and c != label):
        if recipe := _numeric_date_recipe(frame[column], column):
            notes.append(f"data.events.columns.{column}: string: {recipe}")
            dates_as_text.append(column)
        elif recipe := _time_of_day_recipe(frame[column], column):
            notes.append(f"not a feature: {recipe}")
            dates_as_text.append(column)
        elif date_text_example(frame[column]) is not None:  # what train and tune refuse as a feature
            notes.append(f"not a feature: {column!r} holds dates written as text (e.g. "
                         f"{date_text_example(frame[column])!r}): derive a number from it in data.events.derived_columns")
            dates_as_text.append(column)
    for column in (c for c, t in columns.items() if t in ("int", "bigint") and c != label):
        if recipe := _compact_date_recipe(frame[column], column):
            notes.append(f"data.events.columns.{column}: {columns[column]}: {recipe}")
    timestamp = timestamp or (times[0] if times else None)
    derived: dict[str, str] = {}
    time_source = timestamp  # the column the time is read from (a derived time's source)
    if timestamp and _years(frame[timestamp].dropna().pipe(_whole)) and not pd.api.types.is_integer_dtype(frame[timestamp]):
        # Years written 1959.0 (statsmodels' macrodata): Spark reads no time from that text; a derived date it does.
        split_on, month, within = f"{timestamp}_time", "1", ""
        split_note = len(notes)
        for name, last, first_month in (("quarter", 4, "{} * 3 - 2"), ("month", 12, "{}")):
            part = next((c for c in frame.columns if c.lower() == name and c != label), None)
            values = frame[part].dropna().pipe(_whole) if part else pd.Series(dtype=float)
            if part and len(values) and pd.api.types.is_integer_dtype(values) and values.between(1, last).all():
                month, within = first_month.format(f"cast({sql_name(part)} as int)"), f" and {part!r}"
                break
        derived[split_on] = f"make_date(cast({sql_name(timestamp)} as int), {month}, 1)"
        columns[timestamp] = "int"
        notes.append(f"data.split: time on {split_on!r}, derived from the years in {timestamp!r}{within} (written as "
                     f"{_plain(frame[timestamp].dropna().iloc[0])!r}): the newest rows are held out")
        dates_as_text.append(timestamp)  # the time's source: no feature, as the time itself is none
        timestamp = split_on
    elif timestamp and pd.api.types.is_numeric_dtype(frame[timestamp]) and not _years(frame[timestamp]):
        split_note = len(notes)
        notes.append(f"data.split: time on {timestamp!r}, ordered by its numbers as they are (the highest are held out)")
    elif timestamp:
        columns[timestamp] = "timestamp"
        split_note = len(notes)
        notes.append(f"data.split: time on {timestamp!r} (the newest rows are held out)")
    else:
        years = [c for c in frame.columns if c != label and _years(frame[c].dropna().pipe(_whole))]
        notes.append("data.split: random (no time column found; pass --timestamp to split by time"
                     + (f"; {years[0]!r} holds years ({_plain(frame[years[0]].min())}..{_plain(frame[years[0]].max())}): "
                        f"--timestamp {years[0]} splits by them, the newest held out)" if years else ")"))
    other_times = [c for c in frame.columns if columns[c] in TIME_TYPES and c not in (label, timestamp)]
    features, left_out = _features_among(frame, [c for c in frame.columns
                                                 if c not in (label, timestamp, *dates_as_text, *other_times)])
    notes += [f"not features: {names} ({reason})" for names, reason in left_out]
    notes += [f"not a feature: {time_feature_problem(c, 'data.events.derived_columns')}" for c in other_times]
    if leaks := _leaks(frame, label, features, (task or inferred) != "regression"):
        features = [c for c in features if c not in leaks]
        notes.append(f"not features: {leaks}: each determines {label!r} (or is determined by it) on every row, as a "
                     "column known only with the answer does (a leak: a perfect model on paper, useless when the answer "
                     "is not yet known); add one back by hand if it truly is known before the label")
    if not features:
        raise DataError(f"{source}: no column is left as a feature besides the label {label!r}")
    kind = model_kind(model_kind_name)
    space = kind.default_search_space(len(frame))
    if not space:
        def has_space(name: str) -> bool:
            try:
                return bool(model_kind(name).default_search_space(len(frame)))
            except ConfigError:  # its package is not installed here
                return False

        with_space = [name for name in NAMED_KINDS if has_space(name)]
        raise ConfigError(f"--model {model_kind_name}: no default search space is known for it; run `cnai init` with "
                          f"{' or '.join(with_space)}, then set model.kind and tuning.parameters by hand")
    kind.estimator_class(task)  # a regressor given for a classification task is refused now
    data: dict[str, Any] = {
        "events": {"source": source, "format": source_format, **({"timestamp": timestamp} if timestamp else {}),
                   "columns": columns, **({"derived_columns": derived} if derived else {}), **reading},
        "label": label,
        "task": task,
    }
    if task == "binary":
        classes = sorted(frame[label].dropna().unique().tolist(), key=str)
        positive = _plain(classes[-1])
        # A label written 1, 1.0 and 0 is read as numbers; its classes are answered as 1 and 0, so named.
        data["positive_label"] = int(positive) if isinstance(positive, float) and positive.is_integer() else positive
        notes.append(f"data.positive_label: {data['positive_label']!r} (scores are its probability; change it if the "
                     f"other value, {classes[0]!r}, is the one to find)")
    data["split"] = "time" if timestamp else "random"
    if timestamp and task != "regression" and (missing := _classes_missing_from_newest(frame, time_source, label)):
        data["split"] = "random"
        notes[split_note] = (
            f"data.split: random, although {timestamp!r} orders the rows: the newest "
            f"{default_of(Settings, 'holdout_fraction'):.0%} hold no {label!r} = {missing}, and the gate needs every class")
    to_do = []
    if task != "regression" and rare:
        to_do.append(f"data.label: {too_rare(label, rows, ROWS_TO_TUNE_A_CLASS)}"
                     + (f" (rows counted{seen})" if seen else ""))
    data["features"] = features
    config = {
        "settings": {"home": ".cnai"},
        "data": data,
        "model": {"kind": model_kind_name, "params": {}},
        "tuning": {"algorithm": "tpe", "max_trials": 10, "parallel_trials": 2, "early_stopping": "median", "seed": 42,
                   "parameters": space},
    }
    return config, notes, to_do


def add_feature_sources(config: dict[str, Any], notes: list[str], tables: list[tuple[str, str]],
                        entities: list[str] | str) -> None:
    """Each side table (source, format) as a feature source joined on its entity (`COLUMN` or
    `COLUMN=KEY`: the events' column, and the table's key when it is named otherwise): point-in-time
    on its first time column when the events have a time, else static (one row per key)."""
    data = config["data"]
    events = data["events"]
    entities = [entities] * len(tables) if isinstance(entities, str) else entities
    # Every events column, a feature or not: a side table's column of the same name would clash with it in the join.
    taken = {*events["columns"], data["label"]}
    sources, refs = [], []
    for (source, source_format), spec in zip(tables, entities, strict=True):
        join_on, _, entity = spec.partition("=")
        entity = entity or join_on
        if join_on == data["label"]:
            raise DataError(f"--entity {spec}: {join_on!r} is the label (--label); a side table joined on the label hands "
                            "the model its answer. Join on a column known before the label (e.g. an id, a place, a product)")
        if join_on not in events["columns"]:
            raise DataError(f"{events['source']}: no column {join_on!r} for --entity" + _or_its_columns(join_on, events["columns"]))
        events.setdefault("entity", join_on)
        name = _view_name(Path(source.split("/")[-1]).stem, {s["name"] for s in sources})
        frame, reading = read_table(source, source_format, f"feature source {name}", notes)
        if entity not in frame.columns:
            raise DataError(f"{source}: no column {entity!r} (--entity) to join it on" + _or_its_columns(entity, frame.columns)
                            + f"; or name its key: --entity {join_on}=<its key column>")
        columns = {str(c): spark_type(frame[c]) for c in frame.columns}
        times = [c for c, t in columns.items() if t in ("timestamp", "date") and c != entity]
        # Joined as of the events' time only when that is a time (declared, or derived as make_date):
        # numbers that order the rows (a week's number) are no time an as-of join can take.
        events_time = events.get("timestamp")
        timed = events_time and (events_time in events.get("derived_columns", {}) or events["columns"].get(events_time) in TIME_TYPES)
        timestamp = times[0] if times and timed else None
        if (year := events.get("timestamp")) and not timestamp and year != entity and _years(frame.get(year)):
            # Whole-number years, as the events' own time (Grunfeld's panel): read as the events read theirs
            # (Spark casts "1935" to 1935-01-01), so that each event takes the row of its year or before.
            timestamp, columns[year] = year, events["columns"][year]
            notes.append(f"feature source {name}: {year!r} is its time, as the events': whole numbers read as years")
        key = [entity, *([timestamp] if timestamp else [])]
        if not timestamp and frame[entity].duplicated().any():
            shared_years = [c for c in frame.columns if c in events["columns"] and c != entity and _years(frame[c])]
            raise DataError(f"{source}: {entity!r} repeats ({int(frame[entity].duplicated().sum())} rows), so it cannot be "
                            "a static table (one row per key)" + (
                                f"; and the events have no time to join its {times[0]!r} as of" if times else
                                f"; its {shared_years[0]!r} holds years, as the events' does: pass --timestamp "
                                f"{shared_years[0]} to join it as of each event's year" if shared_years else
                                "; give it a time column, or keep one row per key"))
        other_times = [c for c in frame.columns if c not in key and columns[c] in TIME_TYPES]
        notes += [f"not a feature of {name!r}: " + time_feature_problem(c, "its derived_columns") for c in other_times]
        values, left_out = _features_among(frame, [c for c in frame.columns if c not in key and c not in other_times])
        clashing = [c for c in values if c in taken]
        values = [c for c in values if c not in taken]
        if not values:
            raise DataError(f"{source}: no column is left to join as a feature besides {key}"
                            + (f" ({clashing} are events columns already)" if clashing else ""))
        taken.update(values)
        sources.append({"name": name, "source": source, "format": source_format, "entity": entity,
                        **({"join_on": join_on} if join_on != entity else {}),
                        **({"timestamp": timestamp} if timestamp else {}), "columns": columns, **reading})
        refs += [f"{name}:{c}" for c in values]
        how = f"as of each event's {events['timestamp']!r} on its {timestamp!r}" if timestamp else "static, on the key alone"
        on = f"its {entity!r} = the events' {join_on!r}" if join_on != entity else repr(entity)
        notes.append(f"data.feature_sources: {name!r} from {source}, joined on {on}, {how}; {len(values)} "
                     f"feature{'' if len(values) == 1 else 's'}"
                     + (f" (not {clashing}: the events have them)" if clashing else ""))
        notes += [f"feature source {name}: not features: {names} ({reason})" for names, reason in left_out]
    data["feature_sources"] = sources
    data["feature_refs"] = refs


def _or_its_columns(name: str, columns) -> str:
    """For a column named on the command line that the table lacks: the one meant, or its columns."""
    return did_you_mean(name, [str(c) for c in columns]) or f"; its columns are {shown(columns)}"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, as cnai.yaml and messages write it."""
    return value.item() if hasattr(value, "item") else value


def _view_name(stem: str, taken: set[str]) -> str:
    import re

    name = re.sub(r"\W+", "_", stem).strip("_").lower() or "features"
    name = f"t_{name}" if name[0].isdigit() else name
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    return unique


def write_project(target: Path, config: dict[str, Any], notes: list[str], force: bool = False,
                  to_do: list[str] | None = None) -> None:
    """cnai.yaml with the notes above it; `to_do`: what the run refuses until it is changed."""
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to replace it, or --config another path")
    target.parent.mkdir(parents=True, exist_ok=True)  # `cnai --config new/dir/cnai.yaml init ...`
    if target.exists():  # --force: the data's part is inferred anew; the settings are the user's
        config["settings"], said = _settings_kept(target, config["settings"], config["data"])
        if said:
            notes.append(said)
        if kept := _choices_kept(target, config):
            notes.append(kept)
    else:
        notes.append(_serving_port(config))
    next_step = ("Before `cnai run`, change what it refuses (below)" if to_do else "Review it, then `cnai run`")
    header = (f"# cnai-pipelines project, written by `cnai init` from the data. {next_step}.\n"
              + "".join(f"# The run refuses it as it is: {item}\n" for item in to_do or []) +
              "# What was inferred:\n" + "".join(f"#   - {note}\n" for note in notes) +
              "# Every key and its default: cnai/core/config.py; unknown keys are refused by name.\n")
    target.write_text(header + yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=110,
                                                allow_unicode=True))
    ignore = target.parent / ".gitignore"
    home = f"{config['settings'].get('home', default_of(Settings, 'home'))}/"
    if home not in (ignore.read_text().splitlines() if ignore.exists() else []):
        with ignore.open("a") as handle:  # the run directory: caches, registry, served models
            handle.write(f"{home}\n")


def _serving_port(config: dict[str, Any]) -> str:
    """Where the model will be served, said; a new project whose default port something already
    listens on (another project's model server: one port per project) gets the next free one."""
    from cnai.backends.local.deployment import listened_on

    host, port = default_of(Settings, "serving_host"), default_of(Settings, "serving_port")
    name = config["settings"].get("model_name") or default_model_name(config["data"]["label"], config["data"]["task"])
    if not listened_on(host, port, 0.5):
        return f"served as {name!r} on port {port} (settings.serving_port; one port per project)"
    others = {default_of(Settings, "ui_port"), default_of(Settings, "mlflow_ui_port")}  # cnai ui's own
    free = next((p for p in range(port + 1, port + 100) if p not in others and not listened_on(host, p, 0.5)), None)
    if free is None:
        return f"served as {name!r} on port {port}, where something listens already: set settings.serving_port"
    config["settings"]["serving_port"] = free
    return f"settings.serving_port: {free}, as {port} is taken (another project's model server?); served as {name!r}"


KEPT_SECTIONS = ("evaluation", "monitoring", "schedule", "cluster")  # the team's choices, not the data's


def _choices_kept(target: Path, config: dict[str, Any]) -> str:
    """Into `config`, what the team chose in the cnai.yaml `--force` replaces for the same label and
    task: the tuning budget and algorithm (its search space too for the same model kind, and the
    kind's fixed params), and the gate, monitoring, schedule and cluster sections. A new user's
    max_trials: 25 went back to 10 when `--model` changed the kind. What was kept, said; "" if nothing."""
    try:
        written = yaml.safe_load(target.read_text()) or {}
        earlier = written.get("data") or {}
        same = (earlier.get("label"), earlier.get("task")) == (config["data"]["label"], config["data"]["task"])
    except (OSError, yaml.YAMLError, AttributeError):
        return ""
    if not same:
        return ""
    kept = []
    tuning = written.get("tuning") if isinstance(written.get("tuning"), dict) else {}
    same_kind = (written.get("model") or {}).get("kind") == config["model"]["kind"]
    for key, value in tuning.items():
        if key != "parameters" or same_kind:
            config["tuning"][key] = value
            kept.append(f"tuning.{key}")
    if same_kind and isinstance((written.get("model") or {}).get("params"), dict):
        config["model"]["params"] = written["model"]["params"]
        kept.append("model.params")
    for section in KEPT_SECTIONS:
        if isinstance(written.get(section), dict):
            config[section] = written[section]
            kept.append(section)
    return f"kept from the {target.name} replaced (the same label and task): {', '.join(kept)}" if kept else ""


def _settings_kept(target: Path, defaults: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the `settings` of the cnai.yaml `--force` replaces, or `defaults` when it has none or they
    cannot be read, what to say of it): a serving port or a registry chosen is not the data's to infer.
    Its model_name is kept only for the same label and task (`data`, the new one's): another answer's
    model registered under it would be gated against the old one's production model."""
    from pydantic import ValidationError

    try:
        written = yaml.safe_load(target.read_text()) or {}
        if not isinstance(written, dict):
            raise ValueError(f"it holds a {type(written).__name__}, not sections")
        settings = written.get("settings")
        if settings is None:
            return defaults, ""
        if not isinstance(settings, dict):
            raise ValueError(f"settings is a {type(settings).__name__}, not a mapping of keys")
        Settings.model_validate(settings)
        earlier = written.get("data") if isinstance(written.get("data"), dict) else {}
        renamed = "model_name" in settings and (earlier.get("label"), earlier.get("task")) != (data.get("label"), data.get("task"))
    except (OSError, ValueError, yaml.YAMLError) as exc:  # pydantic's ValidationError is a ValueError
        problem = ("; ".join(f"settings.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                   if isinstance(exc, ValidationError) else " ".join(str(exc).split()))
        return defaults, f"settings: the defaults; those of the {target.name} replaced cannot be read ({problem})"
    if renamed:
        settings = {key: value for key, value in settings.items() if key != "model_name"}
        return settings, (f"settings: kept from the {target.name} replaced (--force infers the rest anew), but for "
                          f"model_name ({written['settings']['model_name']!r}), which named the model of another label "
                          "or task")
    return settings, f"settings: kept from the {target.name} replaced (--force infers the rest anew)"
