"""The monitoring pipeline on this machine: drift check on served traffic or a batch; on drift, retrain behind the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.core.config import ProjectConfig
from cnai.core.errors import ConfigError
from cnai.orchestration.local_run import run_locally
from cnai.orchestration.project import (
    check_before_running,
    export_settings,
    pipeline_arguments,
    with_feature_view,
)


def monitor(config: ProjectConfig, config_path: Path, current: str, since: str = "", events_source: str = "",
            feature_source: str = "", use_cache: bool = True) -> tuple[bool, list[dict[str, Any]]]:
    """Run the monitoring pipeline: drift check on `current`; on drift, retrain (optionally on new sources)."""
    from cnai.core.artifacts import content_hash
    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME, monitoring_pipeline_for

    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path)
    if feature_source and not with_feature_view(config):
        raise ConfigError("--feature-source: this project has no data.feature_source to replace")
    for key, source in (("events", events_source), ("feature_source", feature_source)):
        if source:
            name = "events_source" if key == "events" else "feature_source"
            arguments[name] = str(Path(source).resolve())
            arguments[f"{key}_hash"] = content_hash(arguments[name])
    arguments.update(current_data=str(Path(current).resolve()), monitoring_since=since, **config.monitoring.model_dump())
    check_before_running(config, config_path, arguments["registry_uri"])
    return run_locally(monitoring_pipeline_for(with_feature_view(config)), PIPELINE_NAME, arguments, home, use_cache)
