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
            feature_sources: list[str] | None = None, use_cache: bool = True) -> tuple[bool, list[dict[str, Any]]]:
    """Run the monitoring pipeline: drift check on `current`; on drift, retrain (optionally on new
    sources: `events_source`, and `[VIEW=]PATH` per feature view to replace)."""
    from cnai.core.artifacts import content_hash
    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME, monitoring_pipeline_for

    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path)
    if events_source:
        arguments["events_source"] = str(Path(events_source).resolve())
        arguments["events_hash"] = content_hash(arguments["events_source"])
    if feature_sources:
        arguments["feature_sources"] = _replaced_sources(config, arguments.get("feature_sources", []), feature_sources)
    arguments.update(current_data=str(Path(current).resolve()), monitoring_since=since, **config.monitoring.model_dump())
    check_before_running(config, config_path, arguments["registry_uri"])
    return run_locally(monitoring_pipeline_for(with_feature_view(config)), PIPELINE_NAME, arguments, home, use_cache)


def _replaced_sources(config: ProjectConfig, tables: list[dict[str, Any]], replacements: list[str]) -> list[dict[str, Any]]:
    """The feature sources with the views named in `replacements` (`[VIEW=]PATH`) read from new files."""
    from cnai.core.artifacts import content_hash

    names = [t["name"] for t in tables]
    if not names:
        raise ConfigError("--retrain-features: this project has no data.feature_sources to replace")
    replaced = {}
    for item in replacements:
        view, sep, path = item.partition("=")
        if not sep or not view.isidentifier():  # a path may hold "=" itself
            view, path = "", item
        if not view and len(names) > 1:
            raise ConfigError(f"--retrain-features {item}: this project has views {names}; name one, as VIEW=PATH")
        view = view or names[0]
        if view not in names:
            raise ConfigError(f"--retrain-features {item}: no view {view!r}; the project's views are {names}")
        if not Path(path).exists():
            raise ConfigError(f"--retrain-features {item}: {path} does not exist")
        replaced[view] = str(Path(path).resolve())
    return [{**t, "source": replaced[t["name"]], "hash": content_hash(replaced[t["name"]])} if t["name"] in replaced else t
            for t in tables]
