"""A small CSV typed in this process with DuckDB, to the answer Spark gives it (`cnai.core.tabular`),
so that a run on a laptop's table does not wait for a JVM: for small tables, Spark's start and
first queries were most of the ingest steps' time (BENCHMARKS.md section 8).

Only what is certain to read the same is taken here; anything else is left to Spark, whose
refusals name the file, the column and the value. Certain means: one local UTF-8 CSV of at most
`cnai.core.scale.SMALL_TABLE_BYTES`; every value of a typed column in the one form both engines
read alike (`STRICT_FORMS`: 12, -3.5e2, 2013-01-01 05:00:00, true), checked over the whole table
before a row is written; no text Spark's CSV reader reads its own way; and each derived column a
Spark SQL expression of the kinds below, whose result and type this module states
(`_Expression`). A value in another form (" 12", "12.", "1/2/2013"), a quoted empty field, a
function not listed: `write_typed` returns why, and the caller types with Spark. Tests hold both
paths equal (tests/test_small_tables.py).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING
from cnai.core.tabular import SESSION_CONF

# Spark's type (cnai.yaml's) -> DuckDB's; a table of any other type is Spark's.
_DUCKDB_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "float": "FLOAT",
                 "boolean": "BOOLEAN", "timestamp": "TIMESTAMPTZ", "date": "DATE"}
_NUMERIC = ("int", "bigint", "double")  # arithmetic is taken on these; float and decimals are Spark's own

# The one form of each type's text that Spark's cast and DuckDB's read as the same value. Times: ISO
# 8601 with a space or T, to the microsecond, naive (UTC: both sessions' zone) or Z after the
# seconds (Spark refuses 05:00Z, which DuckDB reads).
_DAY = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME_OF_DAY = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?Z?)?"
STRICT_FORMS = {
    "int": r"-?[0-9]{1,10}(\.0+)?",  # 1645.0: pandas writes whole numbers so in a column with a gap
    "bigint": r"-?[0-9]{1,19}(\.0+)?",
    "double": r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?",
    "float": r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,2})?",
    "boolean": r"[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]",  # not (?i): RE2 folds ſ to s, which Spark does not
    "timestamp": rf"{_DAY}([ T]{_TIME_OF_DAY})?",
    "date": _DAY,
}
_UTF8 = {"utf-8", "utf8"}
SPARK_MAX_COLUMNS = 20480  # Spark's CSV reader's maxColumns


class Unsure(Exception):
    """What this module cannot be sure Spark answers alike: the table is Spark's."""


@dataclass(frozen=True)
class _Expression:
    sql: str
    type: str  # Spark's: int, bigint, double, string, boolean, timestamp, date; "decimal" (a literal) or "null"


def spark_needed(table: dict, size: int | None) -> str:
    """Why a table (a source, its format and dialect, columns and derived columns, as the ingest
    steps take them) needs Spark before its values are read; "" when it may be typed here."""
    source = str(table.get("source") or "")
    if table.get("format", "csv") != "csv":
        return f"{table.get('format')} is read by Spark"
    from cnai.core import scale

    limit = f"{scale.SMALL_TABLE_BYTES:,} bytes (CNAI_SMALL_TABLE_BYTES)"
    if "://" in source:
        return "a remote source"
    if Path(source).is_dir():
        return "a folder of files"
    if size is None:
        return f"compressed (a gzipped CSV is typed without Spark when it unpacks to at most {limit})"
    if size > scale.SMALL_TABLE_BYTES:
        return f"{size:,} bytes, more than {limit}"
    if (table.get("encoding") or CSV_ENCODING).lower() not in _UTF8:
        return f"encoding {table.get('encoding')}"
    if odd_types := _types_of_spark(table.get("columns") or {}):
        return odd_types
    try:
        derived_sql(table.get("columns") or {}, table.get("derived_columns") or {})
    except Unsure as exc:
        return str(exc)
    return ""


