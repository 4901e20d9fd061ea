"""Child processes that must not outlive the `cnai` process that started them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def begin_exit() -> None:
    """What the interpreter does first as it exits, for a process that then ends with `os._exit`
    instead of tearing every module down (which costs up to a second with large libraries loaded):
    the threads left running joined, then the `atexit` hooks (logging's flush among them)."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()


def flush_standard_streams() -> None:
    """stdout and stderr written out before `os._exit`, which flushes nothing."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a pipe that went away: nothing left to write
            continue


def die_with_parent() -> None:
    """Run in the child before it execs (a Popen `preexec_fn`): the kernel sends it SIGTERM when its
    parent dies, even by kill -9, so a killed `cnai run` or `cnai ui` leaves no server behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def is_running(pid: int) -> bool:
    """Whether process `pid` runs (and is this user's): a process that died but was not reaped yet (a zombie still
    answers kill 0) does not; our own child is reaped here, another's state is read from /proc."""
    import os

    try:
        os.kill(pid, 0)
    except OSError:  # none, or another user's (then not the one a pid file of ours named)
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        return reaped != pid
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """This process's stdout and stderr, at the file-descriptor level, into `log` for the duration:
    what a JVM or a library started inside writes (Spark's warnings and progress bars) too, as a
    pipeline step's output goes to its step.log rather than the console."""
    import os
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as target:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
