"""kfp.local as `cnai run` drives it: task inputs reach the task as they were given."""

from kfp import dsl, local

from cnai.orchestration.local_run import keep_executor_arguments


@dsl.component(base_image="python:3.11")
def echo(text: str) -> str:
    return text


def test_an_input_holding_python3_reaches_the_task_unchanged(tmp_path):
    """A table shipped in a PyPI package lives under `.../lib/python3.11/site-packages/...`;
    kfp 2.17 alone would rewrite that `python3` into this interpreter's path."""
    keep_executor_arguments()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)
    path = "/opt/venv/lib/python3.11/site-packages/pkg/data/table.csv"
    assert echo(text=path).output == path


def test_the_artifacts_printed_are_this_runs_even_when_another_run_started_later(tmp_path):
    from cnai.orchestration.local_run import artifacts_of

    root = tmp_path / "pipeline_root"
    ours, later = root / "cnai-training-1", root / "cnai-training-2"
    for directory in (ours, later):
        (directory / "validate").mkdir(parents=True)
    rows = [{"step": "tune", "outputs": {}}, {"step": "validate", "outputs": {"validated": str(ours / "validate" / "x")}}]
    assert artifacts_of(rows, root) == ours
    assert artifacts_of([{"step": "tune", "outputs": {}}], root) is None


def test_monitor_with_no_traffic_yet_says_so_and_succeeds(small_tables, tmp_path, capsys, monkeypatch):
    """Right after a first deploy the inference log is empty: the monitoring pipeline failed in
    drift-check with "no rows to check"."""
    import os

    from cnai.cli import main
    from conftest import write_small_project

    monkeypatch.setattr(os, "environ", os.environ.copy())
    path, config = write_small_project(tmp_path, small_tables)
    assert main(["--config", str(path), "monitor"]) == 0
    assert "nothing to check yet" in capsys.readouterr().out
    assert not (tmp_path / "home" / "pipeline_root").exists(), "no pipeline was started"
    # From a new user's trial: 2 logged rows took 16 s of Spark and a pipeline to be "too few to judge".
    from cnai.backends.local.deployment import serving_dir
    from cnai.backends.local.model_server import inference_log_dir
    from cnai.core.config import load_config
    from cnai.core.inference_log import InferenceLog

    name = load_config(path).model_name
    InferenceLog(inference_log_dir(serving_dir(), name)).append({"distance": [100.0, 200.0]}, [0.1, 0.9], "1")
    assert main(["--config", str(path), "monitor"]) == 0
    assert f"Only 2 row(s) logged for {name}" in capsys.readouterr().out
    assert not (tmp_path / "home" / "pipeline_root").exists(), "no pipeline was started"


def test_no_drift_says_what_drifted_and_why_it_was_not_enough():
    """Found by a new user: the step table said only "no drift" while 4 of 32 features had drifted."""
    from cnai.orchestration.local_run import _no_drift

    said = _no_drift({"drifted_features": ["educ", "tvhours"], "features_checked": 32, "drift_share": 0.0625,
                      "drift_share_threshold": 0.3})
    assert said == ("no drift: 2 of 32 features drifted (educ, tvhours), 6% < monitoring.drift_share_threshold 0.3, "
                    "and the predictions did not")
    assert _no_drift({"drifted_features": [], "features_checked": 32}) == "no drift"


def test_drift_says_whether_the_features_or_the_predictions_decided_it():
    """From a new user's trial: "drift detected in age, yrs_married", though 2 of 7 features were under
    the threshold and the predictions had decided it."""
    from cnai.orchestration.local_run import _drift

    facts = {"drifted_features": ["age", "yrs_married"], "drift_share": 2 / 7, "drift_share_threshold": 0.3}
    assert _drift({**facts, "prediction_drifted": True}) == ("drift detected in the predictions (and in age, yrs_married: "
                                                             "29% of features, under monitoring.drift_share_threshold 0.3)")
    assert _drift({**facts, "drift_share": 0.5, "prediction_drifted": True}) == "drift detected in age, yrs_married and in the predictions"
    assert _drift({**facts, "drift_share": 0.5, "prediction_drifted": False}) == "drift detected in age, yrs_married"
    assert _drift({"drifted_features": [], "prediction_drifted": True}) == "drift detected in the predictions"


