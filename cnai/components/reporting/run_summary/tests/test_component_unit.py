from cnai.components.reporting.run_summary.executor import summarize_run


def test_one_row_per_step_run_in_time_order_with_totals(tmp_path):
    carbon = {"energy_kwh": 1e-4, "emissions_kg_co2eq": 4e-5, "tracker": "codecarbon 2.8.4 offline"}
    upstream = {
        "model": {"step": "train", "lineage_run_id": "b", "started_at": "2026-01-01T00:02:00", "duration_s": 2.0, "carbon": carbon},
        "holdout": {"step": "train", "lineage_run_id": "b", "started_at": "2026-01-01T00:02:00", "duration_s": 2.0, "carbon": carbon},
        "events": {"step": "ingest", "lineage_run_id": "a", "started_at": "2026-01-01T00:00:00", "duration_s": 10.0, "carbon": carbon},
        "untracked": {"rows": 3},
    }
    facts = summarize_run(str(tmp_path / "summary.md"), upstream_metadata=upstream)
    table = (tmp_path / "summary.md").read_text()
    assert facts["steps"] == 2 and abs(facts["energy_kwh"] - 2e-4) < 1e-12
    assert table.index("| ingest |") < table.index("| train |")
    assert "| train | 2026-01-01T00:02:00 | 2.0 s | 1.000e-04 | 4.000e-05 | model, holdout |" in table
    assert "| **total** | | 12.0 s | **2.000e-04** | **8.000e-05** | |" in table
