"""What `cnai run` prints: one line per step, each step's whole output in its log; --verbose streams it."""

import os

import pytest
from kfp import dsl

from cnai.orchestration.console import STEP_LOG, VERBOSE_ENV
from cnai.orchestration.local_run import run_locally


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def chatty(lines: int) -> int:
    import warnings

    for i in range(lines):
        print(f"library chatter {i}")
    warnings.warn("a warning only the log needs", stacklevel=1)
    return lines


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def breaks():
    raise SystemExit("the real cause, printed by the step")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def searching(trials: int):
    from cnai.core.progress import say_progress

    for i in range(trials):
        print(f"library chatter {i}")
        say_progress(f"trial {i + 1}/{trials} complete")


@dsl.pipeline(name="searching")
def searching_pipeline(trials: int):
    searching(trials=trials)


@dsl.pipeline(name="chatty")
def chatty_pipeline(lines: int):
    chatty(lines=lines).set_display_name("talks a lot")  # a setting kfp.local warns it ignores


@dsl.pipeline(name="breaking")
def breaking_pipeline():
    breaks()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    return tmp_path


def test_a_run_prints_a_line_per_step_and_keeps_the_whole_output_in_its_log(home, capfd):
    ok, _ = run_locally(chatty_pipeline, "chatty", {"lines": 400}, home, use_cache=False)
    out, err = capfd.readouterr()
    assert ok
    printed = (out + err).splitlines()
    assert "✓ chatty: done in" in out
    assert not [line for line in printed if "library chatter" in line or "warn" in line.lower()], printed
    assert len(printed) < 20, printed
    [log] = list((home / "pipeline_root").rglob(STEP_LOG))
    text = log.read_text()
    assert "library chatter 0" in text and "library chatter 399" in text and "a warning only the log needs" in text


def test_the_time_said_is_the_pipelines_and_the_commands(home, capfd):
    """Found by a new user: "succeeded in 7 s" against 15 s on the clock (the run's Spark, the checks
    and the compile come before kfp.local's own run)."""
    import re
    import time

    ok, _ = run_locally(chatty_pipeline, "chatty", {"lines": 1}, home, use_cache=False, began=time.perf_counter() - 60)
    out, _ = capfd.readouterr()
    # No Spark was started for this run (a run's tables may all be typed without one): none is said.
    said = re.search(r"Pipeline succeeded in (\d+) s \((\d+) s since the command began: the checks and "
                     r"the compile come first\)\.", out)
    assert ok and said, out
    assert int(said.group(2)) >= int(said.group(1)) + 60


def test_verbose_streams_everything(home, capfd, monkeypatch):
    monkeypatch.setenv(VERBOSE_ENV, "1")
    run_locally(chatty_pipeline, "chatty", {"lines": 5}, home, use_cache=False)
    out, _ = capfd.readouterr()
    assert "library chatter 4" in out and "Executing task" in out  # kfp.local's own lines too


def test_a_failed_step_names_itself_and_its_log(home, capfd):
    ok, _ = run_locally(breaking_pipeline, "breaking", {}, home, use_cache=False)
    out, err = capfd.readouterr()
    assert not ok
    [log] = list((home / "pipeline_root").rglob(STEP_LOG))
    assert "✗ breaks: failed after" in out and str(log) in out
    assert "the real cause, printed by the step" in log.read_text()
    assert "Pipeline FAILED" in err and "\x1b[" not in err
    assert os.environ.get(VERBOSE_ENV) is None


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def decides() -> bool:
    return True


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def acts():
    pass


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def sums_up():
    pass


@dsl.pipeline(name="branching")
def branching_pipeline():
    decision = decides()
    sums_up().after(decision)
    with dsl.If(decision.output == True, name="act"):  # noqa: E712 (KFP condition, not Python)
        acts()


def test_the_live_lines_come_in_the_order_of_the_table(home, capfd):
    """Found by a new user: the live lines had run_summary after smoke_test (kfp.local's own order),
    the table before deploy (the pipeline's)."""
    from cnai.orchestration.catalog import pipeline_steps

    ok, rows = run_locally(branching_pipeline, "branching", {}, home, use_cache=False)
    out, _ = capfd.readouterr()
    live = [line.split(":")[0].removeprefix("✓ ") for line in out.splitlines() if line.startswith("✓ ")]
    assert ok and live == [r["step"] for r in rows] == pipeline_steps(branching_pipeline) == ["decides", "sums_up", "acts"]


def test_a_steps_progress_is_said_beside_it_now_and_then_without_a_terminal(home, capfd, monkeypatch):
    """From a new user: tune ran for minutes with no word of its trials (its progress went to a
    logger nothing showed). On a terminal it is the running line's; elsewhere a line at most every
    PROGRESS_EVERY_S, so a short step adds none."""
    from cnai.orchestration import console

    assert run_locally(searching_pipeline, "searching", {"trials": 3}, home, use_cache=False)[0]
    out, _ = capfd.readouterr()
    assert "trial" not in out and "chatter" not in out, out
    monkeypatch.setattr(console, "PROGRESS_EVERY_S", 0.0)
    assert run_locally(searching_pipeline, "searching", {"trials": 3}, home, use_cache=False)[0]
    out, _ = capfd.readouterr()
    assert [line for line in out.splitlines() if "trial" in line] == [f"searching: trial {i}/3 complete" for i in (1, 2, 3)], out
