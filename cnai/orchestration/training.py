"""The training pipeline on this machine: checked, run under kfp.local, its model served."""

from __future__ import annotations

from pathlib import Path

from cnai.backends.local import warm_steps
from cnai.core.config import ProjectConfig
from cnai.orchestration.local_run import one_spark, run_locally
from cnai.orchestration.project import (
    check_before_running,
    export_settings,
    pipeline_arguments,
    with_feature_view,
)
from cnai.orchestration.serve import print_endpoint, print_serving_after_failure, serve_production_of


def run_training(config: ProjectConfig, config_path: Path, sample_rows: int | None = None, use_cache: bool = True) -> bool:
    """Run the training pipeline; afterwards make sure production is served. True if it succeeded."""
    import time

    began = time.perf_counter()
    # First the warm interpreter (`cnai run` has started it already, before its own imports) and the
    # run's Spark, which the checks and the first step wait for: their start overlaps kfp's import
    # and the pipeline's compile.
    warm_steps.start()
    home = export_settings(config, config_path)
    arguments = pipeline_arguments(config, config_path, sample_rows)
    with one_spark(arguments, home):
        from cnai.pipelines.training.pipeline import PIPELINE_NAME, training_pipeline_for

        check_before_running(config, config_path, arguments["registry_uri"])
        ok, rows = run_locally(training_pipeline_for(with_feature_view(config)), PIPELINE_NAME, arguments, home, use_cache,
                               began)
    if ok:
        keep_inferred_suite(config, config_path, rows, home)
        warm_steps.call_in_fork(serve_production_of, config=config.model_dump(mode="json"), registry_uri=arguments["registry_uri"])
        print_endpoint(config, any(r["step"] == "deploy" and r["status"] == "ran" for r in rows))
    elif any(r["step"] == "deploy" and r["status"] == "ran" for r in rows):  # failed after it: the smoke test
        print_serving_after_failure(config)
    return ok


def keep_inferred_suite(config: ProjectConfig, config_path: Path, rows: list[dict], home: Path) -> Path | None:
    """With no `data.expectation_suite`, the suite validate inferred becomes a file in the project
    (never overwriting one): the data contract to review, commit and name in cnai.yaml."""
    import shutil

    inferred = next((Path(r["outputs"]["inferred_suite"]) for r in rows
                     if r["step"] == "validate" and "inferred_suite" in r.get("outputs", {})), None)
    if inferred is None:  # validate came from KFP's cache: its output is the earlier run's
        earlier = sorted(home.glob("pipeline_root/*/validate/inferred_suite"),
                         key=lambda p: p.stat().st_mtime)
        inferred = earlier[-1] if earlier else None
    if config.data.expectation_suite or inferred is None or not inferred.exists():
        return None
    target = config_path.parent / "expectations" / f"{config.model_name}.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inferred, target)
        print(f"Wrote the expectation suite validate inferred to {target}: review it, commit it, and set "
              f"data.expectation_suite: {target.relative_to(config_path.parent)} in {config_path.name} to keep it as the contract.")
    return target
