"""Local steps forked from one warm interpreter, instead of each starting Python and importing its
libraries again.

kfp.local's SubprocessRunner starts every task as a new `python -m kfp.dsl.executor_main`: each
step pays kfp's, pandas', scikit-learn's, MLflow's and Great Expectations' imports again
(BENCHMARKS.md, time-to-model). Here a task of a lightweight component runs in a process that
multiprocessing's fork server forks from an interpreter that imported those libraries once
(`warm_preload.PRELOADED`), with the task's own environment, working directory, `PYTHONPATH` and arguments: the
executor and the component's code run in it exactly as in the new process, and its output (stdout
and stderr) comes back on one stream.

What is not imported in advance: our own package (a test or a team edits it between runs, and each
step imports it fresh), Feast (a team's own repo imports it with typeguard's checks), PyTorch and
PySpark (their clients start threads and channels that a fork must not copy). A command of another
shape (a component that pip-installs packages) and `CNAI_FRESH_STEP_PROCESSES=1` start a new
process, as kfp.local does.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

FRESH_ENV = "CNAI_FRESH_STEP_PROCESSES"
EXECUTOR_MODULE = "kfp.dsl.executor_main"
PROGRAM_MARK = '"$program_path/ephemeral_component.py"'

PRELOAD_MODULE = "cnai.backends.local.warm_preload"  # what the fork server imports: its PRELOADED libraries


def fresh_processes() -> bool:
    return os.environ.get(FRESH_ENV, "") not in ("", "0", "false")


def start() -> None:
    """Start the fork server now (it imports the libraries while the run's Spark and compile start),
    once per process; the first task waits for its imports."""
    if fresh_processes() or sys.platform != "linux":
        return
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload([PRELOAD_MODULE])
    try:
        forkserver.ensure_running()
    except OSError:  # no Unix socket here: each task starts its own process
        return


def component_program(full_command: list[str]) -> tuple[str, list[str]] | None:
    """(the component's source, the executor's arguments) of kfp's lightweight component command
    `sh -ec '<write the source to a file; python -m kfp.dsl.executor_main ...>' SOURCE ARGS...`,
    or None for any other command (one that installs packages first runs as kfp.local runs it)."""
    if len(full_command) < 4 or full_command[:2] != ["sh", "-ec"]:
        return None
    script = full_command[2]
    if PROGRAM_MARK not in script or EXECUTOR_MODULE not in script or "pip install" in script:
        return None
    return full_command[3], full_command[4:]


class TaskProcess:
    """A task forked from the warm interpreter, read like a `subprocess.Popen` with
    `stdout=PIPE, stderr=STDOUT, text=True`."""

    def __init__(self, source: str, arguments: list[str], env: dict[str, str]) -> None:
        import multiprocessing

        ours, theirs = socket.socketpair()
        self._process = multiprocessing.get_context("forkserver").Process(
            target=run_task, args=(source, arguments, env, os.getcwd(), theirs), name="cnai-step", daemon=False)
        try:
            self._process.start()
        finally:
            theirs.close()
        self.stdout: io.TextIOBase = ours.makefile("r", encoding="utf-8", errors="replace", newline=None)
        ours.close()  # the file keeps the socket open
        self.pid = self._process.pid

    def wait(self) -> int:
        self._process.join()
        code = self._process.exitcode
        return 128 - code if code is not None and code < 0 else int(code or 0)  # killed by a signal: as a shell says

    def terminate(self) -> None:
        self._process.terminate()

    def __enter__(self) -> TaskProcess:
        return self

    def __exit__(self, *failure) -> None:
        if self._process.exitcode is None and failure[0] is not None:  # interrupted while the task runs
            self._process.terminate()
        self.stdout.close()
        self.wait()


@contextlib.contextmanager
def task_process(full_command: list[str], env: dict[str, str]) -> Iterator[TaskProcess | subprocess.Popen]:
    """The task's process: forked from the warm interpreter when it can be, else a new one as kfp.local starts it."""
    program = None if fresh_processes() or sys.platform != "linux" else component_program(full_command)
    process: TaskProcess | subprocess.Popen | None = None
    if program is not None:
        with contextlib.suppress(OSError, EOFError):  # no fork server (gone, or no Unix socket): a new process
            process = TaskProcess(*program, env)
    if process is None:
        process = subprocess.Popen(full_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                   env=env)
    with process:
        yield process


def run_task(source: str, arguments: list[str], env: dict[str, str], cwd: str, output: socket.socket) -> None:
    """In the forked process: what kfp's command does (the source in a file, then the executor as
    `__main__`), in the task's environment, its output on `output`."""
    import importlib
    import runpy
    import shutil
    import tempfile
    import traceback

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    sys.stdout.reconfigure(line_buffering=True)  # the log shows each line as it is printed
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    os.environ["_KFP_RUNTIME"] = "true"
    # The module search path a new `python -m` process has: its directory, then PYTHONPATH (the
    # project's model code), then the installation's.
    extra = [cwd, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    sys.path[:] = [*extra, *(p for p in sys.path if p not in extra and p not in ("", "."))]
    importlib.invalidate_caches()
    program_dir = tempfile.mkdtemp()
    program = Path(program_dir) / "ephemeral_component.py"
    program.write_text(source)
    sys.argv = [EXECUTOR_MODULE, "--component_module_path", str(program), *arguments]
    try:
        runpy.run_module(EXECUTOR_MODULE, run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException:  # as a new process would print it, without multiprocessing's own header
        traceback.print_exc()
        sys.exit(1)
    finally:
        shutil.rmtree(program_dir, ignore_errors=True)
        import atexit

        atexit._run_exitfuncs()  # a forked process ends with os._exit: what `atexit` registered runs here
