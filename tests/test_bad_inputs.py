"""The bad-input corpus: every broken flights file a user could hand us, through ingest and validate.

Each case is generated from a small valid file (nothing is downloaded) and ends in one of:
- `error`: one of our own error types (never a bare library trace) whose message names the file and
  the column or row, and no dataset left where a later step could read it;
- `quarantine`: the pipeline goes on, and the broken rows are in the quarantine artifact, not lost;
- `accepted`: the input is unusual but valid (its rows all arrive).
The README reports the counts.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cnai.components.data.ingest.executor import ingest_table
from cnai.components.data.validate.executor import validate_dataset
from cnai.core.errors import CnaiError

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "cnai.yaml").read_text())["data"]["events"]
SUITE = json.loads((REPO / "expectations" / "flights.json").read_text())
ROWS = 200


@pytest.fixture(scope="module")
def valid_flights(tmp_path_factory) -> pd.DataFrame:
    """200 generated flights with a known delay, as the CSV's text cells."""
    from examples.flights.generate import generate, write_table

    flights, _ = generate(ROWS * 2, seed=3)
    path = write_table(flights.dropna(subset=["arr_delay"]).head(ROWS), tmp_path_factory.mktemp("valid") / "flights.csv")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


@dataclass
class Case:
    name: str
    make: Callable[[pd.DataFrame, Path], Path]  # valid cells, directory -> the broken file
    outcome: str  # "error" | "quarantine" | "accepted"
    says: str = ""  # regex the error message must match (file and column/row)
    quarantined: int = 0  # for "quarantine": at least this many rows


def write_text(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(text.encode(encoding))
        return path
    return write


def edited(change: Callable[[pd.DataFrame], pd.DataFrame | None], name: str = "flights.csv", encoding: str = "utf-8"):
    def make(cells: pd.DataFrame, directory: Path) -> Path:
        return write_text(name, csv_text(change(cells.copy())), encoding)(directory)
    return make


def cell(column: str, value: str, rows=slice(0, 5)):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[rows], column] = value
        return frame
    return change


def raw(transform: Callable[[str], bytes | str], name: str = "flights.csv"):
    def make(cells: pd.DataFrame, directory: Path) -> Path:
        content = transform(csv_text(cells))
        path = directory / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path
    return make


def parquet(change: Callable[[pd.DataFrame], pd.DataFrame], cut: bool = False):
    def make(cells: pd.DataFrame, directory: Path) -> Path:
        path = directory / "flights.parquet"
        typed = pd.read_csv(io.StringIO(csv_text(cells)), na_values=["NA"], keep_default_na=False)
        typed["time_hour"] = pd.to_datetime(typed["time_hour"], utc=True)
        change(typed).to_parquet(path, index=False)
        if cut:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path
    return make


def renamed(old: str, new: str):
    return lambda frame: frame.rename(columns={old: new})


