"""ingest_tables: type several tables with one Spark session (a project's feature sources), one
Parquet dataset per table in one output folder, so the next step takes them as one input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.backends.tables import ingest_table
from cnai.core.artifacts import atomic_output
from cnai.core.config import CSV_DECIMAL, CSV_DELIMITER, CSV_ENCODING
from cnai.core.errors import DataError

INPUT_PREFIX = "source_"  # the lineage names each table's source `source_<name>`


def source_inputs(tables: list[dict[str, Any]]) -> dict[str, str]:
    """Each table's source as a step input (hashed and recorded in lineage), by name."""
    from cnai.core.run_dir import home
    from cnai.core.sources import resolve_source

    names = [table.get("name") for table in tables]
    if not tables or any(not isinstance(n, str) or not n.isidentifier() for n in names) or len(set(names)) < len(names):
        raise DataError(f"tables: expected one entry per table, each with its own `name` (a Python identifier); got {names}")
    return {f"{INPUT_PREFIX}{table['name']}": resolve_source(table["source"], home() / "data") for table in tables}


def ingest_tables(datasets: str, tables: list[dict[str, Any]], spark_master: str = "local[*]",
                  cluster: dict[str, Any] | None = None, artifact_uris: dict[str, str] | None = None,
                  **sources: str) -> dict[str, Any]:
    """Type each table as `cnai.backends.tables.ingest_table` does; the folder appears whole or not at all."""
    shared = (artifact_uris or {}).get("datasets", "")
    written: dict[str, Any] = {}
    typed_by: dict[str, str] = {}  # which engine typed each table, and why Spark where it did
    with atomic_output(datasets) as staging:
        staging.mkdir()
        for table in tables:
            name = table["name"]
            missing = [k for k in ("source", "columns") if k not in table]
            if missing:
                raise DataError(f"tables: {name!r} has no {missing}")
            uris = {"dataset": f"{shared.rstrip('/')}/{name}"} if shared else None
            facts = ingest_table(sources[f"{INPUT_PREFIX}{name}"], str(Path(staging) / name), table["columns"],
                                 table.get("derived_columns") or {}, table.get("format", "csv"), spark_master,
                                 0, cluster, uris, table.get("null_values") or [], table.get("delimiter") or CSV_DELIMITER,
                                 table.get("encoding") or CSV_ENCODING, table.get("decimal") or CSV_DECIMAL)
            written[name] = facts["output_metadata"]["dataset"]
            typed_by[name] = facts["engine"] + (f" ({facts['why_spark']})" if facts.get("why_spark") else "")
    return {"tables": {name: meta["rows"] for name, meta in written.items()}, "engines": typed_by,
            "output_metadata": {"datasets": {"tables": written}}}
