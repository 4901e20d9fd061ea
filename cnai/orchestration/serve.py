"""Keeping the production version served locally, and saying where it answers."""

from __future__ import annotations

import os

from cnai.core.config import ProjectConfig


def print_endpoint(config: ProjectConfig, deployed: bool) -> None:
    from cnai.backends.local.deployment import endpoint_url, is_ready

    url = endpoint_url(config.settings.serving_host, config.settings.serving_port)
    name = config.model_name
    if is_ready(url, name):
        print(f"Model {name} is served at {url} (POST {url}/v2/models/{name}/infer){'' if deployed else ' (unchanged this run)'}")
    else:
        print("No model is being served: the evaluation gate has not approved one yet.")


def serve_production(config: ProjectConfig, registry_uri: str) -> None:
    """Make sure the production version is being served (after `cnai stop`, or a reboot)."""
    from cnai.backends import registry
    from cnai.backends.local.deployment import endpoint_url, is_ready, serving_dir
    from cnai.components.serving.deploy.executor import deploy_model
    from cnai.core.tracking import LocalArtifact, run_step

    settings = config.settings
    if is_ready(endpoint_url(settings.serving_host, settings.serving_port), config.model_name):
        return
    production = registry.production_version(registry_uri, config.model_name)
    if production is None:
        return
    print(f"Nothing was serving {config.model_name}: starting its production version {production.version}.")
    os.environ["CNAI_PIPELINE_NAME"] = "cnai-serve"
    run_step("deploy", deploy_model, outputs={"endpoint": LocalArtifact(str(serving_dir() / "endpoint.md"))},
             params={"registry_uri": registry_uri, "model_name": config.model_name, "version": str(production.version),
                     "host": settings.serving_host, "port": settings.serving_port})