def write_typed(source: str, destination: str, column_types: dict[str, str], derived_columns: dict[str, str] | None = None,
                limit_rows: int = 0, null_values: list[str] | None = None, delimiter: str = CSV_DELIMITER,
                decimal: str = CSV_DECIMAL) -> tuple[int, dict[str, str]] | str:
    """`cnai.core.tabular.write_typed`'s answer for a CSV `source` (UTF-8; `spark_needed` says ""),
    written as Parquet into the folder `destination`: (rows, schema), or why Spark must type it
    (nothing of it is then kept: the caller writes to a staging folder it discards)."""
    import duckdb

    try:
        header = _header(source, delimiter)
        declared = [c for c in header if c in column_types]  # the source's order, as Spark's select
        missing = [c for c in column_types if c not in header]
        if missing or len({c.lower() for c in header}) < len(header) or len(header) > SPARK_MAX_COLUMNS:
            return "the header lacks a declared column, repeats one or has more than Spark reads (Spark says which)"
        if odd_types := _types_of_spark(column_types):
            return odd_types
        odd, quoted = _read_its_own_way(source, delimiter)
        if odd:
            return odd
        derived = derived_sql({c: column_types[c] for c in declared}, derived_columns or {})
        connection = duckdb.connect()
        connection.execute(f"SET TimeZone = {_text(SESSION_CONF['spark.sql.session.timeZone'])}")  # Spark's zone
        connection.execute(_read_sql(source, header, delimiter, limit_rows))
        if quoted and _line_breaks_in_fields(connection, header):  # only a quoted field holds one
            return "a field holds a line break (Spark reads such a file its own way)"
        connection.execute(_as_read_sql(declared, column_types, null_values or [], decimal))
        odd = _not_strict(connection, declared, column_types)
        if odd:
            return f"column {odd!r} holds values in a form Spark reads its own way or refuses"
        table = connection.sql(_typed_sql(declared, column_types, derived)).to_arrow_table()
    except Unsure as exc:
        return str(exc)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:  # not a readable UTF-8 CSV: Spark says how
        return f"its header: {exc}"
    except duckdb.Error as exc:  # a row of more fields, an overflow, a date that does not exist: Spark says
        return f"DuckDB: {str(exc).splitlines()[0]}"
    schema = {c: _output_type(column_types[c]) for c in declared}
    for name, expression in derived:
        schema[name] = _output_type(expression.type)
    _write(table, schema, destination)
    return table.num_rows, schema


def _types_of_spark(column_types: dict[str, str]) -> str:
    """Why declared types are Spark's to read (decimal(10,2), smallint: a component's caller may
    declare any Spark SQL type); "" when each is one of cnai.yaml's."""
    odd = sorted(set(column_types.values()) - set(_DUCKDB_TYPES))
    return f"the types {odd} are Spark's" if odd else ""


def _output_type(spark_type: str) -> str:
    return "timestamp" if spark_type == "date" else spark_type  # DATE columns are written as times (tabular)


def _header(source: str, delimiter: str) -> list[str]:
    """The column names as Spark reads them: a name left empty (R's row names) or written NA (its
    null marker) is `_c<i>`; a byte-order mark is not part of the first."""
    with open(source, newline="", encoding="utf-8-sig") as file:
        names = next(csv.reader(file, delimiter=delimiter, quotechar='"', doublequote=True), [])
    return [f"_c{i}" if name in ("", "NA") else name for i, name in enumerate(names)]


