"""Lineage and carbon for every step: the one mechanism each component's body calls.

`run_step` wraps a step's plain-Python work. Around it, it
- measures energy and CO2 with codecarbon's offline tracker (no network);
- hashes every input and output, and records parameters, code version and timings;
- writes all of that into each output artifact's `metadata` (KFP stores it in ML Metadata on a
  cluster and shows it in the UI);
- emits OpenLineage START and COMPLETE (or FAIL, with the error) run events, to a JSON-lines file
  under the run directory by default or to Marquez when `CNAI_LINEAGE_URL` is set (POST
  /api/v1/lineage).

Components pass KFP artifacts; plain code and tests pass `LocalArtifact`s.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cnai import __version__
from cnai.core.artifacts import content_hash
from cnai.core.errors import DataError
from cnai.core.run_dir import home

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/cnai-pipelines/cnai-pipelines"
FACET_SCHEMA = PRODUCER + "/blob/main/docs/facets.json#/$defs/"
METRICS_SCHEMAS = {"system.Metrics", "system.ClassificationMetrics", "system.SlicedClassificationMetrics"}


@dataclass
class LocalArtifact:
    """The parts of a KFP artifact `run_step` uses, for running steps outside KFP."""

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return Path(self.path).resolve().as_uri()


def lineage_file() -> Path:
    return home() / "lineage" / "events.jsonl"


def code_version() -> str:
    """Package version plus the source commit the CLI saw (empty inside an image built from a tag)."""
    commit = os.environ.get("CNAI_GIT_COMMIT", "")
    return f"{__version__}+{commit[:12]}" if commit else __version__


# ---------------------------------------------------------------------------------------------
# Carbon


class CarbonMeter:
    """codecarbon's OfflineEmissionsTracker, without its slow CPU detection.

    codecarbon asks py-cpuinfo for the CPU model, which costs ~1.1 s in every step process (on a
    cluster every step is a fresh pod); `cpu_model` reads the same name from /proc/cpuinfo.
    """

    def __init__(self, country_iso_code: str) -> None:
        self.country_iso_code = country_iso_code
        self._tracker = None

    def start(self) -> None:
        import codecarbon.core.cpu as cc_cpu
        from codecarbon import OfflineEmissionsTracker

        cc_cpu.detect_cpu_model = cpu_model
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=self.country_iso_code,
            save_to_file=False,
            log_level="error",
            measure_power_secs=15,
            allow_multiple_runs=True,  # parallel tasks of one pipeline each measure themselves
        )
        self._tracker.start()

    def stop(self) -> dict[str, Any]:
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        return {
            "energy_kwh": float(data.energy_consumed),
            "emissions_kg_co2eq": float(data.emissions),
            "cpu_power_w": float(data.cpu_power),
            "country_iso_code": data.country_iso_code,
            "cpu_model": data.cpu_model,
            "tracker": f"codecarbon {data.codecarbon_version} offline",
        }


def cpu_model() -> str:
    """The CPU's brand name, as codecarbon's py-cpuinfo detection reports it."""
    try:  # Linux, where every cluster pod runs: the kernel's name for the CPU, instantly
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    # Elsewhere (macOS laptops) detect once per run directory: it cannot change between steps.
    cache = home() / "hardware.json"
    try:
        return json.loads(cache.read_text())["cpu_model"]
    except (OSError, ValueError, KeyError):
        from codecarbon.core.util import detect_cpu_model

        model = detect_cpu_model()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"cpu_model": model}))
        return model


# ---------------------------------------------------------------------------------------------
# OpenLineage
#
# Events are written as the OpenLineage 2-0-2 JSON the spec defines, without importing the
# openlineage-python client: a pipeline step is a fresh process, and importing the client (its
# transports pull in aiohttp and more) cost ~0.35 s a step (BENCHMARKS.md, tracking cost). A test
# builds the same events with the official client and checks they are identical.

OPENLINEAGE_SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{OPENLINEAGE_SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
PARENT_FACET_SCHEMA = f"{OPENLINEAGE_SPEC}/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet"
ERROR_FACET_SCHEMA = f"{OPENLINEAGE_SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
CARBON_FIELDS = ("energy_kwh", "emissions_kg_co2eq", "cpu_power_w", "country_iso_code", "tracker")


def _facet(fields: Mapping[str, Any], schema_url: str) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **fields}


def without_home(text: str) -> str:
    """`text` with the user's home directory written `~`: events leave this machine (Marquez, a
    cluster's lineage store) and must not carry who ran the step; the rest of a path is its identity."""
    home_dir = str(Path.home()).rstrip("/")
    return text.replace(home_dir + "/", "~/") if home_dir else text


