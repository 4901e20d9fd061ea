"""Recurring runs on Kubeflow Pipelines: upload the compiled pipelines, then schedule them.

Each call uploads a new pipeline version (an existing pipeline keeps its history) and creates one
recurring run per configured cron in the configured experiment: at most `max_concurrency` runs at
once, and no catch-up of missed runs unless asked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cnai import __version__
from cnai.core.config import ScheduleConfig


def _experiment_id(client, name: str, namespace: str | None) -> str:
    try:
        return client.get_experiment(experiment_name=name, namespace=namespace).experiment_id
    except ValueError:  # kfp raises ValueError when no experiment has that name
        return client.create_experiment(name, description="Recurring runs of cnai-pipelines", namespace=namespace).experiment_id


def _upload(client, name: str, package: Path) -> tuple[str, str]:
    """(pipeline id, version id) of a new version of `name` holding `package`."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:10]
    version_name = f"{name}-{__version__}-{digest}"
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(str(package), pipeline_name=name, description=f"cnai-pipelines {__version__}").pipeline_id
        versions = client.list_pipeline_versions(pipeline_id).pipeline_versions or []
        return pipeline_id, versions[0].pipeline_version_id
    version = client.upload_pipeline_version(str(package), pipeline_version_name=version_name, pipeline_id=pipeline_id)
    return pipeline_id, version.pipeline_version_id


def _check_answers(host: str, packages: dict[str, Path]) -> None:
    """Said in a line when no Kubeflow Pipelines API answers at `host`: kfp.Client retried three
    times and ended in an 80-line traceback of urllib3's MaxRetryError."""
    import requests

    from cnai.core.errors import ClusterError

    try:
        requests.get(f"{host.rstrip('/')}/apis/v2beta1/healthz", timeout=5)
    except requests.RequestException as exc:
        compiled = ", ".join(str(path) for path in packages.values())
        raise ClusterError(f"no Kubeflow Pipelines API answers at {host} ({type(exc).__name__}): port-forward the KFP UI "
                           "(kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80) and pass --host, or set "
                           f"schedule.kfp_host; the pipelines are compiled ({compiled}) for uploading by hand. On this "
                           "machine alone, cron runs `cnai monitor` (README: schedules)") from exc


def schedule_pipelines(settings: ScheduleConfig, packages: dict[str, Path], host: str | None = None,
                       parameters: dict[str, dict[str, Any]] | None = None,
                       service_account: str | None = None) -> list[dict[str, Any]]:
    """Create the recurring runs `settings` asks for; `packages` maps pipeline name to compiled YAML."""
    import kfp

    _check_answers(host or settings.kfp_host, packages)
    client = kfp.Client(host=host or settings.kfp_host, namespace=settings.namespace)
    experiment_id = _experiment_id(client, settings.experiment, settings.namespace)
    crons = {"cnai-monitoring": settings.monitoring_cron, "cnai-training": settings.training_cron}
    created = []
    for name, cron in crons.items():
        if not cron:
            continue
        pipeline_id, version_id = _upload(client, name, packages[name])
        run = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=f"{name} [{cron}]",
            description=f"Scheduled by `cnai schedule` (cnai-pipelines {__version__})",
            cron_expression=cron,
            max_concurrency=settings.max_concurrency,
            no_catchup=not settings.catchup,
            pipeline_id=pipeline_id,
            version_id=version_id,
            params={**settings.parameters, **(parameters or {}).get(name, {})},
            enabled=True,
            service_account=service_account,  # the steps' identity on the cluster (manifests/base/rbac.yaml)
        )
        created.append({"pipeline": name, "cron": cron, "recurring_run_id": run.recurring_run_id,
                        "pipeline_id": pipeline_id, "version_id": version_id})
    return created