def _read_its_own_way(source: str, delimiter: str) -> tuple[str, bool]:
    """(What in the file's text Spark's CSV reader, univocity, reads otherwise than DuckDB's, or "";
    whether it quotes any field). Read otherwise: a field written "" (empty text to Spark, an
    unquoted empty field missing; to DuckDB both alike), blanks before a field's opening quote
    (Spark keeps them and the quotes), a line of only blanks (a row to DuckDB, skipped by Spark), a
    line ended by a carriage return alone. A quote written twice inside a field may be taken for
    one: the table is then Spark's, which is only slower. Each form is looked for only where its
    bytes occur at all: a byte search, not an expression tried at every position of the file."""
    d = re.escape(delimiter.encode())
    text = Path(source).read_bytes()
    rows = text.find(b"\n") + 1  # the header is not looked at: R quotes an empty name ""
    forms = [(b'""', rb'(?:^|' + d + rb')""[ \t]*(?:' + d + rb'|\r?$)'),
             (b'"', rb'(?:^|' + d + rb')[ \t]+"'),
             # a line of what Java's trim removes (spaces, tabs, control characters), from the header's end
             (_BLANK_LINE_START, rb"\n[\x00-\x09\x0b\x0c\x0e-\x20]+\r?(?:\n|$)"),
             (b"\r", rb"\r(?!\n)")]
    start = max(rows - 1, 0)
    for present, form in forms:
        occurs = _blank_line_start(text, start) if present is _BLANK_LINE_START else text.find(present, start) >= 0
        if occurs and (found := re.compile(form, re.MULTILINE).search(text, start)):
            shown = found.group(0).strip(delimiter.encode()).decode(errors="replace")
            return f"the text {shown!r} (Spark's CSV reader reads it its own way)", True
    return "", text.find(b'"', rows) >= 0


_BLANK_LINE_START = b"\n "  # stands for _blank_line_start's test in _read_its_own_way's list


def _blank_line_start(text: bytes, start: int) -> bool:
    """Whether a line after `start` begins with a character Java's trim removes (a blank line's first
    byte), in one pass over the bytes rather than an expression tried at every line."""
    import numpy as np

    data = np.frombuffer(text, dtype=np.uint8)[start:]
    first = data[np.flatnonzero(data[:-1] == ord("\n")) + 1]
    return bool(((first <= 0x20) & (first != ord("\n")) & (first != ord("\r"))).any())


def _line_breaks_in_fields(connection, header: list[str]) -> bool:
    """Whether a quoted field holds a line break: Spark reads the file line by line and splits such a
    record wherever the pieces still have the header's fields (its own answer, not DuckDB's)."""
    if not header:
        return False
    text = " || ".join(f"coalesce({_quote(c)}, '')" for c in header)  # a missing field is no line break
    return connection.sql(f"SELECT count_if(regexp_matches({text}, '[\\r\\n]')) FROM raw").fetchall()[0][0] > 0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_sql(source: str, header: list[str], delimiter: str, limit_rows: int) -> str:
    columns = "{" + ", ".join(f"{_text(name)}: 'VARCHAR'" for name in header) + "}"
    limit = f" LIMIT {int(limit_rows)}" if limit_rows else ""
    return (f"CREATE TEMP TABLE raw AS SELECT * FROM read_csv({_text(source)}, header = true, auto_detect = false, "
            f"delim = {_text(delimiter)}, quote = '\"', escape = '\"', nullstr = ['NA'], columns = {columns}, "
            f"strict_mode = true){limit}")


def _as_read_sql(declared: list[str], column_types: dict[str, str], null_values: list[str], decimal: str) -> str:
    """Each declared column's text as Spark's reader hands it to the casts: an empty field missing,
    the decimal mark of fractional columns a point, the table's null markers (trimmed) missing."""
    markers = ", ".join(_text(str(v)) for v in null_values)
    columns = []
    for c in declared:
        text = f"NULLIF({_quote(c)}, '')"
        if decimal != "." and column_types[c] in ("double", "float"):
            text = f"replace({text}, {_text(decimal)}, '.')"
        if markers:
            text = f"CASE WHEN trim({text}, ' ') IN ({markers}) THEN NULL ELSE {text} END"
        columns.append(f"{text} AS {_quote(c)}")
    return f"CREATE TEMP TABLE as_read AS SELECT {', '.join(columns) or '1 AS none'} FROM raw"


