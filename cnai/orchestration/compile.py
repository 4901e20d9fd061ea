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
    if ":" in config.model.kind:
        from cnai.orchestration.project import use_project_code

        use_project_code(config_path)
        write_project_image(config, config_path, out)
    if arguments["target"] == "kubeflow":
        local = [s for s in [arguments["events_source"], *[t["source"] for t in arguments.get("feature_sources", [])]]
                 if "://" not in s and not s.startswith("package:")]
        if local:
            print(f"note: {local} are paths on this machine, which a cluster's pods cannot read: point data.events.source "
                  "and each feature source at the object store (s3://...) before compiling for the cluster, or set "
                  "events_source / feature_sources when starting the run")
    written = {}
    for name, pipeline, values in ((PIPELINE_NAME, training_pipeline_for(shape), arguments),
                                   (MONITORING_NAME, monitoring_pipeline_for(shape), monitoring_arguments)):
        written[name] = out / "pipelines" / f"{name}.yaml"
        compiler.Compiler().compile(pipeline, str(written[name]), pipeline_parameters=values)
        print(f"wrote {written[name]}")
    return written


PROJECT_CODE = "/opt/cnai/code"  # where the project image holds the user's model code (on PYTHONPATH)


def write_project_image(config: ProjectConfig, config_path: Path, out: Path) -> Path:
    """`model.kind: module:function` runs the project's own code in every step, trial and TrainJob:
    on a cluster it is shipped in an image built FROM the components' one (the model server needs
    nothing more: a saved model carries its code). Writes its Dockerfile, with the project folder as
    the build context, and says how to use it."""
    import os

    from cnai.core.kfp_settings import COMPONENT_IMAGE, DEFAULT_COMPONENT_IMAGE
    from cnai.models.user_code import module_files

    shipped = module_files(config.model.kind)
    project = config_path.parent
    try:
        relative = shipped.relative_to(project)
    except ValueError:
        from cnai.core.errors import ConfigError

        raise ConfigError(f"model.kind: {config.model.kind}: {shipped} is outside the project folder {project}; keep "
                          "the module in the project so its image can ship it") from None
    dockerfile = out / "image" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    dockerfile.write_text(
        f"# The project's image: cnai's components plus the model code `model.kind: {config.model.kind}` imports.\n"
        f"# Build from the project folder:  docker build -f {os.path.relpath(dockerfile, project)} -t <registry>/<name>:<tag> .\n"
        f"# then compile with it:           CNAI_COMPONENT_IMAGE=<registry>/<name>:<tag> cnai compile --target kubeflow\n"
        f"FROM {DEFAULT_COMPONENT_IMAGE}\n"
        f"COPY {relative.as_posix()} {PROJECT_CODE}/{shipped.name}\n"
        f"ENV PYTHONPATH={PROJECT_CODE}\n")
    print(f"wrote {dockerfile}: the image that ships {relative} (model.kind {config.model.kind})")
    if COMPONENT_IMAGE == DEFAULT_COMPONENT_IMAGE:
        print(f"note: the pipelines below name the stock image {COMPONENT_IMAGE}, which lacks {relative}: on a cluster, "
              f"build {dockerfile} and compile again with CNAI_COMPONENT_IMAGE set to it")
    return dockerfile


def compile_all(config: ProjectConfig, config_path: Path, out: Path, target: str | None) -> None:
    """Both pipelines, then every component, refreshing what is generated from them (READMEs' inputs
    and outputs, the v1 specs and the example pipeline Elyra reads)."""
    from kfp import compiler

    import cnai
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
    # The package's generated files (component READMEs and specs, the Elyra example) follow this
    # repository's own cnai.yaml; a team's project writes only into its build folder.
    refresh_package = Path(cnai.__file__).resolve().parent.parent == config_path.parent.resolve()
    if refresh_package and write_elyra_example(written[PIPELINE_NAME]):
        print(f"updated {ELYRA_EXAMPLE} (Elyra example pipeline)")
    (out / "components").mkdir(parents=True, exist_ok=True)
    for name, component in all_components().items():
        destination = out / "components" / f"{name}.yaml"
        compiler.Compiler().compile(component, str(destination))
        print(f"wrote {destination}")
        if not refresh_package:
            continue
        if refresh_readme(name):
            print(f"updated the inputs and outputs in {component_dir(name) / 'README.md'}")
        if write_v1_spec(name, COMPONENT_IMAGE):
            print(f"updated {component_dir(name) / 'component.yaml'} (Elyra catalog)")
