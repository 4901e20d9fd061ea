"""The component as Elyra runs it: its v1 spec's command line, through cnai.orchestration.component_runner."""

import json
import subprocess
import sys

import pandas as pd
import yaml

from cnai.orchestration.catalog import component_dir


def test_v1_command_line_runs_the_same_component(small_tables, tmp_path):
    spec = yaml.safe_load((component_dir("ingest") / "component.yaml").read_text())
    command = spec["implementation"]["container"]["command"]
    assert command[:3] == ["python", "-m", "cnai.orchestration.component_runner"]
    argv = [sys.executable, *command[1:], "--source", str(small_tables["events"]),
            "--column_types", json.dumps({"origin": "string", "distance": "double"}),
            "--derived_columns", json.dumps({"far": "distance > 2000"}), "--dataset", str(tmp_path / "out" / "dataset")]
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300)
    frame = pd.read_parquet(tmp_path / "out" / "dataset")
    assert list(frame.columns) == ["origin", "distance", "far"] and (frame.far == (frame.distance > 2000)).all()
    metadata = json.loads((tmp_path / "out" / "dataset.metadata.json").read_text())
    assert metadata["content_hash"].startswith("sha256:") and metadata["carbon"]["energy_kwh"] > 0
