"""The warm interpreter local steps fork from (`warm_steps` starts it and talks to it).

    python -m cnai.backends.local.warm_server FD     # FD: its end of a socket pair with `cnai run`

It imports the libraries several steps use (`PRELOADED`; those only later steps use while the
tasks run, `LATER`), then for each request forks: the child becomes the task (its output on the
descriptor the request carried, its environment, working directory, module path and arguments),
returns to `main` and exits as any Python process does, except for tearing the preloaded
libraries down (`Server.finish`). The server waits for it and answers its exit status. One request
at a time: the client starts a new process for a second task meanwhile (kfp's ParallelFor).

A request may also be a call (`"call": "module:function"`, with keyword arguments as JSON): `cnai`'s
own work that needs a library the server imports (scikit-learn to check hyperparameters; MLflow, in
LATER, once the tasks have run, to record the run) runs in a fork that has it, instead of importing
it again into `cnai` (`call_in_fork`).
Its result, or the CnaiError it raised, comes back as JSON on the request's first descriptor; its
output goes to the other two (the caller's stdout and stderr).
"""

from __future__ import annotations

import gc
import importlib
import os
import select
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

# Bound now: the server forgets our own package's modules after its preload (`Server.preload`).
from cnai.core.processes import begin_exit, flush_standard_streams

# What several steps import; the first step waits for these imports. Only libraries free of threads
# and channels at import (a fork copies neither): not PySpark's Connect client, PyTorch or Feast.
PRELOADED = ("kfp.dsl.executor", "numpy", "pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.metrics",
             "sklearn.model_selection", "codecarbon", "duckdb", "yaml")
# What later steps alone import (validate, tune; MLflow and its SQL stores, which evaluate, register,
# deploy and `cnai run`'s record each took most of a second to import), on the same condition:
# imported one by one while the tasks run, from the first on (whose fork came first), until the
# running task ends, so that a later step finds them loaded and no task waited for them. A task
# ends answered at most one import late (Great Expectations': most of a second). (Great
# Expectations imports gRPC and PySpark's Connect client modules, but opens no channel and starts no
# thread: the Spark step forked after it connects as before.)
LATER = ("optuna", "great_expectations", "mlflow", "mlflow.store.tracking.sqlalchemy_store",
         "mlflow.store.model_registry.sqlalchemy_store")
EXECUTOR_MODULE = "kfp.dsl.executor_main"
HEADER = struct.Struct("!Q")  # a message's length; the task's output descriptor travels with it
STATUS = struct.Struct("!q")  # the server's answers: the task's pid, then its exit status
RUNTIME_ENV = {"_KFP_RUNTIME": "true"}  # what kfp's command sets: kfp imported as at run time, not compile time


def send(channel: socket.socket, payload: bytes, fds: list[int]) -> None:
    socket.send_fds(channel, [HEADER.pack(len(payload))], fds)
    channel.sendall(payload)


def receive(channel: socket.socket) -> tuple[bytes, list[int]]:
    """One message and the descriptors that came with it; EOFError when the other end closed."""
    header, fds, _flags, _address = socket.recv_fds(channel, HEADER.size, 3)
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


