"""Trace a served model back to its data through the OpenLineage events every step emitted."""

from __future__ import annotations

from typing import Any

from cnai.core.errors import CnaiError
from cnai.core.tracking import event_facts, event_parameters, event_step, lineage_file, read_events


def _completed() -> list[dict[str, Any]]:
    return [e for e in read_events() if e["eventType"] == "COMPLETE"]




def producer_of(dataset: dict, before: str, events: list[dict]) -> dict | None:
    """The latest completed step, no later than `before`, that wrote this dataset."""
    key = (dataset["namespace"], dataset["name"])
    candidates = [e for e in events if e["eventTime"] <= before
                  and any((o["namespace"], o["name"]) == key for o in e.get("outputs", []))]
    return max(candidates, key=lambda e: e["eventTime"], default=None)


def lineage_chain(model_name: str, version: str | None = None) -> list[tuple[int, dict, str]]:
    """(depth, event, how it links to its parent) from deploy back to ingest."""
    events = _completed()
    deploys = [e for e in events if event_step(e) == "deploy"
               and event_parameters(e).get("model_name") == model_name]
    if version is None:
        if not deploys:
            raise CnaiError(f"no deployment of {model_name!r} in {lineage_file()}; run the pipeline first")
        version = event_facts(max(deploys, key=lambda e: e["eventTime"]))["version"]
    version = str(version)
    registrations = [e for e in events if event_step(e) == "register" and str(event_facts(e).get("version")) == version
                     and event_parameters(e).get("model_name", model_name) == model_name]
    if not registrations:
        raise CnaiError(f"no registration of {model_name} version {version} in {lineage_file()}")
    chain: list[tuple[int, dict, str]] = []
    deploy = [e for e in deploys if str(event_facts(e).get("version")) == version]
    depth = 0
    served = max(deploy, key=lambda e: e["eventTime"]) if deploy else None
    if served is not None:
        latest = max(deploys, key=lambda e: e["eventTime"])  # a later deploy (or a rollback) replaced it
        chain.append((0, served, f"serves version {version}" if latest is served else
                      f"deployed version {version} (since replaced by version {event_facts(latest).get('version')})"))
        depth = 1
    # The registration the deploy followed; a later run that trained the same model again (a
    # monitoring retrain) registers it again and finds the version, but did not make it.
    before = [e for e in registrations if served is None or e["eventTime"] <= served["eventTime"]] or registrations
    register = min(before, key=lambda e: e["eventTime"]) if served is None else max(before, key=lambda e: e["eventTime"])
    chain.append((depth, register, f"registered version {version}"))

    shown: set[str] = {register["run"]["runId"]}

    def walk(event: dict, level: int) -> None:
        for dataset in event.get("inputs", []):
            argument = dataset.get("facets", {}).get("cnai_content", {}).get("argument", "?")
            parent = producer_of(dataset, event["eventTime"], events)
            if parent is None:
                chain.append((level, {"source": dataset}, f"{argument}: source data"))
            elif parent["run"]["runId"] in shown:  # a DAG, not a tree: each step is described once
                chain.append((level, {"seen": parent}, f"{argument} <- written by"))
            else:
                shown.add(parent["run"]["runId"])
                chain.append((level, parent, f"{argument} <- written by"))
                walk(parent, level + 1)

    walk(register, depth + 1)
    return chain


def _stopped_here(model_name: str, deploy: dict) -> bool:
    """A deploy to this machine whose model server no longer runs (`cnai stop`): the lineage alone
    still reads as serving it."""
    from cnai.backends.local.deployment import server_pid

    return event_parameters(deploy).get("target", "local") == "local" and server_pid(model_name) is None


def trace_served_model(model_name: str, version: str | None = None) -> str:
    lines = [f"Lineage of {model_name} (from {lineage_file()})", ""]
    for depth, event, link in lineage_chain(model_name, version):
        if depth == 0 and link.startswith("serves ") and _stopped_here(model_name, event):
            link = f"deployed {link.removeprefix('serves ')} (no model server runs it now: `cnai serve` starts one)"
        pad = "  " * depth
        if "seen" in event:
            lines.append(f"{pad}{link} {event_step(event['seen'])} (run {event['seen']['run']['runId'][:8]}, shown above)")
            continue
        if "source" in event:
            ds = event["source"]
            content = ds.get("facets", {}).get("cnai_content", {}).get("content_hash") or "unhashed"
            lines.append(f"{pad}{link}: {ds['namespace']}://{ds['name']} [{content[:19]}]")
            continue
        facets = event["run"]["facets"]
        step, carbon = facets.get("cnai_step", {}), facets.get("cnai_carbon", {})
        outputs = ", ".join(
            f"{o['facets']['cnai_content']['argument']}=[{(o['facets']['cnai_content'].get('content_hash') or '')[:19]}]"
            for o in event.get("outputs", [])
        )
        lines.append(
            f"{pad}{link} {event_step(event)} (run {event['run']['runId'][:8]}) at {event['eventTime'][:19]}Z ({step.get('duration_s', 0):.1f} s, "
            f"{carbon.get('energy_kwh', 0):.2e} kWh, {carbon.get('emissions_kg_co2eq', 0):.2e} kg CO2eq, "
            f"code {step.get('code_version', '?')})"
        )
        if outputs:
            lines.append(f"{pad}    outputs: {outputs}")
    return "\n".join(lines)