def _not_strict(connection, declared: list[str], column_types: dict[str, str]) -> str | None:
    """The first typed column holding a value not in its strict form (or out of its type's range)."""
    checked = [c for c in declared if column_types[c] != "string"]
    if not checked:
        return None
    counts = ", ".join(
        f"count_if({_quote(c)} IS NOT NULL AND NOT (regexp_full_match({_quote(c)}, {_text(STRICT_FORMS[column_types[c]])}) "
        f"AND {_cast_text(_quote(c), column_types[c], safe=True)} IS NOT NULL"
        + (f" AND isfinite(TRY_CAST({_quote(c)} AS {_DUCKDB_TYPES[column_types[c]]}))" if column_types[c] in ("double", "float") else "")
        + "))" for c in checked)
    found = connection.sql(f"SELECT {counts} FROM as_read").fetchall()[0]
    return next((c for c, n in zip(checked, found, strict=True) if n), None)


def _cast_text(value: str, spark_type: str, safe: bool = False) -> str:
    if spark_type == "string":
        return value
    if spark_type == "boolean":
        return f"(lower({value}) = 'true')"
    if spark_type in ("int", "bigint"):
        value = f"regexp_replace({value}, '\\.0+$', '')"
    return f"{'TRY_CAST' if safe else 'CAST'}({value} AS {_DUCKDB_TYPES[spark_type]})"


def _typed_sql(declared: list[str], column_types: dict[str, str], derived: list[tuple[str, _Expression]]) -> str:
    typed = ", ".join(f"{_cast_text(_quote(c), column_types[c])} AS {_quote(c)}" for c in declared) or "1 AS none"
    query = f"SELECT {typed} FROM as_read"
    names = list(declared)
    for name, expression in derived:  # withColumn: a column of the same name is replaced where it stands
        columns = [f"{expression.sql} AS {_quote(name)}" if n == name else _quote(n) for n in names]
        if name not in names:
            columns.append(f"{expression.sql} AS {_quote(name)}")
            names.append(name)
        query = f"SELECT {', '.join(columns)} FROM ({query})"
    return query


def _write(table, schema: dict[str, str], destination: str) -> None:
    """As Spark writes it: nullable columns, int32 for int, times in microseconds UTC, Snappy."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
                   "float": pa.float32(), "boolean": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC")}
    target = pa.schema([pa.field(name, arrow_types[t], nullable=True) for name, t in schema.items()])
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(list(schema)).cast(target), folder / "part-00000.snappy.parquet", compression="snappy")


# ---- derived columns: Spark SQL expressions this module states the result and type of ----------

def derived_sql(column_types: dict[str, str], derived_columns: dict[str, str]) -> list[tuple[str, _Expression]]:
    """Each derived column as DuckDB SQL giving Spark's value and type, in order (a later one may read
    an earlier one); Unsure names the first that is not certain."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    names = dict(column_types)
    derived = []
    for name, text in derived_columns.items():
        if not isinstance(text, str) or "\\" in text:
            raise Unsure(f"derived_columns.{name}")
        try:
            tree = sqlglot.parse_one(text, read="spark")
            _spark_words_only(text, names, name)
        except SqlglotError as exc:
            raise Unsure(f"derived_columns.{name}: {exc}") from exc
        if any(n.lower() == name.lower() and n != name for n in names):
            raise Unsure(f"derived_columns.{name}: replaces a column of another case")
        expression = _translated(tree, names, name)
        if expression.type in ("decimal", "null"):
            raise Unsure(f"derived_columns.{name}: of Spark's decimal or null type")
        expression = _Expression(f"CAST({expression.sql} AS {_DUCKDB_TYPES[expression.type]})", expression.type)
        derived.append((name, expression))
        names[name] = expression.type
    return derived


# The words a derived column may hold besides its columns' names, as Spark spells them: sqlglot also
# reads other dialects' (day_of_week, iif, TEXT), which Spark refuses.
_SPARK_WORDS = {"case", "when", "then", "else", "end", "and", "or", "not", "is", "null", "in", "between", "like", "cast",
                "as", "true", "false", "if", "coalesce", "abs", "year", "month", "day", "dayofmonth", "dayofweek",
                "dayofyear", "weekofyear", "quarter", "hour", "minute", "second", "make_date", "int", "integer", "bigint",
                "long", "double", "string", "boolean", "date", "timestamp"}