def _without_home_in(value: Any) -> Any:
    if isinstance(value, str):
        return without_home(value)
    if isinstance(value, dict):
        return {key: _without_home_in(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_home_in(item) for item in value]
    return value


def _datasets(kind: str, records: Mapping[str, dict]) -> list[dict[str, Any]]:
    datasets = []
    for name, record in records.items():
        namespace, _, ds_name = record["uri"].partition("://")
        if namespace == "file":  # the path itself, not as_uri()'s %-encoding of it (a home with a space)
            ds_name = without_home(unquote(ds_name))
        content = _facet({"argument": name, "content_hash": record.get("content_hash")}, FACET_SCHEMA + "ContentHashDatasetFacet")
        datasets.append({"namespace": namespace or "file", "name": ds_name or record["uri"], "facets": {"cnai_content": content},
                         f"{kind}Facets": {}})
    return datasets


def run_event(event_type: str, step: str, run_id: str, inputs: dict, outputs: dict, run_facets: dict) -> dict[str, Any]:
    """One OpenLineage RunEvent for a step run, as JSON-ready data."""
    namespace = os.environ.get("CNAI_LINEAGE_NAMESPACE", "cnai")
    pipeline_run = os.environ.get("CNAI_PIPELINE_RUN_ID")
    pipeline_name = os.environ.get("CNAI_PIPELINE_NAME", "standalone")
    facets = _without_home_in(dict(run_facets))  # parameters and facts name local files too (a registry's URI)
    if pipeline_run:
        facets["parent"] = _facet({"run": {"runId": pipeline_run}, "job": {"namespace": namespace, "name": pipeline_name}},
                                  PARENT_FACET_SCHEMA)
    return {
        "eventType": event_type,
        "eventTime": dt.datetime.now(dt.UTC).isoformat(),
        "run": {"runId": run_id, "facets": facets},
        "job": {"namespace": namespace, "name": f"{pipeline_name}.{step}", "facets": {}},
        "inputs": _datasets("input", inputs),
        "outputs": _datasets("output", outputs),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
    }


def _emit(event_type: str, step: str, run_id: str, inputs: dict, outputs: dict, run_facets: dict) -> None:
    """To Marquez (or any OpenLineage HTTP endpoint) when CNAI_LINEAGE_URL is set, else to the run's file."""
    event = run_event(event_type, step, run_id, inputs, outputs, run_facets)
    url = os.environ.get("CNAI_LINEAGE_URL")
    try:
        if url:
            import requests

            response = requests.post(f"{url.rstrip('/')}/api/v1/lineage", json=event, timeout=10)
            response.raise_for_status()
        else:
            path = lineage_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as log_file:  # one write per line: concurrent steps do not interleave
                log_file.write(json.dumps(event) + "\n")
    except Exception as exc:  # lineage must not take a pipeline down; say so loudly instead
        log.error("could not emit OpenLineage %s event for %s: %s", event_type, step, exc)


# ---------------------------------------------------------------------------------------------
# The wrapper


def _describe(value: Any) -> dict[str, Any]:
    """URI and content hash of an input or output given as an artifact or a path/URI string."""
    if isinstance(value, str):
        path = value.removeprefix("file://")
        try:
            uri = Path(path).resolve().as_uri() if "://" not in value else value
        except (RuntimeError, OSError) as exc:  # Python raises RuntimeError on a symbolic link loop
            raise DataError(f"{path}: cannot be read ({exc}); point the step at the file itself") from exc
        exists = "://" not in value or value.startswith("file://")
        return {"uri": uri, "content_hash": content_hash(path) if exists and Path(path).exists() else None}
    path = value.path
    return {"uri": value.uri, "content_hash": content_hash(path) if Path(path).exists() else None}


def _file_states(inputs: Mapping[str, Any]) -> dict[str, tuple]:
    """(size, modification time) of each input that is a local file or directory's files."""
    states = {}
    for name, value in inputs.items():
        path = Path(_path_of(value).removeprefix("file://"))
        if "://" in _path_of(value).removeprefix("file://") or not path.exists():
            continue
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        states[name] = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return states


def _path_of(value: Any) -> str:
    return value if isinstance(value, str) else value.path


def run_step(
    step: str,
    work: Callable[..., Mapping[str, Any] | None],
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `work(**input_paths, **output_paths, **params)` with lineage and carbon recorded.

    `work` returns a dict of facts (row counts, metrics, decisions). A key `output_metadata` maps
    output names to extra metadata for those artifacts. The facts are returned to the component.
    """
    inputs, outputs, params = dict(inputs or {}), dict(outputs or {}), dict(params or {})
    run_id = str(uuid.uuid4())
    try:
        read_before = _file_states(inputs)  # before hashing: a change while hashing is caught too
        input_records = {name: _describe(value) for name, value in inputs.items()}
    except DataError as exc:  # recorded as this step's failure, so the table says where the run stopped
        _emit("FAIL", step, run_id, {}, {}, {"errorMessage": _error_facet(exc)})
        raise
    _emit("START", step, run_id, input_records, {}, {})

    meter = CarbonMeter(os.environ.get("CNAI_COUNTRY_ISO_CODE", "USA"))
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    meter.start()
    try:
        extra = {}
        if "upstream_metadata" in inspect.signature(work).parameters:
            extra["upstream_metadata"] = {k: dict(getattr(v, "metadata", {}) or {}) for k, v in inputs.items()}
        if "artifact_uris" in inspect.signature(work).parameters:  # where pods other than this one can read them
            extra["artifact_uris"] = {k: getattr(v, "uri", None) or _path_of(v) for k, v in {**inputs, **outputs}.items()}
        paths = {k: _path_of(v) for k, v in {**inputs, **outputs}.items()}
        facts = dict(work(**paths, **params, **extra) or {})
        changed = [name for name, state in _file_states(inputs).items() if state != read_before.get(name)]
        if changed:  # the recorded hash would not be of what was read
            raise DataError(f"{', '.join(_path_of(inputs[n]) for n in changed)}: changed while the {step} step read it; "
                            "run again once it is written completely (nothing was recorded from this read)")
    except BaseException as exc:
        carbon = meter.stop()
        step_facet = _step_facet(step, params, started, time.perf_counter() - clock, {})
        error = _error_facet(exc)
        _emit("FAIL", step, run_id, input_records, {}, {"errorMessage": error, **_run_facets(carbon, step_facet)})
        raise
    carbon = meter.stop()
    duration = time.perf_counter() - clock

    output_metadata = facts.pop("output_metadata", {})
    output_records = {name: _describe(value) for name, value in outputs.items()}
    step_facet = _step_facet(step, params, started, duration, facts)
    record = {
        "step": step,
        "lineage_run_id": run_id,
        "code_version": step_facet["code_version"],
        "parameters": step_facet["parameters"],
        "inputs": input_records,
        "started_at": step_facet["started_at"],
        "ended_at": step_facet["ended_at"],
        "duration_s": step_facet["duration_s"],
        "carbon": carbon,
    }
    for name, artifact in outputs.items():
        if isinstance(artifact, str):
            continue
        own = _jsonable(output_metadata.get(name, {}))
        if getattr(artifact, "schema_title", "") in METRICS_SCHEMAS:
            artifact.metadata.update(own)  # the UI renders every entry of a metrics artifact as a metric
        else:
            artifact.metadata.update({**record, **output_records[name], **own})
    _emit("COMPLETE", step, run_id, input_records, output_records, _run_facets(carbon, step_facet))
    log.info("%s done in %.1f s, %.2e kWh, %.2e kg CO2eq", step, duration, carbon["energy_kwh"], carbon["emissions_kg_co2eq"])
    return facts


def _step_facet(step: str, params: dict, started: dt.datetime, duration: float, facts: dict) -> dict[str, Any]:
    """What a person needs to reproduce a step run: parameters, code version, timings."""
    return {
        "step": step,
        "parameters": _jsonable(params),
        "code_version": code_version(),
        "started_at": started.isoformat(),
        "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        "duration_s": round(duration, 3),
        "facts": _jsonable(facts),
    }


def _run_facets(carbon: dict, step_facet: dict) -> dict:
    return {"cnai_carbon": _facet({k: carbon[k] for k in CARBON_FIELDS}, FACET_SCHEMA + "CarbonRunFacet"),
            "cnai_step": _facet(step_facet, FACET_SCHEMA + "StepRunFacet")}


def _error_facet(exc: BaseException) -> dict[str, Any]:
    """The error and its causes, without stack frames: events leave this machine (Marquez, a
    cluster's lineage store), and frames carry local paths; the step's own log keeps them."""
    chain, seen = [], exc
    while seen is not None and len(chain) < 10:
        chain.append("".join(traceback.format_exception_only(type(seen), seen)).strip())
        seen = seen.__cause__ or seen.__context__
    return _facet({"message": f"{type(exc).__name__}: {exc}", "programmingLanguage": "python",
                   "stackTrace": "\ncaused by: ".join(chain)}, ERROR_FACET_SCHEMA)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def read_events(path: Path | None = None) -> list[dict[str, Any]]:
    """All OpenLineage events in the run directory's lineage file, oldest first."""
    path = path or lineage_file()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# Reading an event back: the step it is of, what the step reported, and its outputs' paths by name.
def event_step(event: dict[str, Any]) -> str:
    return event["job"]["name"].rsplit(".", 1)[-1]


def event_facts(event: dict[str, Any]) -> dict[str, Any]:
    return event["run"]["facets"].get("cnai_step", {}).get("facts", {})


def event_parameters(event: dict[str, Any]) -> dict[str, Any]:
    return event["run"]["facets"].get("cnai_step", {}).get("parameters", {})


def event_pipeline_run(event: dict[str, Any]) -> str:
    """The id of the pipeline run the step belongs to ("" for a step run on its own)."""
    return event["run"]["facets"].get("parent", {}).get("run", {}).get("runId", "")


def event_outputs(event: dict[str, Any]) -> dict[str, Path]:
    return {o["facets"]["cnai_content"]["argument"]: Path(o["name"]).expanduser() for o in event.get("outputs", [])}

