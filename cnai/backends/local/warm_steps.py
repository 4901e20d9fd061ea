"""Local steps forked from one warm interpreter, instead of each starting Python and importing its
libraries again.

kfp.local's SubprocessRunner starts every task as a new `python -m kfp.dsl.executor_main`, and
each step paid kfp's, pandas', scikit-learn's and MLflow's imports again (BENCHMARKS.md,
time-to-model). `cnai run` starts `warm_server` beside its Spark; a task of a lightweight component
is forked from it, with the task's own environment, working directory, `PYTHONPATH` and
arguments, and runs the executor and the component's code exactly as the new process would, its
output (stdout and stderr) on one stream.

A command of another shape (a component that pip-installs packages first), a server that is not
there, and `CNAI_FRESH_STEP_PROCESSES=1` start a new process, as kfp.local does.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

from cnai.backends.local.warm_server import EXECUTOR_MODULE, STATUS, read_exactly, send
from cnai.core.processes import die_with_parent

FRESH_ENV = "CNAI_FRESH_STEP_PROCESSES"
PROGRAM_MARK = '"$program_path/ephemeral_component.py"'


def fresh_processes() -> bool:
    return os.environ.get(FRESH_ENV, "") not in ("", "0", "false") or sys.platform != "linux"


class WarmInterpreter:
    """The warm server of this process, and the socket pair it is asked through."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cnai.backends.local.warm_server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.channel = ours
        self.lock = threading.Lock()  # one task at a time on the channel

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, source: str, arguments: list[str], env: dict[str, str]) -> TaskProcess:
        reading, writing = os.pipe()
        self.lock.acquire()
        try:
            request = {"source": source, "arguments": arguments, "env": env, "cwd": os.getcwd()}
            send(self.channel, json.dumps(request).encode(), [writing])
            os.close(writing)
            pid = STATUS.unpack(read_exactly(self.channel, STATUS.size))[0]
        except BaseException:
            os.close(reading)
            with contextlib.suppress(OSError):
                os.close(writing)
            self.lock.release()
            raise
        return TaskProcess(self, pid, reading)

    def stop(self) -> None:
        self.channel.close()  # the server exits at end of input
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class TaskProcess:
    """A task forked from the warm interpreter, read like a `subprocess.Popen` with
    `stdout=PIPE, stderr=STDOUT, text=True`."""

    def __init__(self, interpreter: WarmInterpreter, pid: int, output_fd: int) -> None:
        self._interpreter, self.pid, self.returncode = interpreter, pid, None
        self.stdout: io.TextIOBase = open(output_fd, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in wait

    def wait(self) -> int:
        if self.returncode is None:
            try:
                self.returncode = STATUS.unpack(read_exactly(self._interpreter.channel, STATUS.size))[0]
            except (EOFError, OSError):  # the server died with the task: a failure, as a killed process is
                self.returncode = -signal.SIGKILL
            finally:
                self._interpreter.lock.release()
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def __enter__(self) -> TaskProcess:
        return self

    def __exit__(self, *failure) -> None:
        if failure[0] is not None and self.returncode is None:  # interrupted while the task runs
            self.terminate()
        self.stdout.close()
        self.wait()


_interpreter: WarmInterpreter | None = None


def start() -> WarmInterpreter | None:
    """This process's warm interpreter, started now if it is not running (its imports overlap the
    run's Spark start, checks and compile; the first task waits for them); None where tasks start
    fresh processes."""
    global _interpreter
    if fresh_processes():
        return None
    if _interpreter is None or not _interpreter.alive():
        try:
            _interpreter = WarmInterpreter()
        except OSError:  # cannot start one here: each task starts its own process
            return None
    return _interpreter


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


@contextlib.contextmanager
def task_process(full_command: list[str], env: dict[str, str]) -> Iterator[TaskProcess | subprocess.Popen]:
    """The task's process: forked from the warm interpreter when it can be, else a new one as kfp.local starts it."""
    program = None if fresh_processes() else component_program(full_command)
    interpreter = start() if program is not None else None
    process: TaskProcess | subprocess.Popen | None = None
    if interpreter is not None:
        with contextlib.suppress(OSError, EOFError):  # the server is gone: a new process
            process = interpreter.fork(*program, env)
    if process is None:
        process = subprocess.Popen(full_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                   env=env)
    with process:
        yield process
