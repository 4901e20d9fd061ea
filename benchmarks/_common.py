"""Shared by the benchmark scripts: timing, peak memory, the machine, and where results go.

Every figure is also given as a ratio to a baseline measured in the same run, because absolute
times drift on shared machines. Results are printed and written to benchmarks/results/<name>.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# The scripts import the example's generator (examples.flights), which lives at the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "os": platform.platform()}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory so far of this process (or its waited-for children), in MB."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return round(usage.ru_maxrss / 1024, 1)


@contextmanager
def timed(into: dict[str, float], key: str):
    started = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - started, 4)


def median_of(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_in_subprocess(code: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON line. Adds that process tree's peak RSS."""
    script = f"import json, resource\n{code}\n"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_with_peak(command: list[str], env: dict[str, str] | None = None) -> tuple[str, str, int, float]:
    """Run `command`; its stdout, stderr, exit code and its process tree's peak resident set in MB
    (Python, Spark's JVM, DuckDB, servers it starts), sampled every 0.2 s."""
    import threading

    import psutil

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watched, peak = psutil.Process(process.pid), 0.0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()) / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    return stdout, stderr, process.returncode, round(peak)


def report(name: str, command: str, results: dict[str, Any], targets: dict[str, str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    document = {"benchmark": name, "command": command, "machine": machine(),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results, "targets": targets}
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(json.dumps(document, indent=2, default=str))
