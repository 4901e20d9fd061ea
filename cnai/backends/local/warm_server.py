"""The warm interpreter local steps fork from (`warm_steps` starts it and talks to it).

    python -m cnai.backends.local.warm_server FD     # FD: its end of a socket pair with `cnai run`

It imports the libraries several steps use (`PRELOADED`), then for each request forks: the child
becomes the task (its output on the descriptor the request carried, its environment, working
directory, module path and arguments), returns to `main` and exits as any Python process does
(threads joined, `atexit`, streams flushed) but without tearing its modules down (`finish`). The server waits for it and answers its exit status.
One request at a time: kfp.local runs a run's tasks one after another.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import struct
import sys
from typing import Any

# What several steps import. The first step waits for these imports, so a library one step alone
# uses (Great Expectations in validate, Optuna in tune) is left to that step: preloading it would
# only move its import in front of the first step. Only libraries free of threads and channels at
# import (a fork copies neither): not PySpark's Connect client, PyTorch or Feast.
PRELOADED = ("kfp.dsl.executor", "numpy", "pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.metrics",
             "sklearn.model_selection", "codecarbon", "mlflow", "duckdb", "yaml")
EXECUTOR_MODULE = "kfp.dsl.executor_main"
HEADER = struct.Struct("!Q")  # a message's length; the task's output descriptor travels with it
STATUS = struct.Struct("!q")  # the server's answers: the task's pid, then its exit status


def send(channel: socket.socket, payload: bytes, fds: list[int] | None = None) -> None:
    header = HEADER.pack(len(payload))
    if fds:
        socket.send_fds(channel, [header], fds)
    else:
        channel.sendall(header)
    channel.sendall(payload)


def receive(channel: socket.socket) -> tuple[bytes, list[int]]:
    """One message and the descriptors that came with it; EOFError when the other end closed."""
    header, fds, _flags, _address = socket.recv_fds(channel, HEADER.size, 1)
    header += read_exactly(channel, HEADER.size - len(header)) if header else b""
    if not header:
        raise EOFError("the other end closed")
    return read_exactly(channel, HEADER.unpack(header)[0]), fds


def read_exactly(channel: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            raise EOFError("the other end closed mid-message")
        data += chunk
    return data


def preload() -> None:
    """Import `PRELOADED` (a task's own output starts after its fork); a library
    that fails to import is left for the step that needs it to report. Our own package is then
    forgotten: each task imports it from the files as they are then (this server may outlive an
    edit, as in a test session)."""
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - the step importing it says why
            continue
    for name in [n for n in sys.modules if n == "cnai" or n.startswith("cnai.")]:
        del sys.modules[name]


def serve(channel: socket.socket) -> dict[str, Any]:
    """Answer requests until `cnai run` closes its end; returns only in a forked child, with its task."""
    import json

    while True:
        try:
            payload, fds = receive(channel)
        except EOFError:
            sys.exit(0)
        task = json.loads(payload)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            channel.close()
            task["output_fd"] = fds[0]
            return task
        for fd in fds:
            os.close(fd)
        channel.sendall(STATUS.pack(pid))
        _, status = os.waitpid(pid, 0)
        channel.sendall(STATUS.pack(os.waitstatus_to_exitcode(status)))


def become(task: dict[str, Any]) -> None:
    """In the forked child: what kfp's command does in a new process (the component's source in a
    file, `python -m kfp.dsl.executor_main ...`), with the task's output, environment, directory
    and module path."""
    import tempfile

    output = task["output_fd"]
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    for fd in (devnull, output):
        os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)  # the step's log shows each line as it is printed
    os.chdir(task["cwd"])
    os.environ.clear()
    os.environ.update(task["env"])
    os.environ["_KFP_RUNTIME"] = "true"
    # The module search path of a new `python -m`: its directory, PYTHONPATH (the project's model
    # code), then the installation's.
    extra = [task["cwd"], *(p for p in task["env"].get("PYTHONPATH", "").split(os.pathsep) if p)]
    sys.path[:] = [*extra, *(p for p in sys.path if p not in extra and p not in ("", "."))]
    importlib.invalidate_caches()
    if "numpy" in sys.modules:  # a new process seeds numpy's global generator from the OS; forks would share one
        sys.modules["numpy"].random.seed()
    program = os.path.join(tempfile.mkdtemp(), "ephemeral_component.py")
    with open(program, "w") as file:
        file.write(task["source"])
    sys.argv = [EXECUTOR_MODULE, "--component_module_path", program, *task["arguments"]]


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the task and `cnai run`, which ends the server
    # Started with its output on /dev/null: what the imports print goes nowhere.
    preload()
    task = serve(channel)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    become(task)
    finish(run_executor())


def run_executor() -> int:
    """The executor as `__main__`; its exit status, an uncaught exception printed as Python prints it."""
    import runpy

    try:
        runpy.run_module(EXECUTOR_MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - the task's failure, reported as a new process reports it
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def finish(code: int) -> None:
    """Exit as Python does (threads joined, `atexit`, streams flushed), except for tearing down every
    module: with the preloaded libraries that took most of a second per step, and the process's
    memory goes with it anyway (multiprocessing's children end the same way)."""
    import atexit
    import threading

    threading._shutdown()  # what the interpreter runs first at exit: its atexit hooks, then joining threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed stream: nothing left to write
            continue
    os._exit(code)


if __name__ == "__main__":
    main()
