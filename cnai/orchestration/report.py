"""`cnai report`: one HTML page with every step of the last run and what each step shows in the KFP UI.

A step answered from cache shows the run that computed it. Visual artifacts are embedded (HTML in
sandboxed iframes, Markdown rendered, metrics as tables), so the page is one self-contained file.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import mistune

from cnai.core.errors import CnaiError
from cnai.core.tracking import event_facts, event_outputs, event_pipeline_run, event_step, read_events

# What a person wants to see from each step, by output name and how to show it.
VISUALS: dict[str, list[tuple[str, str]]] = {
    "drift_check": [("report", "html"), ("metrics", "json")],
    "ingest": [],
    "validate": [("data_docs", "html")],
    "features": [("feature_statistics", "markdown")],
    "tune": [("objective_plot", "html"), ("trials", "markdown")],
    "train": [("metrics", "json"), ("classification_metrics", "confusion")],
    "evaluate": [("comparison", "markdown")],
    "register": [("model_card", "markdown")],
    "run_summary": [("summary", "markdown")],
    "deploy": [("endpoint", "markdown")],
    "smoke_test": [("report", "markdown")],
}




def last_run(events: list[dict]) -> tuple[str, str]:
    """(pipeline run id, pipeline name) of the newest pipeline run in the lineage."""
    for event in reversed(events):
        parent = event["run"]["facets"].get("parent")
        if parent:
            return parent["run"]["runId"], parent["job"]["name"]
    raise CnaiError("no pipeline run in the lineage yet: run `cnai run` first")


def steps_cached_or_run(recorded: set[str], failed: bool) -> list[str]:
    """The steps (pipeline order) that ran or came from KFP's cache in a run whose steps with events
    are `recorded`: in a failed run, none after the last of them (they never ran; an earlier run's
    stood for them, and a new user's failed ingest showed that run's gate and scores)."""
    order = list(VISUALS)
    last = max((order.index(step) for step in recorded if step in order), default=-1) if failed else len(order)
    return order[:last + 1]


def step_events(events: list[dict], run_id: str) -> list[tuple[str, dict, bool]]:
    """(step, final event, from this run?) for each step of the run; a cached step's latest earlier run."""
    in_run = [e for e in events if e["eventType"] in ("COMPLETE", "FAIL") and event_pipeline_run(e) == run_id]
    run_started = min((e["eventTime"] for e in events if event_pipeline_run(e) == run_id), default="")
    found = []
    may_be_cached = steps_cached_or_run({event_step(e) for e in in_run}, any(e["eventType"] == "FAIL" for e in in_run))
    for step in VISUALS:
        current = [e for e in in_run if event_step(e) == step]
        if current:
            found += [(step, e, True) for e in current]
        elif step != "drift_check" and step in may_be_cached:
            earlier = [e for e in events if e["eventType"] == "COMPLETE" and event_step(e) == step and e["eventTime"] < run_started]
            if earlier:
                found.append((step, max(earlier, key=lambda e: e["eventTime"]), False))
    return found


def _render(kind: str, path: Path) -> str:
    if not path.exists():
        return f"<p class=missing>{html.escape(str(path))} is gone</p>"
    if kind == "html":
        return f'<iframe sandbox="allow-scripts" srcdoc="{html.escape(path.read_text(errors="replace"))}"></iframe>'
    if kind == "markdown":
        return mistune.html(path.read_text())
    data = json.loads(path.read_text())
    if kind == "confusion" and "residuals" in data:  # regression: the residuals by decile of the prediction
        rows = "".join(f"<tr><td>{r['predicted_mean']:.4g}</td><td>{r['residual_mean']:.4g}</td><td>{r['residual_std']:.4g}</td>"
                       f"<td>{r['rows']}</td></tr>" for r in data["residuals"])
        return ("<table><tr><th>mean prediction</th><th>mean residual</th><th>residual std</th><th>rows</th></tr>"
                f"{rows}</table>")
    if kind == "confusion":
        labels = [a["displayName"] for a in data["confusionMatrix"]["annotationSpecs"]]
        rows = "".join(f"<tr><th>actual {labels[i]}</th>" + "".join(f"<td>{v}</td>" for v in r["row"]) + "</tr>"
                       for i, r in enumerate(data["confusionMatrix"]["rows"]))
        return f"<table><tr><th></th>{''.join(f'<th>predicted {lab}</th>' for lab in labels)}</tr>{rows}</table>"
    scalars = {k: v for k, v in data.items() if isinstance(v, int | float | str | bool)}
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.4g}</td></tr>" if isinstance(v, float)
                               else f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                               for k, v in scalars.items()) + "</table>"