# sqlglot's arguments of the nodes translated here; any other (a LIKE's ESCAPE, a CAST's FORMAT) is Spark's.
_ARGUMENTS = {"this", "expression", "expressions", "low", "high", "ifs", "default", "true", "false", "to", "is_string", "safe"}


def _spark_words_only(text: str, names: dict[str, str], derived: str) -> None:
    import sqlglot
    from sqlglot.tokens import TokenType

    columns = {n.lower() for n in names}
    tokens = sqlglot.tokenize(text, read="spark")
    _one_comparison_per_term(tokens, derived)
    for token in tokens:
        word = token.text.lower()
        if token.token_type == TokenType.IDENTIFIER:  # `quoted`: a column's name
            if word not in columns:
                raise Unsure(f"derived_columns.{derived}: `{token.text}` is not a column")
        elif token.token_type not in (TokenType.STRING, TokenType.NUMBER) and re.search(r"\w", word) \
                and (not re.fullmatch(r"[a-z_][a-z0-9_]*", word) or word not in _SPARK_WORDS | columns):
            raise Unsure(f"derived_columns.{derived}: {token.text} is Spark's to read")


_COMPARING = {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NULLSAFE_EQ", "LIKE", "ILIKE", "RLIKE", "IN", "BETWEEN", "IS", "NOT"}
_TERM_ENDS = {"AND", "OR", "COMMA", "CASE", "WHEN", "THEN", "ELSE", "END"}


def _one_comparison_per_term(tokens, derived: str) -> None:
    """Unsure of two comparisons in one term without brackets between them (`ok = s LIKE 'a%'`,
    `k IS NULL = ok`): Spark ranks =, LIKE, IN, IS and NOT otherwise than sqlglot, which even adds
    brackets of its own. IS NOT, NOT LIKE, NOT IN and NOT BETWEEN are one comparison each."""
    counts, previous = [0], ""
    for token in tokens:
        kind = token.token_type.name
        if kind == "L_PAREN":
            counts.append(0)
        elif kind == "R_PAREN" and len(counts) > 1:
            counts.pop()
        elif kind in _TERM_ENDS and not (kind == "AND" and previous == "BETWEEN_LOW"):
            counts[-1] = 0
        elif kind in _COMPARING and not (kind == "NOT" and previous == "IS") and not (
                kind in ("LIKE", "ILIKE", "RLIKE", "IN", "BETWEEN") and previous == "NOT"):
            counts[-1] += 1
            if counts[-1] > 1:
                raise Unsure(f"derived_columns.{derived}: two comparisons without brackets between them (Spark ranks "
                             "=, LIKE, IN, IS and NOT its own way)")
        previous = "BETWEEN_LOW" if kind == "BETWEEN" else ("BETWEEN_LOW" if previous == "BETWEEN_LOW" and kind != "AND"
                                                             else kind)


def _translated(node, names: dict[str, str], derived: str) -> _Expression:  # noqa: C901, PLR0911, PLR0912 - one case per kind
    from sqlglot import exp

    def sub(child) -> _Expression:
        return _translated(child, names, derived)

    def unsure(why: str) -> Unsure:
        return Unsure(f"derived_columns.{derived}: {why}")

    unknown = {k for k, v in node.args.items() if v not in (None, False, []) and k not in _ARGUMENTS}
    if unknown - ({"negate"} if isinstance(node, exp.Like) else set()):
        raise unsure(f"{node.sql(dialect='spark')[:60]} ({sorted(unknown)})")
    comparisons = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.Like, exp.In, exp.Between, exp.Is)
    if isinstance(node, comparisons) and any(isinstance(c, (*comparisons, exp.Not)) for c in node.iter_expressions()):
        # Spark ranks =, LIKE, IN and NOT otherwise than sqlglot: `ok = s LIKE 'a%'` is (ok = s) LIKE 'a%' to Spark
        raise unsure("a comparison of a comparison without brackets")
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return _literal(node.this, unsure, negative=True)  # -2147483648 is Spark's int literal

    if isinstance(node, exp.Paren):
        return sub(node.this)
    if isinstance(node, exp.Column):
        if node.table:
            raise unsure(f"{node.sql()} names a table")
        found = [n for n in names if n.lower() == node.name.lower()]  # Spark resolves names in any case
        if len(found) != 1 or names[found[0]] not in _DUCKDB_TYPES:
            raise unsure(f"{node.name} is not one column of cnai.yaml's types")
        return _Expression(_quote(found[0]), names[found[0]])
    if isinstance(node, exp.Literal):
        return _literal(node, unsure)
    if isinstance(node, exp.Boolean):
        return _Expression("TRUE" if node.this else "FALSE", "boolean")
    if isinstance(node, exp.Null):
        return _Expression("NULL", "null")
    if isinstance(node, (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ, exp.NullSafeEQ)):
        left, right = _compared(sub(node.this), sub(node.expression), unsure)
        operator = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.EQ: "=", exp.NEQ: "<>",
                    exp.NullSafeEQ: "IS NOT DISTINCT FROM"}[type(node)]
        return _Expression(f"({left} {operator} {right})", "boolean")
    if isinstance(node, (exp.Between, exp.In)):
        value = sub(node.this)
        bounds = [sub(node.args["low"]), sub(node.args["high"])] if isinstance(node, exp.Between) else \
            [sub(o) for o in node.expressions]
        if not bounds:
            raise unsure("IN ()")
        for bound in bounds:
            _comparable(value, bound, unsure)
            # DuckDB compares all of them in one common type: a bigint beside a double would be rounded
            if "decimal" in (value.type, bound.type) or {value.type, bound.type} == {"bigint", "double"}:
                raise unsure("BETWEEN or IN of whole and fractional numbers together")
        if isinstance(node, exp.Between):
            return _Expression(f"({value.sql} BETWEEN {bounds[0].sql} AND {bounds[1].sql})", "boolean")
        return _Expression(f"({value.sql} IN ({', '.join(b.sql for b in bounds)}))", "boolean")
    if isinstance(node, (exp.And, exp.Or)):
        left, right = sub(node.this), sub(node.expression)
        if {left.type, right.type} != {"boolean"}:
            raise unsure("AND/OR of values that are not true or false")
        return _Expression(f"({left.sql} {'AND' if isinstance(node, exp.And) else 'OR'} {right.sql})", "boolean")
    if isinstance(node, exp.Not):
        inner = sub(node.this)
        if inner.type != "boolean":
            raise unsure("NOT of a value that is not true or false")
        return _Expression(f"(NOT {inner.sql})", "boolean")
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise unsure("IS other than IS NULL")
        return _Expression(f"({sub(node.this).sql} IS NULL)", "boolean")
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        left, right = sub(node.this), sub(node.expression)
        kind = _arithmetic_type(left, right, unsure)
        operator = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}[type(node)]
        return _Expression(f"(CAST({left.sql} AS {_DUCKDB_TYPES[kind]}) {operator} {right.sql})", kind)
    if isinstance(node, exp.Div):  # Spark: always a double, NULL by zero
        left, right = sub(node.this), sub(node.expression)
        _arithmetic_type(left, right, unsure)
        return _Expression(f"(CAST({left.sql} AS DOUBLE) / NULLIF(CAST({right.sql} AS DOUBLE), 0))", "double")
    if isinstance(node, exp.Mod):
        left, right = sub(node.this), sub(node.expression)
        kind = _arithmetic_type(left, right, unsure)
        if kind == "double":
            raise unsure("% of fractional numbers")
        return _Expression(f"(CAST({left.sql} AS {_DUCKDB_TYPES[kind]}) % NULLIF({right.sql}, 0))", kind)
    if isinstance(node, (exp.Neg, exp.Abs)):
        inner = sub(node.this)
        if inner.type not in _NUMERIC:
            raise unsure("- or abs of a value that is not a number")
        return _Expression(f"({'-' if isinstance(node, exp.Neg) else 'abs'}({inner.sql}))", inner.type)
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _cast(sub(node.this), node.to, unsure)
    if isinstance(node, exp.TsOrDsToDate) and not node.args.get("format"):
        inner = sub(node.this)  # how sqlglot reads year(t) and the like: a date of t
        if inner.type not in ("timestamp", "date"):
            raise unsure("a date part of a value that is not a time")
        return _Expression(f"CAST({inner.sql} AS DATE)", "date")
    parts = {exp.Year: "year", exp.Month: "month", exp.Day: "day", exp.DayOfMonth: "day", exp.DayOfYear: "dayofyear",
             exp.WeekOfYear: "weekofyear", exp.Quarter: "quarter", exp.Hour: "hour", exp.Minute: "minute",
             exp.Second: "second", exp.DayOfWeek: "dayofweek"}
    if type(node) in parts:
        inner = sub(node.this)
        hours = isinstance(node, (exp.Hour, exp.Minute, exp.Second))
        if inner.type not in (("timestamp",) if hours else ("timestamp", "date")):
            raise unsure(f"{parts[type(node)]} of a value that is not a time")
        shift = " + 1" if isinstance(node, exp.DayOfWeek) else ""  # Spark counts Sunday as 1, DuckDB as 0
        return _Expression(f"CAST({parts[type(node)]}({inner.sql}){shift} AS INTEGER)", "int")
    if isinstance(node, (exp.Case, exp.If, exp.Coalesce)):
        return _conditional(node, sub, unsure)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "make_date" and len(node.expressions) == 3:
        args = [sub(a) for a in node.expressions]
        if any(a.type not in ("int", "bigint") for a in args):
            raise unsure("make_date of values that are not whole numbers")
        return _Expression(f"make_date({', '.join(a.sql for a in args)})", "date")
    if isinstance(node, exp.Like) and isinstance(node.expression, exp.Literal) and node.expression.is_string:
        value = sub(node.this)
        if value.type != "string" or "\\" in node.expression.this:
            raise unsure("LIKE of a value that is not text")
        negated = "NOT " if node.args.get("negate") else ""
        return _Expression(f"({value.sql} {negated}LIKE {_text(node.expression.this)})", "boolean")
    raise unsure(f"{type(node).__name__} ({node.sql(dialect='spark')[:60]}) is typed by Spark")