def test_a_retrain_whose_training_came_from_the_cache_is_not_called_a_retrain():
    """Found by a new user: drift on the same data retrained from kfp's cache, `cnai monitor` said
    "Retrained" and the gate compared the model with itself ("not better by +0.0000")."""
    from cnai.orchestration.monitor import retrain_outcome

    def rows(train, deploy="skipped (gate: keep production)"):
        return [{"step": "drift_check", "status": "ran"}, {"step": "ingest", "status": train},
                {"step": "train", "status": train}, {"step": "evaluate", "status": "ran"}, {"step": "deploy", "status": deploy}]

    said = retrain_outcome(rows("cached"))
    assert said.startswith("The retrain found nothing new to train on: its steps came from kfp's cache") and "Retrained" not in said
    assert "the same data gives the same model" in said and said.endswith("cnai monitor --current NEW --retrain-events NEW")
    # From a new user's trial: the log's monitoring was told to give --current, which it does not take.
    assert retrain_outcome(rows("cached"), from_log=True).endswith("to train on newly labelled rows: cnai monitor --retrain-events NEW")
    assert "--retrain-events new.csv is the data" in retrain_outcome(rows("cached"), "new.csv")
    assert retrain_outcome(rows("ran", deploy="ran")).startswith("Retrained on data.events as cnai.yaml names it, all its rows "
                                                                 "(the gate deployed the new model)")
    assert retrain_outcome(rows("ran"), "new.csv") is None  # trained on the rows given: the table says the rest
    no_drift = [{"step": "drift_check", "status": "ran"}, {"step": "train", "status": "skipped (no drift)"},
                {"step": "evaluate", "status": "skipped (no drift)"}]
    assert retrain_outcome(no_drift) is None
    # From a new user's trial: rows given to retrain on went unused without a word.
    assert retrain_outcome(no_drift, "new.csv").startswith("--retrain-events new.csv was not used: the retrain runs on drift only")
    # Not when the retrain ran on drift and failed (a new user was told it "was not used").
    failed = [{"step": "drift_check", "status": "ran"}, {"step": "ingest", "status": "FAILED"}, {"step": "evaluate", "status": "not run"}]
    assert retrain_outcome(failed, "new.csv") is None


def test_the_cnai_program_exits_as_python_would_after_its_command(tmp_path):
    """`cnai` (cnai.cli.entry) skips tearing down the libraries a run imported, but not what an exit
    owes: the command's exit status, atexit hooks, threads left running, and what was printed."""
    import subprocess
    import sys

    program = (
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        "from cnai import cli\n"
        f"marker = Path({str(tmp_path)!r})\n"
        "atexit.register(lambda: (marker / 'atexit').write_text('ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), (marker / 'thread').write_text('joined'))).start()\n"
        "print('printed before', end='')\n"
        f"sys.argv = ['cnai', '--config', {str(tmp_path / 'missing.yaml')!r}, 'run']\n"
        "cli.entry()\n"
    )
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2 and "no such configuration file" in finished.stderr
    assert finished.stdout == "printed before"
    assert (tmp_path / "atexit").read_text() == "ran" and (tmp_path / "thread").read_text() == "joined"
    # From a new user's trial: `cnai lineage | head -3` ended in a BrokenPipeError traceback. A reader
    # that goes away ends the command as it ends a Unix tool, without a word.
    program = ("from cnai import cli\n"
               "def main():\n"
               "    for i in range(200000):\n"
               "        print('lineage line', i)\n"
               "cli.main = main\n"
               "cli.entry()\n")
    reader = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.readline()
    reader.stdout.close()
    assert reader.wait(timeout=60) == 141 and b"Traceback" not in reader.stderr.read()