def build_report(target: Path) -> Path:
    events = read_events()
    run_id, pipeline = last_run(events)
    steps = step_events(events, run_id)
    summary_rows, sections = [], []
    total_energy = total_co2 = 0.0
    # A monitoring run without drift skips its retraining steps: what is shown for them is the last run's.
    drift = next((event_facts(e) for s, e, this in steps if s == "drift_check" and this), None)
    absent = "skipped (no drift)" if drift is not None and not drift.get("drift_detected") else "cached"
    # As the console's table says it (local_run.step_rows): a gate of this run that kept production
    # skipped the deploy and its smoke test, which were not cached.
    gated = any(s == "evaluate" and this for s, _, this in steps)
    for index, (step, event, this_run) in enumerate(steps):
        facets = event["run"]["facets"]
        carbon, details = facets.get("cnai_carbon", {}), facets.get("cnai_step", {})
        not_run = "skipped (gate: keep production)" if gated and step in ("deploy", "smoke_test") else absent
        # A cached step's figures were computed in another run; a skipped step's are only shown from
        # its last run (a new user read "skipped ... (computed in run ...)" as a contradiction).
        earlier = event_pipeline_run(event)[:8]
        said = f"computed in run {earlier}" if not_run == "cached" else f"shown: its last run, {earlier}"
        status = ("ran" if this_run else f"{not_run} ({said})" if earlier else "earlier") \
            if event["eventType"] == "COMPLETE" else "FAILED"
        energy, co2 = carbon.get("energy_kwh", 0.0), carbon.get("emissions_kg_co2eq", 0.0)
        if this_run:
            total_energy, total_co2 = total_energy + energy, total_co2 + co2
        summary_rows.append(f"<tr><td><a href='#step-{step}'>{step}</a></td><td>{html.escape(status)}</td>"
                            f"<td>{details.get('duration_s', 0):.1f} s</td><td>{energy:.3e}</td><td>{co2:.3e}</td></tr>")
        outputs = event_outputs(event)
        body = "".join(f"<h3>{name}</h3>{_render(kind, outputs[name])}" for name, kind in VISUALS[step] if name in outputs)
        if event["eventType"] == "FAIL":
            body = f"<pre>{html.escape(facets.get('errorMessage', {}).get('message', ''))}</pre>"
        anchor = f"step-{step}" if not any(s == step for s, _, _ in steps[:index]) else f"step-{step}-{index}"
        sections.append(f"<section id='{anchor}'><h2>{step}</h2><p>{html.escape(status)}; code "
                        f"{html.escape(details.get('code_version', '?'))}; parameters: <code>"
                        f"{html.escape(json.dumps(shown_parameters(details.get('parameters', {})))[:600])}</code></p>{body}</section>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{pipeline} run {run_id[:8]}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}} iframe{{width:100%;height:480px;border:1px solid #ccc}}
section{{margin-top:2em}}</style></head><body>
<h1>{pipeline}: run {run_id}</h1>
<section id="run-summary"><h2>Run summary: carbon per step</h2><table>
<tr><th>step</th><th>status</th><th>duration</th><th>energy kWh</th><th>kg CO2eq</th></tr>{''.join(summary_rows)}
<tr><th>this run</th><td></td><td></td><th>{total_energy:.3e}</th><th>{total_co2:.3e}</th></tr></table></section>
{''.join(sections)}</body></html>"""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page)
    return target


def shown_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """A step's parameters as a reader wants them: without the cluster's settings on a local run (a
    new user read the Kubeflow service account and the registry's URL beside every step), and with
    the float that stands for "no minimum" said so (1e+300)."""
    from cnai.core.tasks import NO_MINIMUM

    on_cluster = parameters.get("target") == "kubeflow" or parameters.get("spark_master") == "spark-operator"
    return {key: ("none" if isinstance(value, float) and abs(value) >= NO_MINIMUM else value)
            for key, value in parameters.items() if key != "cluster" or on_cluster}