def _literal(node, unsure, negative: bool = False) -> _Expression:
    text = node.this
    if node.is_string:
        return _Expression(_text(text), "string")
    sign = "-" if negative else ""
    if re.fullmatch(r"[0-9]+", text):
        value = -int(text) if negative else int(text)
        if -(2**31) <= value < 2**31:
            return _Expression(f"CAST({value} AS INTEGER)", "int")
        if -(2**63) <= value < 2**63:
            return _Expression(f"CAST({value} AS BIGINT)", "bigint")
        raise unsure(f"{text} is a decimal to Spark")
    if re.fullmatch(r"[0-9]*\.[0-9]+|[0-9]+\.", text) and len(re.sub(r"\D", "", text)) <= 15:
        return _Expression(f"{sign}{text}", "decimal")  # Spark's decimal literal: taken in comparisons only
    if re.fullmatch(r"([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+", text) and 0 < abs(float(text)) < float("inf"):
        return _Expression(f"CAST({sign}{text} AS DOUBLE)", "double")
    raise unsure(f"the literal {text}")


def _comparable(left: _Expression, right: _Expression, unsure) -> None:
    """Both numbers (compared exactly by both engines), both text, both times, or both truth values."""
    kinds = {left.type, right.type} - {"null"}
    if kinds <= {*_NUMERIC, "decimal"} or len(kinds) <= 1 and kinds <= {"string", "boolean", "timestamp", "date"}:
        return
    raise unsure(f"a comparison of {left.type} with {right.type} (Spark casts one)")


