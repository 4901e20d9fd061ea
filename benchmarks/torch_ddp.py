"""The PyTorch network (`model.kind: torch_tabular`) trained with DDP in 1 and in 2 processes on this
machine: samples per second, training time and energy per epoch, the 1-process run the baseline.

    python benchmarks/torch_ddp.py        # BENCH_ROWS=200000 BENCH_EPOCHS=5

The same seeded flights rows and network for both; early stopping off (patience above the epochs)
so both train the same number of epochs. Samples per second are the whole epoch's rows (every
rank's) over the epoch's time, as rank 0 records them; energy is codecarbon's for the whole fit
(torchrun and its ranks included), divided by the epochs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "5"))


def fit(frame, y, categorical: list[str], numeric: list[str], processes: int) -> dict:
    from cnai.core.tracking import CarbonMeter
    from cnai.models.kinds import model_kind

    estimator = model_kind("torch_tabular").build("binary", categorical, numeric, {
        "processes": processes, "max_epochs": EPOCHS, "patience": EPOCHS + 1, "batch_size": 512}, 3)
    meter = CarbonMeter("USA")
    meter.start()
    started = time.perf_counter()
    estimator.fit(frame, y)
    wall = time.perf_counter() - started
    carbon = meter.stop()
    epochs = estimator.history_
    return {"processes": processes, "epochs": len(epochs), "fit_wall_s": round(wall, 2),
            "samples_per_s": round(statistics.median(e["samples_per_s"] for e in epochs), 1),
            "epoch_s": round(statistics.median(e["seconds"] for e in epochs), 3),
            "energy_kwh_per_epoch": carbon["energy_kwh"] / len(epochs),
            "final_valid_loss": round(epochs[-1]["valid_loss"], 4),
            "ranks_equal": len({r["parameters"] for r in estimator.ranks_}) == 1}


def main() -> None:
    from examples.flights.generate import generate

    flights, _ = generate(ROWS, seed=5)
    flights = flights.dropna(subset=["arr_delay"])
    categorical, numeric = ["carrier", "origin", "dest"], ["month", "day", "hour", "distance", "dep_delay"]
    y = (flights["arr_delay"] > 15).astype(int).to_numpy()
    one = fit(flights[categorical + numeric], y, categorical, numeric, 1)
    two = fit(flights[categorical + numeric], y, categorical, numeric, 2)
    report("torch_ddp", f"BENCH_ROWS={ROWS} BENCH_EPOCHS={EPOCHS} python benchmarks/torch_ddp.py", {
        "rows": len(flights), "cores": os.cpu_count(),
        "baseline_1_process": one, "ddp_2_processes": two,
        "speedup_samples_per_s": round(two["samples_per_s"] / one["samples_per_s"], 2),
    }, {"ddp_2_processes": "both ranks end with equal parameters; samples/s reported against 1 process"})


if __name__ == "__main__":
    main()
