"""Serving: the local KServe endpoint (cnai.backends.local.model_server, inference log on) under load, against its floors.

    .venv/bin/python benchmarks/serving.py

Single-row v2 `infer` requests from wrk (a second process on loopback), 1 and 8 concurrent
connections, p50/p99 latency and requests/s; the same against a bare KServe ModelServer whose
model returns a constant (KServe's own cost) — as KServe starts it, and with the per-request log
lines off as cnai.backends.local.model_server has them — and the raw in-process `predict_proba` (the model's cost).
The servers take turns in short rounds: figures are medians over the rounds, a ratio is the median
of the rounds' ratios. Batch throughput: 1,000-row v2 requests.
Targets (issue 6): p99 <= 5 ms at 1 client; throughput at or above the bare ModelServer's.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, report  # noqa: E402

DURATION_S = int(os.environ.get("BENCH_SECONDS", 30))  # per server and client count, split into rounds
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 10))

BARE_SERVER = r'''
import logging
import sys
from kserve import Model, ModelServer
from kserve.protocol.infer_type import InferOutput, InferResponse

class Constant(Model):
    def __init__(self):
        super().__init__("bare")
        self.ready = True
    def predict(self, payload, headers=None, response_headers=None):
        return InferResponse(model_name="bare", infer_outputs=[InferOutput(name="probability", shape=[1], datatype="FP64", data=[0.5])],
                             response_id=payload.id)

quiet = sys.argv[2] == "quiet"  # per-request log lines off, as cnai.backends.local.model_server has them by default
server = ModelServer(http_port=int(sys.argv[1]), enable_grpc=False, workers=1, enable_latency_logging=not quiet)
if quiet:
    for name in ("kserve.trace", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
server.start([Constant()])
'''


def training_frame(rows: int):
    """Flights joined with their origin's weather in pandas: the model's 15 inputs, no Spark needed."""
    from examples.flights.generate import generate

    flights, weather = generate(rows, seed=5)
    frame = flights.merge(weather, on=["origin", "time_hour"], how="left", suffixes=("", "_w"))
    frame["delayed"] = (frame["arr_delay"] > 15).astype(int)
    frame["day_of_week"] = frame["time_hour"].dt.dayofweek + 1
    return frame.dropna(subset=["arr_delay"])


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def wrk(url: str, body: str, connections: int, seconds: float) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body)}\n")
    threads = min(connections, 2)
    output = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--latency",
                             "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 3)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"p50_ms": ms("50%"), "p99_ms": ms("99%"), "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    from cnai.backends.local.model_server import v2_request
    from cnai.components.training.train.executor import train_model
    from cnai.models.saved import LoadedModel

    scratch = Path(tempfile.mkdtemp(prefix="cnai-bench-serving-"))
    frame = training_frame(20_000)
    frame.to_parquet(scratch / "training.parquet", index=False)
    features = ["month", "day_of_week", "hour", "distance", "carrier", "origin", "dest", "temp", "dewp", "humid",
                "wind_speed", "wind_gust", "precip", "pressure", "visib"]
    paths = {n: str(scratch / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(str(scratch / "training.parquet"), feature_columns=features, label="delayed", timestamp="time_hour",
                params={"max_iter": 100}, **paths)
    model = LoadedModel(paths["model"])
    model.prepare_for_serving()  # as the server does at load
    sample = frame[features].head(1000)
    one = sample.head(1)
    floor = []
    for _ in range(300):
        started = time.perf_counter()
        model.scores(one)
        floor.append(time.perf_counter() - started)

    pointer = scratch / "pointer.json"
    pointer.write_text(json.dumps({"version": "1", "path": paths["model"]}))
    ours_port, bare_port, quiet_port = free_port(), free_port(), free_port()
    # Server logs go to files: a pipe nobody reads fills up under load and stalls the server.
    ours_log = scratch / "cnai-server.log"
    with ours_log.open("w") as out:
        ours = subprocess.Popen([sys.executable, "-m", "cnai.backends.local.model_server"], stderr=subprocess.STDOUT, stdout=out,
                                env={**os.environ, "CNAI_SERVING_MODEL": "flight-delay", "CNAI_SERVING_POINTER": str(pointer),
                                     "CNAI_SERVING_PORT": str(ours_port)})
    bares = {}
    for label, port in (("bare", bare_port), ("bare_quiet", quiet_port)):
        with (scratch / f"{label}-server.log").open("w") as out:
            bares[label] = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port), label.removeprefix("bare_")],
                                            stderr=subprocess.STDOUT, stdout=out)
    try:
        wait_ready(f"http://127.0.0.1:{ours_port}/v2/models/flight-delay/ready", ours, ours_log)
        for label, port in (("bare", bare_port), ("bare_quiet", quiet_port)):
            wait_ready(f"http://127.0.0.1:{port}/v2/models/bare/ready", bares[label], scratch / f"{label}-server.log")
        single = json.dumps(v2_request(one, "bench"))
        results = {"raw_predict_p50_ms": round(statistics.median(floor) * 1000, 3),
                   "raw_predict_p99_ms": round(sorted(floor)[int(len(floor) * 0.99) - 1] * 1000, 3)}
        urls = {"cnai": f"http://127.0.0.1:{ours_port}/v2/models/flight-delay/infer",
                "bare": f"http://127.0.0.1:{bare_port}/v2/models/bare/infer",
                "bare_quiet": f"http://127.0.0.1:{quiet_port}/v2/models/bare/infer"}
        for connections in (1, 8):
            # Short rounds, the servers taking turns: this VM's speed drifts by 2x within minutes,
            # so one long run each would compare the machine at different moments.
            rounds: dict[str, list[dict[str, float]]] = {label: [] for label in urls}
            for _ in range(ROUNDS):
                for label, url in urls.items():
                    rounds[label].append(wrk(url, single, connections, DURATION_S / ROUNDS))
            for label, runs in rounds.items():
                results[f"{label}_{connections}_clients"] = {
                    key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
            for label in ("bare", "bare_quiet"):
                ratios = [ours["requests_per_s"] / bare["requests_per_s"] for ours, bare in zip(rounds["cnai"], rounds[label], strict=True)]
                results[f"throughput_vs_{label}_{connections}_clients"] = round(statistics.median(ratios), 3)
                results[f"throughput_vs_{label}_{connections}_clients_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        batch = v2_request(sample, "batch")
        session = requests.Session()
        started = time.perf_counter()
        for _ in range(10):
            session.post(f"http://127.0.0.1:{ours_port}/v2/models/flight-delay/infer", json=batch).raise_for_status()
        results["batch_1000_rows_per_s"] = round(10 * len(sample) / (time.perf_counter() - started))
    finally:
        for process in (ours, *bares.values()):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    report("serving", "python benchmarks/serving.py", results,
           {"cnai_1_clients.p99_ms": "<= 5", "throughput_vs_bare": ">= 1.0"})


if __name__ == "__main__":
    main()