def _compared(left: _Expression, right: _Expression, unsure) -> tuple[str, str]:
    """The two sides as DuckDB compares them to Spark's answer: a whole number against a decimal
    literal exactly, as Spark does (DuckDB's own common decimal can overflow to NULL)."""
    _comparable(left, right, unsure)
    kinds = {left.type, right.type}
    if "decimal" in kinds and kinds & {"int", "bigint", "decimal"} == kinds:
        scale = max(len(side.sql.split(".", 1)[1]) if "." in side.sql else 0 for side in (left, right) if side.type == "decimal")
        return tuple(f"CAST({side.sql} AS DECIMAL(38, {scale}))" for side in (left, right))  # type: ignore[return-value]
    return left.sql, right.sql


def _arithmetic_type(left: _Expression, right: _Expression, unsure) -> str:
    """Spark's type of + - * over int, bigint and double (an int overflow is an error here, and
    then the table is Spark's); decimals (1.5 * x) are Spark's."""
    if left.type not in _NUMERIC or right.type not in _NUMERIC:
        raise unsure(f"arithmetic of {left.type} with {right.type}")
    return "double" if "double" in (left.type, right.type) else "bigint" if "bigint" in (left.type, right.type) else "int"


_CAST_TARGETS = {"INT": "int", "BIGINT": "bigint", "DOUBLE": "double", "TEXT": "string", "VARCHAR": "string",
                 "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamp"}
