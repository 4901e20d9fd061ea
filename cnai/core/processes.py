"""Child processes that must not outlive the `cnai` process that started them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def die_with_parent() -> None:
    """Run in the child before it execs (a Popen `preexec_fn`): the kernel sends it SIGTERM when its
    parent dies, even by kill -9, so a killed `cnai run` or `cnai ui` leaves no server behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


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