CASES = [
    # Files that cannot be read as the declared table
    Case("empty file", raw(lambda text: b""), "error", r"flights\.csv.*(empty|not found)"),
    Case("header only", raw(lambda text: text.splitlines()[0] + "\n"), "error", r"flights\.csv: no rows to read \(a header line only\)"),
    Case("truncated mid-row", raw(lambda text: text[: int(len(text) * 0.6)].rsplit(",", 3)[0]), "error",
         r"flights\.csv.*Malformed CSV record: 20"),
    Case("unclosed quote", raw(lambda text: text.replace("\n", '\n"', 1)), "error", r"flights\.csv"),
    Case("UTF-16 encoded", raw(lambda text: text.encode("utf-16")), "error", r"flights\.csv.*not found"),
    Case("UTF-8 byte-order mark", raw(lambda text: "\ufeff" + text), "accepted"),
    Case("Windows line endings", raw(lambda text: text.replace("\n", "\r\n")), "accepted"),
    Case("semicolon delimited", raw(lambda text: text.replace(",", ";")), "error", r"flights\.csv.*not found"),
    Case("binary garbage", raw(lambda text: bytes(range(256)) * 40), "error", r"flights\.csv"),
    Case("no such file", lambda cells, directory: directory / "missing.csv", "error", r"missing\.csv.*(no such|not exist)"),
    # Columns
    Case("missing column", edited(lambda f: f.drop(columns=["distance"])), "error", r"flights\.csv.*'distance'"),
    Case("renamed column", edited(renamed("arr_delay", "arrival_delay")), "error", r"flights\.csv.*'arr_delay'"),
    Case("unicode column name", edited(renamed("distance", "distância")), "error", r"flights\.csv.*'distance'"),
    Case("duplicate column name", edited(renamed("minute", "hour")), "error", r"flights\.csv.*'(hour|minute)'"),
    Case("extra column", edited(lambda f: f.assign(note="spare")), "accepted"),
    # Values
    Case("text in a number column", edited(cell("distance", "far")), "error", r"flights\.csv.*distance.*'far'"),
    Case("unparsable timestamp", edited(cell("time_hour", "yesterday")), "error", r"flights\.csv.*time_hour.*'yesterday'"),
    Case("impossible date", edited(cell("time_hour", "2013-02-30T05:00:00Z")), "error", r"flights\.csv.*time_hour"),
    Case("integer overflow", edited(cell("month", "99999999999")), "error", r"flights\.csv.*month.*99999999999"),
    Case("all-null column", edited(cell("distance", "NA", slice(None))), "error", r"ingested: every one of the \d+ rows failed.*not_be_null\(distance\)"),
    Case("NaN values", edited(cell("distance", "NaN")), "quarantine", quarantined=5),
    Case("infinite values", edited(cell("distance", "Infinity")), "quarantine", quarantined=5),
    Case("huge values", edited(cell("distance", "1e308")), "quarantine", quarantined=5),
    Case("negative distance", edited(cell("distance", "-5")), "quarantine", quarantined=5),
    Case("month out of range", edited(cell("month", "13")), "quarantine", quarantined=5),
    Case("unknown airport", edited(cell("origin", "XXX")), "quarantine", quarantined=5),
    Case("unicode value", edited(cell("carrier", "ÜA")), "quarantine", quarantined=5),
    Case("latin-1 bytes", edited(cell("carrier", "ÜA"), encoding="latin-1"), "quarantine", quarantined=5),
    Case("label missing", edited(cell("arr_delay", "NA")), "quarantine", quarantined=5),
    Case("single class", edited(cell("arr_delay", "0", slice(None))), "error", r"ingested: .*'delayed'.*mean"),
    Case("duplicate rows", edited(lambda f: pd.concat([f, f.head(10)])), "quarantine", quarantined=10),
    Case("timestamps out of order", edited(lambda f: f.iloc[::-1]), "accepted"),
    Case("timestamps in the future", edited(cell("time_hour", "2099-01-01T05:00:00Z")), "quarantine", quarantined=5),
    # Parquet
    Case("truncated Parquet", parquet(lambda f: f, cut=True), "error", r"flights\.parquet: not a readable Parquet"),
    Case("Parquet with a text number column", parquet(lambda f: f.assign(distance="far")), "error",
         r"flights\.parquet.*distance.*'far'"),
    Case("Parquet with no rows", parquet(lambda f: f.head(0)), "error", r"flights\.parquet: no rows to read \(a schema and no rows\)"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_ends_in_a_clear_error_or_quarantine(case, valid_flights, tmp_path):
    source = case.make(valid_flights, tmp_path)
    fmt = "parquet" if source.suffix == ".parquet" else "csv"
    out = {name: tmp_path / "out" / name for name in ("ingested", "validated", "quarantine", "results", "docs")}

    def run() -> dict:
        ingest_table(str(source), str(out["ingested"]), CONFIG["columns"], CONFIG["derived_columns"], fmt)
        return validate_dataset(str(out["ingested"]), str(out["validated"]), str(out["quarantine"]),
                                str(out["results"]), str(out["docs"]), SUITE)

    if case.outcome == "error":
        with pytest.raises(CnaiError) as raised:
            run()
        assert re.search(case.says, str(raised.value), re.S), str(raised.value)
        assert not out["validated"].exists() and not out["quarantine"].exists(), "nothing a later step could read"
        return
    facts = run()
    validated, quarantine = pd.read_parquet(out["validated"]), pd.read_parquet(out["quarantine"])
    assert facts["rows_in"] == len(validated) + len(quarantine), "no row lost"
    if case.outcome == "quarantine":
        assert len(quarantine) >= case.quarantined, facts
        assert quarantine["failed_expectations"].str.len().gt(0).all()
    else:
        assert len(quarantine) == 0 and len(validated) >= ROWS, facts


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25
