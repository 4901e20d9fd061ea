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
