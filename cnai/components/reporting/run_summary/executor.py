"""run summary: duration, energy and CO2 of every step, from what each step recorded on its outputs."""

from __future__ import annotations

from typing import Any

from cnai.core.artifacts import atomic_output


def summarize_run(summary: str, upstream_metadata: dict[str, dict] | None = None, **_artifact_paths: str) -> dict[str, Any]:
    """A Markdown table of the steps behind the given artifacts (each input is one step's output)."""
    steps: dict[str, dict] = {}
    for argument, metadata in (upstream_metadata or {}).items():
        if "carbon" not in metadata:
            continue
        key = metadata.get("lineage_run_id", argument)  # two outputs of one step run count once
        steps.setdefault(key, {"step": metadata.get("step", argument), "outputs": [], **metadata})["outputs"].append(argument)
    rows = sorted(steps.values(), key=lambda s: s.get("started_at", ""))
    energy = sum(s["carbon"]["energy_kwh"] for s in rows)
    co2 = sum(s["carbon"]["emissions_kg_co2eq"] for s in rows)
    lines = ["# Run summary: carbon per step", "",
             "| step | started (UTC) | duration | energy kWh | kg CO2eq | outputs |", "|---|---|---|---|---|---|"]
    lines += [f"| {s['step']} | {s.get('started_at', '')[:19]} | {s.get('duration_s', 0):.1f} s | {s['carbon']['energy_kwh']:.3e} | "
              f"{s['carbon']['emissions_kg_co2eq']:.3e} | {', '.join(s['outputs'])} |" for s in rows]
    lines += [f"| **total** | | {sum(s.get('duration_s', 0) for s in rows):.1f} s | **{energy:.3e}** | **{co2:.3e}** | |", "",
              f"Measured by codecarbon's offline tracker ({rows[0]['carbon'].get('tracker', '') if rows else ''}); "
              "a step answered from cache shows the run that computed it (its start time)."]
    with atomic_output(summary) as staging:
        staging.write_text("\n".join(lines) + "\n")
    return {"steps": len(rows), "energy_kwh": energy, "emissions_kg_co2eq": co2,
            "output_metadata": {"summary": {"steps": len(rows), "energy_kwh": energy, "emissions_kg_co2eq": co2}}}
