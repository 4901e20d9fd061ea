"""Keeping the production version served locally, and saying where it answers."""

from __future__ import annotations

import os

from cnai.core.config import ProjectConfig
from cnai.core.errors import CnaiError, ConfigError


def print_endpoint(config: ProjectConfig, deployed: bool | None) -> None:
    """Where the model is served; `deployed` says whether this run deployed it (None: not a run)."""
    from cnai.backends.local.deployment import endpoint_url, is_ready

    url = endpoint_url(config.settings.serving_host, config.settings.serving_port)
    name = config.model_name
    if is_ready(url, name):
        print(f"Model {name} is served at {url} (POST {url}/v2/models/{name}/infer){' (unchanged this run)' if deployed is False else ''}")
        return
    from cnai.backends import registry
    from cnai.core.errors import CnaiError
    from cnai.core.run_dir import home

    try:
        production = registry.production_version(registry.default_registry_uri(home()), name)
    except CnaiError as exc:  # never read as "no production model"
        print(f"No model is being served, and the registry cannot say which should be: {exc}")
        return
    if production is not None:
        print(f"{name} v{production.version} is production but not served here (stopped with `cnai stop`?): "
              "`cnai serve` starts it.")
    else:
        print("No model is being served: the evaluation gate has not approved one yet.")


def print_serving_after_failure(config: ProjectConfig) -> None:
    """After a run that deployed and then failed (its smoke test): what is served now, plainly; the
    step's error says whether the deployed version was rolled back."""
    from cnai.backends.local.deployment import endpoint_url, is_ready, served_version

    url = endpoint_url(config.settings.serving_host, config.settings.serving_port)
    name = config.model_name
    live = served_version(name) if is_ready(url, name) else None
    if live is None:
        print(f"No model is being served at {url} now: `cnai serve` starts the production version.")
    else:
        print(f"Now serving {name} v{live['version']} at {url} (POST {url}/v2/models/{name}/infer).")


def serve_production(config: ProjectConfig, registry_uri: str, start: bool = True, by_hand: bool = False) -> None:
    """Make sure the production version, and its registered files, are what the local server serves:
    after `cnai stop` or a reboot it is started (unless `start` is False: before a run, only a
    running server is put right); after a deploy that was killed half-way (the server on a version
    never smoke-tested, `production` on another) production is swapped back in."""
    from cnai.backends import registry
    from cnai.backends.local.deployment import (
        deployed_feature_store,
        endpoint_url,
        forget_replaced,
        is_ready,
        port_problem,
        served_version,
        server_pid,
        serving_dir,
    )
    from cnai.components.serving.deploy.executor import deploy_model
    from cnai.core.tracking import LocalArtifact, run_step

    settings, name = config.settings, config.model_name
    ready = is_ready(endpoint_url(settings.serving_host, settings.serving_port), name)
    if ready and server_pid(name) is None:  # another project's server of a model of the same name
        raise ConfigError(f"settings.serving_port: {port_problem(settings.serving_host, settings.serving_port)}")
    if not ready and not start:
        return
    production = registry.production_version(registry_uri, name)
    live = served_version(name) if ready else None
    if production is None:
        if live and start:  # before a run, the gate says it (an emptied registry under a server is a conflict)
            print(f"Warning: the local server serves {name} v{live['version']}, but registry {registry_uri} has no "
                  "production version of it (was the registry replaced?); `cnai stop` stops that server.")
        return
    version = str(production.version)
    if live and live["version"] == version and live.get("model_hash") == registry.registered_hash(registry_uri, name, version):
        return
    if not ready:
        print(f"Nothing was serving {name}: starting its production version {version}.")
    elif by_hand:  # `cnai serve --version`: the user moved production, nothing went wrong
        print(f"Serving {name} v{version} in place of v{live['version'] if live else '?'}.")
    else:
        serving = f"v{live['version']}" if live else "a version it does not record"
        print(f"The local server was serving {name} {serving}, not production v{version} with its registered files "
              f"(a deploy was interrupted, or the files changed): serving v{version} again.")
    pipeline_name = os.environ.get("CNAI_PIPELINE_NAME")
    os.environ["CNAI_PIPELINE_NAME"] = "cnai-serve"
    try:
        run_step("deploy", deploy_model, outputs={"endpoint": LocalArtifact(str(serving_dir() / "endpoint.md"))},
                 params={"registry_uri": registry_uri, "model_name": name, "version": version,
                         "host": settings.serving_host, "port": settings.serving_port,
                         "feature_store": deployed_feature_store(name)})
    finally:  # the events this process emits next are its own pipeline's
        if pipeline_name is None:
            os.environ.pop("CNAI_PIPELINE_NAME", None)
        else:
            os.environ["CNAI_PIPELINE_NAME"] = pipeline_name
    forget_replaced(name)  # what the interrupted deploy replaced is production itself: nothing to roll back to


def serve_production_of(config: dict, registry_uri: str) -> None:
    """serve_production for a project's configuration as JSON (the one its run used, not the file
    as it may be now): a call the run's warm interpreter can take, which has MLflow, the registry's
    client, imported already."""
    serve_production(ProjectConfig.model_validate(config), registry_uri)


def make_production(registry_uri: str, model_name: str, version: str) -> str:
    """A registered version made production by hand, over the gate's decision: to retire a
    production model found to leak (the gate would keep every honest candidate out), or to roll
    back. Returns what the gate had said of it; an unknown version is refused by name."""
    from cnai.backends import registry

    if not str(version).isdigit():  # asked of MLflow, a typo would read as a damaged registry
        raise ConfigError(f"--version {version}: a registered version is a number (1, 2, ...); MLflow's UI (`cnai ui`) "
                          "lists them")
    try:
        tags = registry.version_tags(registry_uri, model_name, version)
    except CnaiError:
        raise
    except Exception as exc:  # MLflow's own "not found"
        try:
            known = registry.version_numbers(registry_uri, model_name)
        except CnaiError:
            known = []
        listed = (f"its registered versions are {', '.join(map(str, known))}" if known
                  else "MLflow's UI (`cnai ui`) lists its versions")
        raise ConfigError(f"--version {version}: {model_name} has no such registered version in {registry_uri} "
                          f"({(str(exc).splitlines() or [type(exc).__name__])[0][:200]}); {listed}") from exc
    registry.promote(registry_uri, model_name, version)
    gate = tags.get("evaluation.reason", "")
    return (f"{model_name} v{version} is production now, set by hand over the gate"
            + (f" (which had said: {gate[:300]})" if gate else ""))
