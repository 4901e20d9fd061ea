"""Child processes that must not outlive the `cnai` process that started them."""

from __future__ import annotations


def die_with_parent() -> None:
    """Run in the child before it execs (a Popen `preexec_fn`): the kernel sends it SIGTERM when its
    parent dies, even by kill -9, so a killed `cnai run` or `cnai ui` leaves no server behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
