"""What a person sees while a pipeline runs on this machine: one line per step (running with its
elapsed time, then done with duration, energy and CO2, or failed with its log), not the thousands
of lines kfp.local, Spark, Great Expectations and codecarbon print. Every step's whole output goes
to a log file beside its artifacts; `--verbose` (CNAI_VERBOSE=1) streams it all as well.

kfp.local has no hook for its task output: its module-level `run_local_subprocess` and its logger
context are replaced for the duration of a run (and put back after), and so is its task order, for
the lines to come in the step table's order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnai.core.progress import progress_in

VERBOSE_ENV = "CNAI_VERBOSE"
STEP_LOG = "step.log"  # in each task's artifact directory
PROGRESS_EVERY_S = 30.0  # a step's progress without a terminal: a line at most this often


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def task_of(full_command: list[str]) -> tuple[str, Path]:
    """(the component's function, the task's artifact directory) from the executor input kfp.local passes."""
    arguments = dict(zip(full_command, full_command[1:], strict=False))
    function = arguments.get("--function_to_execute", "step")
    try:
        output_file = json.loads(arguments["--executor_input"])["outputs"]["outputFile"]
        return function, Path(output_file.removeprefix("file://")).parent
    except (KeyError, ValueError):
        return function, Path.cwd()


def _step_event(run_id: str, step: str) -> dict[str, Any]:
    """The step's COMPLETE or FAIL lineage event in this pipeline run (its energy and CO2)."""
    from cnai.core.tracking import read_events

    for event in reversed(read_events()):
        parent = (event["run"]["facets"].get("parent") or {}).get("run", {}).get("runId")
        if parent == run_id and event["eventType"] in ("COMPLETE", "FAIL") and event["job"]["name"].endswith(f".{step}"):
            return event
    return {}


class StepConsole:
    """Live lines on a terminal (rich's progress display), one plain line per event otherwise."""

    def __init__(self, run_id: str, log_file: Path) -> None:
        self.run_id, self.log_file = run_id, log_file
        self.logs: dict[str, Path] = {}
        self.terminal = sys.stdout.isatty() and not verbose()
        self.progress = None

    def __enter__(self) -> StepConsole:
        if self.terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True)
            self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress.console.print(line, highlight=False, markup=False)
        else:
            print(line, flush=True)

    def run_task(self, full_command: list[str], env_vars: dict[str, str] | None = None) -> int:
        """kfp.local's `run_local_subprocess`, with the output going to the step's log."""
        from cnai.backends.local.warm_steps import task_process
        from cnai.orchestration.catalog import step_name

        function, task_dir = task_of(full_command)
        step = step_name(function)
        task_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs[step] = task_dir / STEP_LOG
        shown = self.progress.add_task(f"{step} running") if self.progress is not None else None
        if self.progress is None and not verbose():
            self.say(f"{step}: running")
        started = said = time.perf_counter()
        env = {**os.environ, **(env_vars or {})}
        with log_path.open("w") as log, task_process(full_command, env) as process:
            for line in iter(process.stdout.readline, ""):
                log.write(line)
                if verbose():
                    print(line, end="", flush=True)
                elif (news := progress_in(line)) is not None:
                    if shown is not None:
                        self.progress.update(shown, description=f"{step} running: {news}")
                    elif time.perf_counter() - said >= PROGRESS_EVERY_S:  # a log file or CI: now and then
                        said = time.perf_counter()
                        self.say(f"{step}: {news}")
            code = process.wait()
        seconds = time.perf_counter() - started
        if shown is not None:
            self.progress.remove_task(shown)
        self.say(self._finished_line(step, code, seconds, log_path))
        return code

    def _finished_line(self, step: str, code: int, seconds: float, log_path: Path) -> str:
        if code != 0:
            return f"✗ {step}: failed after {seconds:.1f} s; its log: {log_path}"
        facets = _step_event(self.run_id, step).get("run", {}).get("facets", {})
        carbon, work = facets.get("cnai_carbon") or {}, (facets.get("cnai_step") or {}).get("duration_s")
        energy, co2 = carbon.get("energy_kwh"), carbon.get("emissions_kg_co2eq")
        measured = f", {energy:.2e} kWh, {co2:.2e} kg CO2" if energy is not None and co2 is not None else ""
        # The process's whole time (imports, start-up) and, as the table shows it, the step's own work.
        own = f" (its work {work:.1f} s)" if isinstance(work, int | float) else ""
        return f"✓ {step}: done in {seconds:.1f} s{own}{measured}"


@contextlib.contextmanager
def quiet_kfp_local(console: StepConsole, components) -> Iterator[None]:
    """kfp.local's task output through `console`; its own log lines into the run's log file; its
    tasks in the order of the step table (`components`: the running pipeline's spec's)."""
    from kfp.local import graph_utils, logging_utils
    from kfp.local import subprocess_task_handler as handler

    from cnai.orchestration.catalog import running_order

    def in_table_order(tasks) -> list[str]:
        return running_order(tasks, components)[::-1]  # kfp.local pops the next task off the end

    @contextlib.contextmanager
    def to_log_file() -> Iterator[None]:
        logger = logging.getLogger()
        saved_level, saved_handlers = logger.level, logger.handlers[:]
        file_handler = logging.FileHandler(console.log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.handlers[:] = [file_handler]
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            file_handler.close()
            logger.handlers[:] = saved_handlers
            logger.setLevel(saved_level)

    import warnings

    replaced = ("local_logger_context", "indented_print", "print_horizontal_line")
    saved = handler.run_local_subprocess, graph_utils.topological_sort_tasks, {name: getattr(logging_utils, name) for name in replaced}
    console.log_file.parent.mkdir(parents=True, exist_ok=True)
    handler.run_local_subprocess = console.run_task
    graph_utils.topological_sort_tasks = in_table_order
    if not verbose():
        logging_utils.local_logger_context = to_log_file
        logging_utils.indented_print = contextlib.nullcontext
        logging_utils.print_horizontal_line = lambda: None
    try:
        with warnings.catch_warnings():
            if not verbose():
                # Nothing a user can act on: kfp.local ignores cluster-only task settings and warns that
                # our image is not its Python (the SubprocessRunner runs this environment on purpose).
                warnings.filterwarnings("ignore", category=UserWarning, module=r"kfp\.local\.orchestrator\.task_executor")
                warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"kfp\.local\.subprocess_task_handler")
            yield
    finally:
        handler.run_local_subprocess, graph_utils.topological_sort_tasks, originals = saved
        for name, original in originals.items():
            setattr(logging_utils, name, original)
