import pandas as pd
import pytest

from cnai.components.data.ingest_tables.executor import ingest_tables, source_inputs
from cnai.core.errors import DataError


def test_each_table_is_typed_into_its_own_folder(tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,size\n7,120.5\n9,800\n")
    (tmp_path / "prices.csv").write_text("sku,at,price\na,2020-05-01 00:00:00,1.5\n")
    tables = [{"name": "stores", "source": str(tmp_path / "stores.csv"), "columns": {"store_id": "int", "size": "double"},
               "derived_columns": {"large": "size > 500"}},
              {"name": "prices", "source": str(tmp_path / "prices.csv"), "columns": {"sku": "string", "at": "timestamp", "price": "double"}}]
    facts = ingest_tables(str(tmp_path / "out"), tables, **source_inputs(tables))
    stores = pd.read_parquet(tmp_path / "out" / "stores")
    assert stores.to_dict("list") == {"store_id": [7, 9], "size": [120.5, 800.0], "large": [False, True]}
    assert str(pd.read_parquet(tmp_path / "out" / "prices")["at"].dtype) == "datetime64[us, UTC]"
    assert facts["tables"] == {"stores": 2, "prices": 1}
    assert facts["engines"] == {"stores": "duckdb", "prices": "duckdb"}, "small plain tables are typed without Spark"


def test_one_bad_table_leaves_no_output_and_names_its_file(tmp_path):
    (tmp_path / "good.csv").write_text("k\n1\n")
    (tmp_path / "bad.csv").write_text("k\nseven\n")
    tables = [{"name": "good", "source": str(tmp_path / "good.csv"), "columns": {"k": "int"}},
              {"name": "bad", "source": str(tmp_path / "bad.csv"), "columns": {"k": "int"}}]
    with pytest.raises(DataError, match=r"bad\.csv"):
        ingest_tables(str(tmp_path / "out"), tables, **source_inputs(tables))
    assert not (tmp_path / "out").exists(), "the folder appears whole or not at all"


@pytest.mark.parametrize("names", [["a", "a"], ["not a name"], []])
def test_tables_need_distinct_names(names, tmp_path):
    with pytest.raises(DataError, match=r"tables: expected one entry per table, each with its own `name`"):
        source_inputs([{"name": n, "source": "x.csv", "columns": {}} for n in names])