# (from, to) casts both engines answer alike; a double to a whole number is cut toward zero by
# Spark (DuckDB rounds): written as trunc.
_CASTS = {("boolean", "int"), ("boolean", "bigint"), ("boolean", "double"), ("int", "bigint"), ("int", "double"),
          ("bigint", "double"), ("bigint", "int"), ("double", "int"), ("double", "bigint"), ("int", "string"),
          ("bigint", "string"), ("boolean", "string"), ("int", "boolean"), ("bigint", "boolean"), ("timestamp", "date"),
          ("date", "timestamp")}


def _cast(value: _Expression, to, unsure) -> _Expression:
    target = _CAST_TARGETS.get(to.this.name) if not to.expressions else None  # INTEGER(5), STRING(10): Spark's
    if target is None:
        raise unsure(f"a cast to {to.sql()}")
    if value.type == target:
        return value
    if value.type == "null":
        return _Expression(f"CAST(NULL AS {_DUCKDB_TYPES[target]})", target)
    if (value.type, target) not in _CASTS:
        raise unsure(f"a cast of {value.type} to {target} (Spark's own rules)")
    inner = f"trunc({value.sql})" if value.type == "double" else value.sql
    return _Expression(f"CAST({inner} AS {_DUCKDB_TYPES[target]})", target)


def _conditional(node, sub, unsure) -> _Expression:
    from sqlglot import exp

    if isinstance(node, exp.Coalesce):
        values, conditions = [sub(node.this), *[sub(e) for e in node.expressions]], []
    elif isinstance(node, exp.If):
        if node.args.get("false") is None:
            raise unsure("if() of two arguments (Spark takes three)")
        conditions = [sub(node.this)]
        values = [sub(node.args["true"]), sub(node.args["false"])]
    else:
        if node.this is not None:
            raise unsure("CASE x WHEN (a simple CASE)")
        conditions = [sub(i.this) for i in node.args["ifs"]]
        values = [sub(i.args["true"]) for i in node.args["ifs"]]
        values.append(sub(node.args["default"]) if node.args.get("default") else _Expression("NULL", "null"))
    if any(c.type != "boolean" for c in conditions):
        raise unsure("a condition that is not true or false")
    kinds = {v.type for v in values} - {"null"}
    if not kinds or "decimal" in kinds or (len(kinds) > 1 and not kinds <= set(_NUMERIC)):
        raise unsure(f"branches of {sorted(kinds)} (Spark finds their common type)")
    kind = kinds.pop() if len(kinds) == 1 else "double" if "double" in kinds else "bigint"
    cast = [f"CAST({v.sql} AS {_DUCKDB_TYPES[kind]})" for v in values]
    if isinstance(node, exp.Coalesce):
        return _Expression(f"coalesce({', '.join(cast)})", kind)
    branches = " ".join(f"WHEN {c.sql} THEN {v}" for c, v in zip(conditions, cast[:-1], strict=True))
    return _Expression(f"(CASE {branches} ELSE {cast[-1]} END)", kind)