def test_the_gates_reason_is_said_whole_once_after_the_table_when_the_table_cuts_it(capsys):
    """Found by a new user: why the model was (not) promoted was cut off in the table, and said
    whole nowhere in the terminal."""
    from cnai.orchestration.local_run import print_table

    reason = ("kept production v3: candidate rmse=612.3456 is not better than production's 598.1234 "
              "on the same held-out rows (evaluation.metric rmse, lower is better)")
    row = {"step": "evaluate", "status": "ran", "duration_s": 1.0, "energy_kwh": None, "co2_kg": None, "facts": {}}
    print_table([{**row, "step": "validate", "output": "5 rows valid, 0 quarantined"}, {**row, "output": reason}])
    out = capsys.readouterr().out
    assert out.count(reason) == 1 and out.rstrip().endswith(reason)
    assert "5 rows valid" in out.splitlines()[3] and reason[:80] in out.splitlines()[4]
    print_table([{**row, "output": "no model in production; candidate rmse=612.3456"}])
    assert capsys.readouterr().out.count("no model in production") == 1  # whole in the table: not said twice


def test_retrain_events_are_read_in_their_own_format(tmp_path):
    """From a new user's trial: `--retrain-events new_pq` (a Parquet folder) in a CSV project was
    read as a CSV, failing as "declared column(s) not found; the file has ['PAR1...']"."""
    import pandas as pd

    from cnai.orchestration.monitor import retrain_events_arguments

    pd.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / "new_pq", partition_cols=["a"])
    (tmp_path / "new.csv").write_text("a\n1\n")
    assert retrain_events_arguments(str(tmp_path / "new_pq"))["events_format"] == "parquet"
    assert retrain_events_arguments(str(tmp_path / "new.csv"))["events_format"] == "csv"


def test_the_ui_shows_no_step_of_a_failed_run_after_its_failure_as_cached():
    """From a new user's trial: a monitoring run that failed at ingest showed validate .. evaluate as
    "cached", with an earlier run's gate banner and scores; the command's table said "not run"."""
    from cnai.orchestration.ui import pipeline_runs, run_steps

    def event(run_id: str, pipeline: str, step: str, kind: str, time: str) -> dict:
        return {"eventType": kind, "eventTime": time, "job": {"name": f"cnai.{step}"}, "inputs": [], "outputs": [],
                "run": {"facets": {"parent": {"run": {"runId": run_id}, "job": {"name": pipeline}}}}}

    earlier = [event("a", "cnai-training", step, "COMPLETE", f"2026-12-01T00:0{i}:00Z")
               for i, step in enumerate(["ingest", "validate", "tune", "train", "evaluate"])]
    failed = [event("b", "cnai-monitoring", "drift_check", "COMPLETE", "2026-12-02T00:00:00Z"),
              event("b", "cnai-monitoring", "ingest", "FAIL", "2026-12-02T00:01:00Z")]
    run = next(r for r in pipeline_runs(earlier + failed) if r["run_id"] == "b")
    assert {name: status for name, (_, status) in run_steps(earlier + failed, run).items()} == {
        "drift_check": "ran", "ingest": "failed"}
    from cnai.orchestration.report import step_events  # cnai report, the same (a review)

    assert [(step, ours) for step, _, ours in step_events(earlier + failed, "b")] == [("drift_check", True), ("ingest", True)]
    # A failed run's steps before the failure did come from the cache.
    late = [event("c", "cnai-training", "ingest", "COMPLETE", "2026-12-03T00:00:00Z"),
            event("c", "cnai-training", "tune", "FAIL", "2026-12-03T00:01:00Z")]
    run = next(r for r in pipeline_runs(earlier + late) if r["run_id"] == "c")
    assert {name: status for name, (_, status) in run_steps(earlier + late, run).items()} == {
        "ingest": "ran", "validate": "cached", "tune": "failed"}


def test_the_report_shows_a_local_steps_parameters_without_the_clusters_and_no_minimum_as_none():
    """From a new user's trial: every step of a local run listed the Kubeflow service account and the
    registry's URL, and evaluate a minimum_for_first_model of 1e+300."""
    from cnai.orchestration.report import shown_parameters

    assert shown_parameters({"metric": "rmse", "minimum_for_first_model": 1e300, "cluster": {"namespace": "x"},
                             "target": "local"}) == {"metric": "rmse", "minimum_for_first_model": "none", "target": "local"}
    assert "cluster" in shown_parameters({"cluster": {"namespace": "x"}, "target": "kubeflow"})