# What an interpreter reads as it starts or as a library is imported, not per task: a task whose
# environment differs from the server's in these starts a new process instead (`warm_steps`).
STARTUP_VARIABLES = ("TMPDIR", "LANG", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMEXPR_NUM_THREADS")
STARTUP_PREFIXES = ("PYTHON", "LC_", "SKLEARN_", "JOBLIB_")  # MLflow reads its variables as it is called


def startup_settings(env: dict[str, str]) -> dict[str, str]:
    """Those of `env`; PYTHONPATH is applied per task (`Server.become`)."""
    return {key: value for key, value in env.items()
            if (key in STARTUP_VARIABLES or key.startswith(STARTUP_PREFIXES)) and key != "PYTHONPATH"}


class Server:
    """What the server knows of itself: the module search path of the installation (without its own
    start directory and PYTHONPATH), the modules it preloaded, the SIGINT handling it inherited."""

    def __init__(self) -> None:
        own = {sys.path[0], *os.environ.get("PYTHONPATH", "").split(os.pathsep)} - {""}
        self.base_path = [p for p in sys.path[1:] if p and p not in own]
        self.interrupt = signal.getsignal(signal.SIGINT)
        self.preloaded: set[str] = set()

    def preload(self, names: tuple[str, ...] = PRELOADED, until: Callable[[], bool] | None = None) -> tuple[str, ...]:
        """Import `names` in order (a task's own output starts after its fork), stopping before the
        next one once `until()` is true; what is left is returned. A library that fails to import is
        left for the step that needs it to report. Our own package is then forgotten: each task
        imports it from the files as they are then (this server may outlive an edit, as in a test
        session)."""
        left = list(names)
        while left and not (until and until()):
            try:
                importlib.import_module(left.pop(0))
            except Exception:  # noqa: BLE001, S112 - the step importing it says why
                continue
        for name in [n for n in sys.modules if n == "cnai" or n.startswith("cnai.")]:
            del sys.modules[name]
        self.preloaded = set(sys.modules)
        # Out of the collector's sight: a task's collections (and its exit's) scan only its own
        # objects, and its pages stay shared with the server instead of being copied on write.
        gc.freeze()
        return tuple(left)

    def serve(self, channel: socket.socket) -> dict[str, Any]:
        """Answer requests until `cnai run` closes its end; returns only in a forked child, with its task."""
        import json

        later = LATER
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
                if "call" in task:
                    task["fds"] = fds
                else:
                    task["output_fd"] = fds[0]
                return task
            for fd in fds:
                os.close(fd)
            channel.sendall(STATUS.pack(pid))
            if later and "call" not in task:  # while the task runs
                with os.fdopen(os.pidfd_open(pid), "rb", buffering=0) as exited:
                    later = self.preload(later, until=lambda: bool(select.select([exited], [], [], 0)[0]))
            channel.sendall(STATUS.pack(_wait(pid, channel)))

    def call(self, request: dict[str, Any]) -> int:
        """In the forked child: the function a call request names, with its environment, directory and
        module path (the caller's); its JSON result, or the CnaiError it raised, written to the
        request's first descriptor. Exit status 0, or 1 for another exception (the caller then runs the
        function itself, where its traceback is the usual one)."""
        import json

        signal.signal(signal.SIGINT, self.interrupt)
        result, stdout, stderr = request["fds"]
        for stream, fd in ((sys.stdout, stdout), (sys.stderr, stderr)):
            stream.flush()
            os.dup2(fd, stream.fileno())
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=True)  # each line as it is printed, as in `cnai` itself
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:] = request["sys_path"]
        importlib.invalidate_caches()
        with os.fdopen(result, "w") as out:
            try:
                module, _, function = request["call"].partition(":")
                value = getattr(importlib.import_module(module), function)(**request["kwargs"])
                out.write(json.dumps({"value": value}))
            except Exception as exc:  # noqa: BLE001 - said to the caller: ours by name, another by status
                from cnai.core.errors import CnaiError

                if not isinstance(exc, CnaiError):
                    return 1
                out.write(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return 0

    def become(self, task: dict[str, Any]) -> None:
        """In the forked child: what kfp's command does in a new process (the component's source in
        a file, `python -m kfp.dsl.executor_main ...`), with the task's output, environment,
        directory and module path."""
        import tempfile

        signal.signal(signal.SIGINT, self.interrupt)
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
        os.environ.update(RUNTIME_ENV)
        tempfile.tempdir = None  # chosen again from the task's environment
        # The module search path of a new `python -m`: its directory, PYTHONPATH (the project's
        # model code), then the installation's.
        extra = [task["cwd"], *(p for p in task["env"].get("PYTHONPATH", "").split(os.pathsep) if p)]
        sys.path[:] = [*extra, *(p for p in self.base_path if p not in extra)]
        importlib.invalidate_caches()
        if "numpy" in sys.modules:  # a new process seeds numpy's global generator from the OS; forks would share one
            sys.modules["numpy"].random.seed()
        program = os.path.join(tempfile.mkdtemp(), "ephemeral_component.py")
        with open(program, "w") as file:
            file.write(task["source"])
        sys.argv = [EXECUTOR_MODULE, "--component_module_path", program, *task["arguments"]]

    def finish(self, code: int) -> None:
        """Exit as Python does (threads joined, `atexit`, what the task imported torn down so that
        what it left open is finalized and flushed, streams flushed), except for tearing down the
        preloaded libraries: that took most of a second per step, and the process's memory goes
        with it anyway."""
        begin_exit()
        imported = [module for name, module in list(sys.modules.items()) if name not in self.preloaded]
        for module in reversed(imported):  # as the interpreter clears modules: newest first, values to None
            namespace = getattr(module, "__dict__", {})
            for key in sorted(namespace, key=lambda k: not k.startswith("_")):
                if key != "__builtins__":
                    namespace[key] = None
        gc.collect()
        flush_standard_streams()
        if code == INTERRUPTED:  # as Python ends on an uncaught KeyboardInterrupt: killed by SIGINT
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


INTERRUPTED = -signal.SIGINT


def _wait(pid: int, channel: socket.socket) -> int:
    """The task's exit status; if `cnai run` goes away meanwhile (its end of the channel closes: it
    sends nothing while a task runs), the task is stopped and so is the server."""
    with os.fdopen(os.pidfd_open(pid), "rb", buffering=0) as exited:
        while True:
            ready, _, _ = select.select([exited, channel], [], [])
            if exited in ready:
                break
            if not channel.recv(1, socket.MSG_PEEK):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
                sys.exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


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
    except BaseException as failure:  # noqa: BLE001 - the task's failure, reported as a new process reports it
        sys.excepthook(*sys.exc_info())
        return INTERRUPTED if isinstance(failure, KeyboardInterrupt) else 1
    return 0


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    server = Server()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the task and `cnai run`, which ends the server
    # Started with its output on /dev/null: what the imports print goes nowhere.
    server.preload()
    task = server.serve(channel)
    if "call" in task:
        server.finish(server.call(task))
    server.become(task)
    server.finish(run_executor())


if __name__ == "__main__":
    main()
