"""The training pipeline on this machine: checked, run under kfp.local, its model served."""

from __future__ import annotations

from pathlib import Path

from cnai.core.config import ProjectConfig
from cnai.orchestration.local_run import run_locally
from cnai.orchestration.project import (
    check_before_running,
    export_settings,
    pipeline_arguments,
    with_feature_view,
)
from cnai.orchestration.serve import print_endpoint, serve_production


def run_training(config: ProjectConfig, config_path: Path, sample_rows: int | None = None, use_cache: bool = True) -> bool:
    """Run the training pipeline; afterwards make sure production is served. True if it succeeded."""
    from cnai.pipelines.training.pipeline import PIPELINE_NAME, training_pipeline_for

    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path, sample_rows)
    check_before_running(config, config_path, arguments["registry_uri"])
    ok, rows = run_locally(training_pipeline_for(with_feature_view(config)), PIPELINE_NAME, arguments, home, use_cache)
    if ok:
        serve_production(config, arguments["registry_uri"])
        print_endpoint(config, any(r["step"] == "deploy" and r["status"] == "ran" for r in rows))
    return ok
