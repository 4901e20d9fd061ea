"""The component alone, as someone else's pipeline would use it, under kfp.local."""

import pandas as pd
from kfp import local

from cnai.components.data.ingest.component import ingest


def test_ingest_runs_alone_under_kfp_local(small_tables, tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)

    task = ingest(source=str(small_tables["events"]),
                  column_types={"origin": "string", "distance": "double", "time_hour": "timestamp"},
                  derived_columns={"long_haul": "distance > 1000"})
    dataset = task.outputs["dataset"]
    frame = pd.read_parquet(dataset.path)
    assert list(frame.columns) == ["origin", "distance", "time_hour", "long_haul"]
    assert (frame["long_haul"] == (frame["distance"] > 1000)).all()
    assert dataset.metadata["rows"] == len(frame)
    assert dataset.metadata["carbon"]["energy_kwh"] > 0
    assert dataset.metadata["content_hash"].startswith("sha256:")
