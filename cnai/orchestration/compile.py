"""Compiling the pipelines (with `cnai.yaml`'s values as defaults) and every component to KFP YAML."""

from __future__ import annotations

from pathlib import Path

from cnai.core.config import ProjectConfig
from cnai.orchestration.project import pipeline_arguments


def compile_pipelines(config: ProjectConfig, config_path: Path, out: Path, target: str | None) -> dict[str, Path]:
    """Compile both pipelines with cnai.yaml's values as defaults; returns name -> YAML file."""
    from kfp import compiler

    from cnai.orchestration.project import with_feature_view
    from cnai.pipelines.monitoring.pipeline import PIPELINE_NAME as MONITORING_NAME
    from cnai.pipelines.monitoring.pipeline import monitoring_pipeline_for
    from cnai.pipelines.training.pipeline import PIPELINE_NAME, training_pipeline_for

    shape = with_feature_view(config)

    (out / "pipelines").mkdir(parents=True, exist_ok=True)
    arguments = pipeline_arguments(config, config_path, for_cluster=True)
    arguments["target"] = target or arguments["target"]
    # Local paths mean nothing on a cluster: leave those parameters for the run to set.
    for local_only in ("registry_uri", "events_hash"):
        arguments.pop(local_only, None)
    if "feature_sources" in arguments:
        arguments["feature_sources"] = [{**table, "hash": ""} for table in arguments["feature_sources"]]
    monitoring_arguments = {**arguments, **config.monitoring.model_dump()}  # cnai.yaml's, not only the defaults
    if arguments["target"] == "kubeflow":
        from cnai.backends.kubeflow.model_registry import SCHEME_PREFIX
        from cnai.core.kfp_settings import INFERENCE_LOG_MOUNT

        arguments["registry_uri"] = monitoring_arguments["registry_uri"] = SCHEME_PREFIX + config.cluster.model_registry
        monitoring_arguments["current_data"] = INFERENCE_LOG_MOUNT  # the log sink's volume, mounted into the drift check
    written = {}
    for name, pipeline, values in ((PIPELINE_NAME, training_pipeline_for(shape), arguments),
                                   (MONITORING_NAME, monitoring_pipeline_for(shape), monitoring_arguments)):
        written[name] = out / "pipelines" / f"{name}.yaml"
        compiler.Compiler().compile(pipeline, str(written[name]), pipeline_parameters=values)
        print(f"wrote {written[name]}")
    return written


def compile_all(config: ProjectConfig, config_path: Path, out: Path, target: str | None) -> None:
    """Both pipelines, then every component, refreshing what is generated from them (READMEs' inputs
    and outputs, the v1 specs and the example pipeline Elyra reads)."""
    from kfp import compiler

    from cnai.core.kfp_settings import COMPONENT_IMAGE
    from cnai.orchestration.catalog import (
        ELYRA_EXAMPLE,
        all_components,
        component_dir,
        refresh_readme,
        write_elyra_example,
        write_v1_spec,
    )
    from cnai.pipelines.training.pipeline import PIPELINE_NAME

    written = compile_pipelines(config, config_path, out, target)
    if write_elyra_example(written[PIPELINE_NAME]):
        print(f"updated {ELYRA_EXAMPLE} (Elyra example pipeline)")
    (out / "components").mkdir(parents=True, exist_ok=True)
    for name, component in all_components().items():
        destination = out / "components" / f"{name}.yaml"
        compiler.Compiler().compile(component, str(destination))
        print(f"wrote {destination}")
        if refresh_readme(name):
            print(f"updated the inputs and outputs in {component_dir(name) / 'README.md'}")
        if write_v1_spec(name, COMPONENT_IMAGE):
            print(f"updated {component_dir(name) / 'component.yaml'} (Elyra catalog)")
