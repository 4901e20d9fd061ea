"""`cnai ui`: what MLflow's UI does not show, on 127.0.0.1, beside MLflow's UI (started with it).

MLflow shows the runs, their parameters and metrics compared, and the registry's versions and
aliases (every pipeline run is recorded there). These pages add what a pipeline has and MLflow has
not, read from the OpenLineage events every step wrote and the artifacts they name:

- each pipeline run as a DAG (edges: a step read what another wrote), each node's status,
  duration and carbon, the gate's decision; a node opens its step with its artifacts rendered;
- charts (Plotly, drawn in the browser from the package's own plotly.js, nothing fetched): ROC and
  precision-recall curves and the confusion matrix, or residuals; the tuning history; drift per
  feature; carbon per step and per run over time;
- the served model's lineage back to its source files, with hashes, as a graph;
- the monitoring history: each drift check, its verdict and whether it retrained.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.core.processes import die_with_parent
from cnai.core.tracking import event_facts, event_outputs, event_pipeline_run, event_step, read_events
from cnai.orchestration.lineage import lineage_chain
from cnai.orchestration.report import VISUALS, _render, steps_cached_or_run

STATUS_COLORS = {"ran": "#2ca02c", "cached": "#9e9e9e", "failed": "#d62728", "not run": "#ffffff"}
STYLE = """body{font-family:system-ui,sans-serif;margin:0;color:#222} header{background:#1f3a5f;color:#fff;padding:10px 24px}
header a{color:#fff;margin-right:18px;text-decoration:none} main{padding:16px 24px;max-width:1200px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
.chart{width:100%;height:420px} iframe{width:100%;height:520px;border:1px solid #ddd} .muted{color:#777}
.failed{color:#d62728} .steps a{margin-right:12px}"""




def _datasets(event: dict, kind: str) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in event.get(kind, [])}


def pipeline_runs(events: list[dict]) -> list[dict[str, Any]]:
    """Each pipeline run, newest first: its steps' final events, status, duration and carbon."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        run_id = event_pipeline_run(event)
        if not run_id or event["eventType"] not in ("COMPLETE", "FAIL"):
            continue
        run = runs.setdefault(run_id, {"run_id": run_id, "pipeline": event["run"]["facets"]["parent"]["job"]["name"],
                                       "steps": {}, "started": event["eventTime"], "ended": event["eventTime"]})
        run["steps"][event_step(event)] = event
        run["started"], run["ended"] = min(run["started"], event["eventTime"]), max(run["ended"], event["eventTime"])
    for run in runs.values():
        finals = list(run["steps"].values())
        run["status"] = "failed" if any(e["eventType"] == "FAIL" for e in finals) else "succeeded"
        run["energy_kwh"] = sum(e["run"]["facets"].get("cnai_carbon", {}).get("energy_kwh", 0.0) for e in finals)
        run["co2_kg"] = sum(e["run"]["facets"].get("cnai_carbon", {}).get("emissions_kg_co2eq", 0.0) for e in finals)
        run["duration_s"] = sum(e["run"]["facets"].get("cnai_step", {}).get("duration_s", 0.0) for e in finals)
    return sorted(runs.values(), key=lambda r: r["started"], reverse=True)


def run_steps(events: list[dict], run: dict) -> dict[str, tuple[dict, str]]:
    """Each step of the run with its status; a step answered from cache is its latest earlier run."""
    steps = {name: (event, "failed" if event["eventType"] == "FAIL" else "ran") for name, event in run["steps"].items()}
    if run["pipeline"].endswith("training") or "ingest" in steps or "evaluate" in steps:
        for name in steps_cached_or_run(set(steps), run.get("status") == "failed"):
            if name in steps or name == "drift_check":
                continue
            earlier = [e for e in events if e["eventType"] == "COMPLETE" and event_step(e) == name and e["eventTime"] < run["started"]]
            if earlier and name not in ("deploy", "smoke_test"):  # those never come from cache
                steps[name] = (max(earlier, key=lambda e: e["eventTime"]), "cached")
    return steps


def _figure_html(figure, element_id: str, link_points: bool = False) -> str:
    """A Plotly figure drawn in the browser; with `link_points` a click on a point opens its customdata."""
    script = f"Plotly.newPlot('{element_id}', fig.data, fig.layout, {{responsive: true, displaylogo: false}});"
    if link_points:
        script += (f"document.getElementById('{element_id}').on('plotly_click', e => {{"
                   "const url = e.points[0].customdata; if (url) window.location.href = url; });")
    return (f"<div id='{element_id}' class='chart'></div><script>(() => {{const fig = {figure.to_json()};"
            f"{script}}})();</script>")


def _page(title: str, body: str, mlflow_url: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script src='/static/plotly.min.js'></script></head><body><header>"
            "<a href='/'><b>cnai</b></a><a href='/'>Runs</a><a href='/lineage'>Lineage</a><a href='/monitoring'>Monitoring</a>"
            + (f"<a href='{mlflow_url}' target='_blank'>MLflow UI</a>" if mlflow_url else "")
            + f"</header><main><h1>{html.escape(title)}</h1>{body}</main></body></html>")


def dag_figure(steps: dict[str, tuple[dict, str]], run_id: str, gate: dict | None):
    """The run as a DAG: a step feeds another when the other read what it wrote."""
    import plotly.graph_objects as go

    names = list(steps)
    if gate is not None and not gate.get("deploy"):
        names += [n for n in ("deploy", "smoke_test") if n not in steps]  # the gate's other branch, not taken
    edges = [(a, b) for a in steps for b in steps if a != b
             and _datasets(steps[a][0], "outputs") & _datasets(steps[b][0], "inputs")]
    if "evaluate" in steps:
        edges += [("evaluate", n) for n in ("deploy",) if n in names and ("evaluate", n) not in edges]
        edges += [("deploy", "smoke_test")] if {"deploy", "smoke_test"} <= set(names) and ("deploy", "smoke_test") not in edges else []
    level = dict.fromkeys(names, 0)
    for _ in names:  # longest path from a source: a few passes over a small DAG
        for a, b in edges:
            level[b] = max(level[b], level[a] + 1)
    rows: dict[int, int] = defaultdict(int)
    position = {}
    for name in names:
        position[name] = (level[name], -rows[level[name]])
        rows[level[name]] += 1
    edge_x, edge_y = [], []
    for a, b in edges:
        edge_x += [position[a][0], position[b][0], None]
        edge_y += [position[a][1], position[b][1], None]
    hover, colors, links = [], [], []
    for name in names:
        if name in steps:
            event, status = steps[name]
            facets = event["run"]["facets"]
            carbon, step = facets.get("cnai_carbon", {}), facets.get("cnai_step", {})
            hover.append(f"<b>{name}</b> ({status})<br>{step.get('duration_s', 0):.1f} s<br>"
                         f"{carbon.get('energy_kwh', 0):.2e} kWh, {carbon.get('emissions_kg_co2eq', 0):.2e} kg CO2eq")
            links.append(f"/runs/{run_id}/steps/{name}")
        else:
            status = "not run"
            hover.append(f"<b>{name}</b>: not run, the gate kept production<br>{html.escape(str((gate or {}).get('reason', '')))}")
            links.append("")
        colors.append(STATUS_COLORS[status])
    figure = go.Figure([
        go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#888", "width": 1.5}, hoverinfo="skip", name="reads"),
        go.Scatter(x=[position[n][0] for n in names], y=[position[n][1] for n in names], mode="markers+text",
                   text=names, textposition="top center", customdata=links, hovertext=hover, hoverinfo="text",
                   marker={"size": 26, "color": colors, "line": {"color": "#333", "width": 1.5}}, name="steps"),
    ])
    figure.update_layout(showlegend=False, xaxis={"visible": False}, yaxis={"visible": False}, margin={"l": 20, "r": 20, "t": 30, "b": 20},
                         title="Steps (green: ran, grey: from cache, red: failed, white: not run); click one")
    return figure


def carbon_figure(steps: dict[str, tuple[dict, str]]):
    import plotly.graph_objects as go

    names = [n for n, (_, status) in steps.items() if status != "cached"]
    energy = [steps[n][0]["run"]["facets"].get("cnai_carbon", {}).get("energy_kwh", 0.0) for n in names]
    figure = go.Figure(go.Bar(x=names, y=energy, marker_color="#2ca02c", name="energy"))
    figure.update_layout(title="Energy per step (kWh, this run)", yaxis_title="kWh")
    return figure



def _artifact_metadata(path: Path, name: str) -> dict:
    """An artifact's metadata as the step gave it to KFP (kfp.local's executor_output.json)."""
    for candidate in (path.parent / "executor_output.json", path.with_name(path.name + ".metadata.json")):
        if candidate.exists():
            data = json.loads(candidate.read_text())
            if candidate.name == "executor_output.json":
                entries = data.get("artifacts", {}).get(name, {}).get("artifacts", [])
                return entries[0].get("metadata", {}) if entries else {}
            return data
    return {}


def model_figures(model_dir: Path, holdout_path: Path, confusion_path: Path | None) -> list:
    """ROC and precision-recall curves and the confusion matrix (classification), or residuals."""
    import numpy as np
    import plotly.graph_objects as go
    from sklearn.metrics import precision_recall_curve, roc_curve

    from cnai.models.saved import LoadedModel

    model = LoadedModel(model_dir)
    holdout = pd.read_parquet(holdout_path)
    scores = model.scores(holdout[model.feature_columns])
    label = model.meta["label"]
    figures = []
    if model.task == "regression":
        truth = holdout[label].to_numpy(dtype=float)
        residuals = go.Figure(go.Scatter(x=scores, y=truth - scores, mode="markers", marker={"size": 5, "opacity": 0.6}))
        residuals.update_layout(title="Residuals on the holdout (actual - predicted)", xaxis_title="predicted", yaxis_title="residual")
        return [residuals]
    from cnai.core.tasks import encode_labels

    classes = [str(c) for c in model.classes]
    truth = encode_labels(holdout[label], model.classes, str(holdout_path), label)  # as training coded them (1.0 is 1)
    probabilities = np.column_stack([1 - scores, scores]) if model.task == "binary" else scores
    shown = classes[1:] if model.task == "binary" else classes  # binary: the positive class's curve
    roc, pr = go.Figure(), go.Figure()
    for name in shown:
        index = classes.index(name)
        positive = truth == index
        fpr, tpr, _ = roc_curve(positive, probabilities[:, index])
        precision, recall, _ = precision_recall_curve(positive, probabilities[:, index])
        roc.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{label} = {name}"))
        pr.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=f"{label} = {name}"))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#aaa"}, name="chance"))
    roc.update_layout(title="ROC curve on the holdout", xaxis_title="false positive rate", yaxis_title="true positive rate")
    pr.update_layout(title="Precision-recall curve on the holdout", xaxis_title="recall", yaxis_title="precision")
    figures += [roc, pr]
    if confusion_path is not None and confusion_path.exists():
        view = json.loads(confusion_path.read_text())
        names = [a["displayName"] for a in view["confusionMatrix"]["annotationSpecs"]]
        matrix = [row["row"] for row in view["confusionMatrix"]["rows"]]
        heat = go.Figure(go.Heatmap(z=matrix, x=[f"predicted {n}" for n in names], y=[f"actual {n}" for n in names],
                                    text=matrix, texttemplate="%{text}", colorscale="Blues"))
        heat.update_layout(title="Confusion matrix on the holdout", yaxis={"autorange": "reversed"})
        figures.append(heat)
    return figures


def tuning_figure(trials: list[dict], metric: str, maximize: bool = True):
    import plotly.graph_objects as go

    rows = [t for t in trials if isinstance(t.get(metric), int | float)]
    complete = [t for t in rows if t.get("state") == "complete"]
    figure = go.Figure([
        go.Scatter(x=[t["trial"] for t in rows], y=[t[metric] for t in rows], mode="markers", name="trial",
                   text=[str(t.get("state", "")) for t in rows], marker={"size": 10,
                   "color": ["#1f77b4" if t.get("state") == "complete" else "#bbbbbb" for t in rows]}),
        go.Scatter(x=[t["trial"] for t in complete], y=_best_so_far([t[metric] for t in complete], maximize),
                   mode="lines", name="best so far", line={"color": "#ff7f0e"}),
    ])
    figure.update_layout(title=f"Tuning history: {metric} per trial (grey: stopped early)", xaxis_title="trial", yaxis_title=metric)
    return figure


def _best_so_far(values: list[float], maximize: bool) -> list[float]:
    series = pd.Series(values, dtype=float)
    return (series.cummax() if maximize else series.cummin()).tolist()


def drift_figure(summary: dict):
    import plotly.graph_objects as go

    features = summary.get("features", {})
    names = list(features)
    p_values = [max(float(features[n].get("p_value", 1.0)), 1e-300) for n in names]
    colors = ["#d62728" if features[n].get("drifted") else "#1f77b4" for n in names]
    figure = go.Figure(go.Bar(x=names, y=p_values, marker_color=colors, name="p-value",
                              text=[features[n].get("test", "") for n in names]))
    threshold = summary.get("thresholds", {}).get("p_value")
    if threshold:
        figure.add_hline(y=threshold, line_dash="dot", annotation_text=f"p = {threshold}")
    figure.update_layout(title="Drift per feature: the test's p-value (red: drifted)", yaxis_type="log", yaxis_title="p-value")
    return figure


def step_body(run_id: str, name: str, event: dict, status: str) -> str:
    """A step's status, facts, charts and rendered artifacts."""
    facets = event["run"]["facets"]
    outputs = event_outputs(event)
    charts = []
    try:
        if name == "train" and "model" in outputs and "holdout" in outputs:
            charts = model_figures(outputs["model"], outputs["holdout"], outputs.get("classification_metrics"))
        elif name == "tune" and "trials" in outputs:
            trials = _artifact_metadata(outputs["trials"], "trials")
            charts = [tuning_figure(trials.get("trials", []), trials.get("objective", "objective"),
                                    bool(facets.get("cnai_step", {}).get("facts", {}).get("maximize", True)))]
        elif name == "drift_check" and "metrics" in outputs and outputs["metrics"].exists():
            charts = [drift_figure(json.loads(outputs["metrics"].read_text()))]
    except (OSError, ValueError, KeyError) as exc:  # an artifact deleted since: say so, show the rest
        charts = []
        facets = {**facets, "chart_error": str(exc)}
    parts = [f"<p>{html.escape(status)}; run <code>{html.escape(run_id)}</code>; "
             f"{facets.get('cnai_step', {}).get('duration_s', 0):.1f} s; "
             f"{facets.get('cnai_carbon', {}).get('energy_kwh', 0):.2e} kWh, "
             f"{facets.get('cnai_carbon', {}).get('emissions_kg_co2eq', 0):.2e} kg CO2eq</p>"]
    if event["eventType"] == "FAIL":
        parts.append(f"<pre class='failed'>{html.escape(facets.get('errorMessage', {}).get('message', ''))}</pre>")
    if "chart_error" in facets:
        parts.append(f"<p class='muted'>charts not drawn: {html.escape(facets['chart_error'])}</p>")
    parts += [_figure_html(figure, f"chart-{i}") for i, figure in enumerate(charts)]
    for output, kind in VISUALS.get(name, []):
        if output in outputs:
            parts.append(f"<h2>{html.escape(output)}</h2>{_render(kind, outputs[output])}")
    facts = facets.get("cnai_step", {}).get("facts", {})
    parts.append(f"<h2>Facts</h2><pre>{html.escape(json.dumps(facts, indent=1, default=str)[:6000])}</pre>")
    return "".join(parts)


def lineage_figure(model_name: str):
    """The served model's lineage as a graph, deploy on the left and the source files on the right."""
    import plotly.graph_objects as go

    chain = lineage_chain(model_name)
    nodes, parents, stack = [], [], []
    for depth, event, link in chain:
        stack = stack[:depth]
        if "seen" in event:
            continue
        if "source" in event:
            dataset = event["source"]
            content = (dataset.get("facets", {}).get("cnai_content", {}).get("content_hash") or "unhashed")[:19]
            label, hover = Path(dataset["name"]).name, f"source {dataset['namespace']}://{dataset['name']}<br>{content}"
        else:
            label = event_step(event)
            outputs = ", ".join(f"{o['facets']['cnai_content']['argument']} {(o['facets']['cnai_content'].get('content_hash') or '')[:19]}"
                                for o in event.get("outputs", []))
            hover = f"<b>{label}</b> run {event['run']['runId'][:8]}<br>{html.escape(link)}<br>{outputs}"
        nodes.append((depth, label, hover, "source" in event))
        parents.append(stack[-1] if stack else None)
        stack.append(len(nodes) - 1)
    rows: dict[int, int] = defaultdict(int)
    xy = []
    for depth, *_ in nodes:
        xy.append((depth, -rows[depth]))
        rows[depth] += 1
    edge_x, edge_y = [], []
    for index, parent in enumerate(parents):
        if parent is not None:
            edge_x += [xy[parent][0], xy[index][0], None]
            edge_y += [xy[parent][1], xy[index][1], None]
    figure = go.Figure([
        go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#888"}, hoverinfo="skip"),
        go.Scatter(x=[p[0] for p in xy], y=[p[1] for p in xy], mode="markers+text", text=[n[1] for n in nodes],
                   textposition="top center", hovertext=[n[2] for n in nodes], hoverinfo="text",
                   marker={"size": 22, "symbol": ["square" if n[3] else "circle" for n in nodes],
                           "color": ["#ff7f0e" if n[3] else "#1f77b4" for n in nodes]}),
    ])
    figure.update_layout(showlegend=False, xaxis={"visible": False}, yaxis={"visible": False},
                         title=f"{model_name}: the served version back to its source files (squares)")
    return figure, sum(1 for n in nodes if not n[3])


def monitoring_history(events: list[dict]) -> list[dict[str, Any]]:
    """Each drift check: when, its verdict, how many rows, and whether the run retrained."""
    runs = pipeline_runs(events)
    history = []
    for run in runs:
        drift = run["steps"].get("drift_check")
        if drift is None:
            continue
        facts = event_facts(drift)
        history.append({"time": drift["eventTime"], "run_id": run["run_id"], "drift": facts.get("drift_detected"),
                        "rows": facts.get("current_rows"), "share": facts.get("drift_share"),
                        "retrained": "train" in run["steps"] or "evaluate" in run["steps"],
                        "deployed": "deploy" in run["steps"]})
    return history


def create_app(model_name: str, mlflow_url: str = ""):
    """The FastAPI app (FastAPI comes with KServe's model server)."""
    import plotly
    import plotly.graph_objects as go
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, Response

    app = FastAPI(title="cnai ui", docs_url=None, redoc_url=None)
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

    @app.get("/static/plotly.min.js")
    def static_plotly():
        return FileResponse(plotly_js, media_type="application/javascript")

    @app.get("/favicon.ico")
    def favicon():  # browsers ask for one on every page; answer rather than 404
        return Response(status_code=204)

    @app.get("/", response_class=HTMLResponse)
    def index():
        runs = pipeline_runs(read_events())
        if not runs:
            return _page("No pipeline run yet", "<p>Run <code>cnai run</code> first.</p>", mlflow_url)
        rows = "".join(
            f"<tr><td><a href='/runs/{r['run_id']}'>{r['run_id'][:8]}</a></td><td>{html.escape(r['pipeline'])}</td>"
            f"<td>{r['started'][:19]}Z</td><td class='{r['status']}'>{r['status']}</td><td>{len(r['steps'])}</td>"
            f"<td>{r['duration_s']:.1f} s</td><td>{r['energy_kwh']:.2e}</td><td>{r['co2_kg']:.2e}</td></tr>" for r in runs)
        ordered = list(reversed(runs))
        over_time = go.Figure(go.Scatter(x=[r["started"] for r in ordered], y=[r["energy_kwh"] for r in ordered],
                                         mode="lines+markers", text=[r["pipeline"] for r in ordered]))
        over_time.update_layout(title="Energy per run over time (kWh, steps that ran)", yaxis_title="kWh")
        body = ("<table><tr><th>run</th><th>pipeline</th><th>started</th><th>status</th><th>steps</th><th>time in steps</th>"
                f"<th>kWh</th><th>kg CO2eq</th></tr>{rows}</table>" + _figure_html(over_time, "carbon-over-time"))
        return _page("Pipeline runs", body, mlflow_url)

    def find_run(run_id: str) -> tuple[list[dict], dict]:
        events = read_events()
        run = next((r for r in pipeline_runs(events) if r["run_id"].startswith(run_id)), None)
        if run is None:
            raise HTTPException(404, f"no pipeline run {run_id!r} in the lineage")
        return events, run

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str):
        events, run = find_run(run_id)
        steps = run_steps(events, run)
        gate = event_facts(steps["evaluate"][0]) if "evaluate" in steps else None
        links = "".join(f"<a href='/runs/{run['run_id']}/steps/{n}'>{n}</a>" for n in steps)
        decision = (f"<p>Gate: <b>{'deploy' if gate.get('deploy') else 'keep production'}</b>: "
                    f"{html.escape(str(gate.get('reason', '')))}</p>") if gate else ""
        body = (f"<p>{html.escape(run['pipeline'])}, {run['status']}, started {run['started'][:19]}Z</p>{decision}"
                f"<p class='steps'>Steps: {links}</p>" + _figure_html(dag_figure(steps, run["run_id"], gate), "dag", link_points=True)
                + _figure_html(carbon_figure(steps), "carbon-per-step"))
        return _page(f"Run {run['run_id'][:8]}", body, mlflow_url)

    @app.get("/runs/{run_id}/steps/{name}", response_class=HTMLResponse)
    def step_page(run_id: str, name: str):
        events, run = find_run(run_id)
        steps = run_steps(events, run)
        if name not in steps:
            raise HTTPException(404, f"run {run_id} has no step {name!r}")
        event, status = steps[name]
        return _page(f"{name} (run {run['run_id'][:8]})", step_body(run["run_id"], name, event, status), mlflow_url)

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_page():
        from cnai.core.errors import CnaiError

        try:
            figure, steps = lineage_figure(model_name)
        except CnaiError as exc:
            return _page("Lineage", f"<p>{html.escape(str(exc))}</p>", mlflow_url)
        return _page(f"Lineage of {model_name}", f"<p>{steps} steps</p>" + _figure_html(figure, "lineage"), mlflow_url)

    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page():
        history = monitoring_history(read_events())
        if not history:
            return _page("Monitoring", "<p>No drift check yet: <code>cnai monitor</code> runs one.</p>", mlflow_url)
        rows = "".join(f"<tr><td><a href='/runs/{h['run_id']}'>{h['time'][:19]}Z</a></td>"
                       f"<td>{'drift' if h['drift'] else 'no drift'}</td><td>{h['rows']}</td><td>{_percent(h['share'])}</td>"
                       f"<td>{'yes' if h['retrained'] else 'no'}</td><td>{'yes' if h['deployed'] else 'no'}</td></tr>"
                       for h in history)
        ordered = list(reversed(history))
        figure = go.Figure(go.Scatter(x=[h["time"] for h in ordered], y=[h["share"] or 0 for h in ordered], mode="lines+markers",
                                      marker={"size": 12, "color": ["#d62728" if h["drift"] else "#2ca02c" for h in ordered]}))
        figure.update_layout(title="Share of drifted features per check (red: drift)", yaxis_title="share")
        body = ("<table><tr><th>checked</th><th>verdict</th><th>rows</th><th>drifted share</th><th>retrained</th>"
                f"<th>deployed</th></tr>{rows}</table>" + _figure_html(figure, "drift-history"))
        return _page("Monitoring history", body, mlflow_url)

    return app


def start_mlflow_ui(tracking_uri: str, port: int, log: Path):
    """MLflow's own UI on the same store as the registry and the runs: a child in our process group
    (Ctrl-C in the terminal stops both), killed with us if we are killed outright."""
    import subprocess
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def serve_ui(model_name: str, port: int, mlflow_url: str = "") -> None:
    import uvicorn

    uvicorn.run(create_app(model_name, mlflow_url), host="127.0.0.1", port=port, log_level="warning")


def _percent(share: float | None) -> str:
    """A share as a table shows it: 17%, not 0.16666666666666666."""
    return "" if share is None else f"{share:.0%}"
