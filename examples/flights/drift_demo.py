"""`make drift` (`python -m examples.flights.drift_demo`): production traffic, in distribution and then shifted, with a monitoring run after each.

Phase 1 replays rows like the served model's training data: the drift check should find nothing.
Phase 2 sends traffic from a shifted world (warmer, windier, wetter, more late departures) and
hands the monitoring pipeline a labelled batch from that world to retrain on: drift is found, the
training pipeline runs, and its gate deploys the new model only if it beats production on that
batch. A client checks the endpoint throughout.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pandas as pd
import requests

from cnai.core.config import ProjectConfig
from cnai.core.errors import CnaiError

BATCH = 200


def send_traffic(url: str, model_name: str, frame: pd.DataFrame) -> int:
    from cnai.backends.local.model_server import v2_request

    sent = 0
    for start in range(0, len(frame), BATCH):
        body = v2_request(frame.iloc[start:start + BATCH], f"demo-{start}")
        response = requests.post(f"{url}/v2/models/{model_name}/infer", json=body, timeout=30)
        if response.status_code != 200:
            raise CnaiError(f"{url}: the model server refused traffic: {response.status_code} {response.text[:200]}")
        sent += min(BATCH, len(frame) - start)
    return sent


class EndpointWatch:
    """Asks the endpoint whether the model is ready, five times a second, until stopped."""

    def __init__(self, url: str, model_name: str) -> None:
        self.url, self.model_name = url, model_name
        self.checks = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = requests.get(f"{self.url}/v2/models/{self.model_name}/ready", timeout=2).status_code == 200
            except requests.RequestException:
                ok = False
            self.checks += 1
            self.failures += not ok
            time.sleep(0.2)

    def __enter__(self) -> EndpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def shifted_world(rows: int, directory: Path) -> tuple[pd.DataFrame, Path, Path]:
    """Traffic (features) and a labelled batch (flights and weather CSVs) from a drifted generator."""
    from examples.flights.generate import generate, write_table

    flights, weather = generate(max(rows * 5, 20_000), seed=11, drift=1.0)
    events = write_table(flights, directory / "flights.csv")
    features = write_table(weather, directory / "weather.csv")
    joined = flights.merge(weather.drop(columns=["year", "month", "day", "hour"]), on=["origin", "time_hour"], how="left")
    joined["day_of_week"] = joined.time_hour.dt.dayofweek.map(lambda d: (d + 1) % 7 + 1)  # Spark's dayofweek: Sunday = 1
    return joined.sample(rows, random_state=5).reset_index(drop=True), Path(events), Path(features)


def _summary(rows: list[dict]) -> dict:
    by_step = {r["step"]: r for r in rows if r["status"] == "ran"}
    drift = by_step.get("drift_check", {}).get("facts", {})
    gate = by_step.get("evaluate", {}).get("facts", {})
    return {
        "drift": bool(drift.get("drift_detected")),
        "drifted": drift.get("drifted_features", []),
        "retrained": "train" in by_step or "evaluate" in by_step,
        "gate": gate,
        "deployed": by_step.get("deploy", {}).get("facts", {}).get("version"),
    }


def run_demo(config: ProjectConfig, config_path: Path, rows: int = 2000) -> int:
    from cnai.backends.local.deployment import endpoint_url, is_ready, serving_dir
    from cnai.backends.local.model_server import inference_log_dir
    from cnai.backends.registry import default_registry_uri
    from cnai.components.monitoring.drift_check.executor import resolve_reference
    from cnai.models.saved import LoadedModel
    from cnai.orchestration.monitor import monitor
    from cnai.orchestration.project import export_settings

    home = export_settings(config, config_path)
    name = config.model_name
    url = endpoint_url(config.settings.serving_host, config.settings.serving_port)
    if not is_ready(url, name):
        raise CnaiError(f"no model is served at {url}: run `make run` first")
    reference = resolve_reference(default_registry_uri(home), name, serving_dir() / "models" / name)
    features = LoadedModel(reference["model"]).feature_columns
    log_dir = inference_log_dir(serving_dir(), name)
    lines = []
    with EndpointWatch(url, name) as watch:
        start = dt.datetime.now(dt.UTC).isoformat()
        in_distribution = pd.read_parquet(reference["training_set"], columns=features).sample(rows, random_state=1)
        sent = send_traffic(url, name, in_distribution)
        print(f"\n== Phase 1: {sent} in-distribution rows sent to {url}; monitoring ==", flush=True)
        ok, result = monitor(config, config_path, str(log_dir), since=start)
        if not ok:
            return 1
        lines.append(("in-distribution traffic", sent, _summary(result)))

        world = home / "drift_demo"
        traffic, events_csv, weather_csv = shifted_world(rows, world)
        start = dt.datetime.now(dt.UTC).isoformat()
        sent = send_traffic(url, name, traffic[features])
        print(f"\n== Phase 2: {sent} shifted rows sent; monitoring, retraining on {events_csv} if drift ==", flush=True)
        ok, result = monitor(config, config_path, str(log_dir), since=start, events_source=str(events_csv),
                             feature_sources=[f"origin_weather={weather_csv}"])
        if not ok:
            return 1
        lines.append(("shifted traffic", sent, _summary(result)))

    print("\n== Drift demo ==")
    for label, sent, outcome in lines:
        verdict = f"drift detected ({', '.join(outcome['drifted']) or 'predictions'})" if outcome["drift"] else "no drift"
        if not outcome["retrained"]:
            action = "no retrain"
        else:
            gate = outcome["gate"]
            action = (f"retrained; gate: {'deploy' if gate.get('deploy') else 'keep production'} ({gate.get('reason', '?')})"
                      + (f"; now serving version {outcome['deployed']}" if outcome["deployed"] else ""))
        print(f"- {label} ({sent} rows): {verdict}; {action}")
    print(f"- endpoint answered {watch.checks - watch.failures} of {watch.checks} readiness checks during the demo")
    return 0 if watch.failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from cnai.core.config import load_config

    parser = argparse.ArgumentParser(prog="python -m examples.flights.drift_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="cnai.yaml", help="project configuration (default: ./cnai.yaml)")
    parser.add_argument("--rows", type=int, default=2000, help="rows of traffic per phase (default 2000)")
    args = parser.parse_args(argv)
    config_path = Path(args.config).resolve()
    try:
        return run_demo(load_config(config_path), config_path, rows=args.rows)
    except CnaiError as exc:
        print(f"drift demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
