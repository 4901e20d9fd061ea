"""Local steps forked from one warm interpreter, instead of each starting Python and importing its
libraries again.

kfp.local's SubprocessRunner starts every task as a new `python -m kfp.dsl.executor_main`, and
each step paid kfp's, pandas', scikit-learn's and MLflow's imports again (BENCHMARKS.md,
time-to-model). `cnai run` starts `warm_server` beside its Spark; a task of a lightweight component
is forked from it, with the task's own environment, working directory, `PYTHONPATH` and
arguments, and runs the executor and the component's code exactly as the new process would, its
output (stdout and stderr) on one stream.

A command of another shape (a component that pip-installs packages first), a task whose
environment differs in what an interpreter reads as it starts (`warm_server.STARTUP_VARIABLES`),
a task while another runs (kfp's ParallelFor), a server that is not there, and
`CNAI_FRESH_STEP_PROCESSES=1` start a new process, as kfp.local does.

`cnai run`'s own work that needs a preloaded library (the hyperparameter check, the MLflow record,
the repair of the served model) is a call forked from the same interpreter (`call_in_fork`).
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
from collections.abc import Callable, Iterator
from typing import Any

from cnai.backends.local.warm_server import (
    EXECUTOR_MODULE,
    RUNTIME_ENV,
    STATUS,
    read_exactly,
    send,
    startup_settings,
)

FRESH_ENV = "CNAI_FRESH_STEP_PROCESSES"
PROGRAM_MARK = '"$program_path/ephemeral_component.py"'


def fresh_processes() -> bool:
    return os.environ.get(FRESH_ENV, "") not in ("", "0", "false") or sys.platform != "linux"


class WarmInterpreter:
    """The warm server of this process, and the socket pair it is asked through: one task at a
    time (another task meanwhile, from a thread, starts a new process)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # Tasks fork from it, so kfp is imported as in a task. It ends when this end of the channel
        # closes: with this process, however it ends.
        self.env = {**os.environ, **RUNTIME_ENV}
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cnai.backends.local.warm_server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=self.env)
        self.channel = ours
        self.busy = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None and self.channel.fileno() != -1

    def suits(self, env: dict[str, str]) -> bool:
        """Whether a task with this environment runs as it would in a new process: what the
        interpreter and the preloaded libraries read at start is the same."""
        return startup_settings(env) == startup_settings(self.env)

    def fork(self, source: str, arguments: list[str], env: dict[str, str]) -> TaskProcess | None:
        """The task, forked; None if another task is running from it."""
        if not self.busy.acquire(blocking=False):
            return None
        request = {"source": source, "arguments": arguments, "env": env, "cwd": os.getcwd()}
        return TaskProcess(self, *self._request(json.dumps(request).encode(), []))

    def call(self, function: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """`function(**kwargs)` (`module:name`) in a fork, with this process's environment, directory
        and module path, its output on this process's stdout and stderr: {"value": ...} or {"error":
        CnaiError's class name, "message": ...}; None if another task is running from it, or the call
        failed otherwise (the caller then calls it itself)."""
        try:
            outputs = [sys.stdout.fileno(), sys.stderr.fileno()]
        except (AttributeError, OSError, ValueError):  # streams replaced in-process (a test's capture)
            outputs = [1, 2]
        try:
            request = json.dumps({"call": function, "kwargs": kwargs, "env": dict(os.environ), "cwd": os.getcwd(),
                                  "sys_path": sys.path}).encode()
        except (TypeError, ValueError):  # arguments JSON cannot carry
            return None
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        if not self.busy.acquire(blocking=False):
            return None
        try:
            pid, reading = self._request(request, outputs)
        except (EOFError, OSError):  # the server is gone: the caller calls it itself
            return None
        try:
            with open(reading, "rb") as answer:
                result = answer.read()
            status = STATUS.unpack(read_exactly(self.channel, STATUS.size))[0]
        except BaseException as failure:
            self.abandon(pid)
            if isinstance(failure, EOFError | OSError):
                return None
            raise  # interrupted
        self.busy.release()
        return json.loads(result) if status == 0 and result else None

    def _request(self, payload: bytes, fds: list[int]) -> tuple[int, int]:
        """A request sent with the write end of a new pipe (the fork's output or answer) before `fds`:
        the fork's pid and the pipe's read end. On any failure the channel's next answer is not
        known: the server is abandoned, and the failure raised."""
        reading = writing = -1
        pid = None
        try:
            reading, writing = os.pipe()
            send(self.channel, payload, [writing, *fds])
            os.close(writing)
            writing = -1
            pid = STATUS.unpack(read_exactly(self.channel, STATUS.size))[0]
            return pid, reading
        except BaseException:
            for fd in (reading, writing):
                if fd != -1:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self.abandon(pid)
            raise

    def abandon(self, task_pid: int | None = None) -> None:
        """After an interruption mid-exchange the channel's next answer is not known: stop the task
        and the server (closing the channel does both); the next task starts a new server."""
        if task_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(task_pid, signal.SIGTERM)
        self.channel.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.busy.locked():
            self.busy.release()


class TaskProcess:
    """A task forked from the warm interpreter, read like a `subprocess.Popen` with
    `stdout=PIPE, stderr=STDOUT, text=True`."""

    def __init__(self, interpreter: WarmInterpreter, pid: int, output_fd: int) -> None:
        self._interpreter, self.pid, self.returncode = interpreter, pid, None
        self.stdout: io.TextIOBase = open(output_fd, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in __exit__

    def wait(self) -> int:
        if self.returncode is None:
            try:
                self.returncode = STATUS.unpack(read_exactly(self._interpreter.channel, STATUS.size))[0]
            except (EOFError, OSError):  # the server died with the task: a failure, as a killed process is
                self.returncode = -signal.SIGKILL
                self._interpreter.abandon()
            except BaseException:  # interrupted while waiting
                self._interpreter.abandon(self.pid)
                raise
            else:
                self._interpreter.busy.release()
        return self.returncode

    def __enter__(self) -> TaskProcess:
        return self

    def __exit__(self, failure_type, *_failure) -> None:
        self.stdout.close()
        if failure_type is not None and self.returncode is None:  # interrupted while the task runs
            self.returncode = -signal.SIGTERM
            self._interpreter.abandon(self.pid)
            return
        self.wait()


_interpreter: WarmInterpreter | None = None
_starting = threading.Lock()


def start() -> WarmInterpreter | None:
    """This process's warm interpreter, started now if it is not running (its imports overlap the
    run's Spark start, checks and compile; the first task waits for them); None where tasks start
    fresh processes."""
    global _interpreter
    if fresh_processes():
        return None
    with _starting:
        if _interpreter is None or not _interpreter.alive():
            try:
                _interpreter = WarmInterpreter()
            except OSError:  # cannot start one here: each task starts its own process
                return None
        return _interpreter


def call_in_fork(function: Callable[..., Any], /, **kwargs: Any) -> Any:
    """`function(**kwargs)` in a fork of the run's warm interpreter, whose imported libraries `cnai`
    then need not import itself (scikit-learn; MLflow once the tasks have run); here, where there
    is none, while it runs a task, or when the call failed with other than our own error (so that
    its traceback is the usual one: a function called so must bear being called twice, as checks
    and `serve_production` do). Arguments and result as JSON; our own error is raised again."""
    from cnai.core import errors

    interpreter = _interpreter  # the run's, if started: not started for a call
    answer = None
    if interpreter is not None and interpreter.alive() and not fresh_processes():
        answer = interpreter.call(f"{function.__module__}:{function.__qualname__}", kwargs)
    if answer is None:
        return function(**kwargs)
    if "error" in answer:
        raise getattr(errors, answer["error"], errors.CnaiError)(answer["message"])
    return answer["value"]


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
    program = component_program(full_command)
    interpreter = start() if program is not None else None  # None too when steps are to start fresh
    process: TaskProcess | subprocess.Popen | None = None
    if interpreter is not None and interpreter.suits(env):
        with contextlib.suppress(OSError, EOFError):  # the server is gone: a new process
            process = interpreter.fork(*program, env)
    if process is None:
        process = subprocess.Popen(full_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                   env=env)
    with process:
        yield process
