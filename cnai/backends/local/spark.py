"""Spark for the steps on this machine, configured for UTC and Parquet that pandas and Feast read as UTC.

A step gets a session of its own JVM, unless the run started one Spark for all of its steps (a
Spark Connect server, `connect_server`): then CNAI_SPARK_REMOTE names it and every step connects
to it, so a run pays the JVM's start once, not once per step.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

from cnai.core.errors import ConfigError
from cnai.core.processes import die_with_parent, is_running
from cnai.core.tabular import SESSION_CONF

REMOTE_ENV = "CNAI_SPARK_REMOTE"
REMOTE_LOG_ENV = "CNAI_SPARK_REMOTE_LOG"
CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 180


def _conf() -> dict[str, str]:
    """Each session's settings, whether its JVM is the step's own or the run's shared one."""
    return {**SESSION_CONF, "spark.sql.shuffle.partitions": "4"}


# The throughput collector: a local run's Spark does batch work, and Java's default (G1, on two
# cores or more) cost its ingest steps more (BENCHMARKS.md section 8). In Spark's option for
# defaults, so that a user's spark.driver.extraJavaOptions still apply; left out when the user
# chose a collector (Java refuses to start with two).
JVM_DEFAULT_OPTIONS = "-XX:+UseParallelGC"
JAVA_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "SPARK_SUBMIT_OPTS", "PYSPARK_SUBMIT_ARGS")


# Java's optimizing compiler (C2) pays for its compiling on long queries only: on a run's small
# inputs it took more of the cores than it saved, and the quick compiler alone (C1) was faster up
# to about 100 MB of CSV and slower past it (BENCHMARKS.md section 8). The results are the same.
QUICK_COMPILER_OPTIONS = "-XX:TieredStopAtLevel=1"
QUICK_COMPILER_MAX_BYTES = 64 << 20


def _jvm_conf(input_bytes: int | None = None) -> dict[str, str]:
    """Settings fixed when a JVM starts; `input_bytes`: how much the run reads, if known."""
    conf = {"spark.ui.enabled": "false", "spark.driver.memory": os.environ.get("CNAI_SPARK_DRIVER_MEMORY", "4g")}
    options = [] if _collector_chosen() else [JVM_DEFAULT_OPTIONS]
    if input_bytes is not None and input_bytes <= QUICK_COMPILER_MAX_BYTES:
        options.append(QUICK_COMPILER_OPTIONS)
    if options:
        conf["spark.driver.defaultJavaOptions"] = " ".join(options)
    return conf


def _collector_chosen() -> bool:
    """Whether the user's Java options (the JVM's own variables, Spark's submit arguments, or a
    spark-defaults.conf) name a garbage collector."""
    import re

    texts = [os.environ.get(name, "") for name in JAVA_OPTION_VARIABLES]
    for conf_dir in {os.environ.get("SPARK_CONF_DIR"), os.path.join(os.environ.get("SPARK_HOME", ""), "conf"),
                     str(_pyspark_home() / "conf")} - {None, "conf"}:
        with contextlib.suppress(OSError):
            texts.append(Path(conf_dir, "spark-defaults.conf").read_text())
    return any(re.search(r"-XX:\+Use\w*GC\b", text) for text in texts)


def _pyspark_home() -> Path:
    """PySpark's folder (its jars, bin/spark-submit, conf), found without importing it: `cnai run`
    starts the run's Spark first thing, and importing PySpark took it half a second."""
    from importlib.util import find_spec

    spec = find_spec("pyspark")
    if spec is None or not spec.origin:
        raise ConfigError("PySpark is not installed in this environment (`make setup` installs it)")
    return Path(spec.origin).parent


def _pyspark_version() -> str:
    from importlib.metadata import version

    return version("pyspark")


@lru_cache(maxsize=4)
def spark_session(master: str = "local[*]", app_name: str = "cnai"):
    """A step's session: of the run's one Spark while CNAI_SPARK_REMOTE names it, else of a JVM of
    its own. A process uses one or the other, never both: PySpark cannot go back to a classic session
    after a Spark Connect one (so `cnai` itself types with its own, before the run's server starts)."""
    from pyspark.sql import SparkSession

    remote = os.environ.get(REMOTE_ENV)
    if remote and master.startswith("local"):
        _wait_until_listening(remote, os.environ.get(REMOTE_LOG_ENV, "its log"))
        session = SparkSession.builder.remote(remote).getOrCreate()
        for key, value in _conf().items():
            session.conf.set(key, value)
        return session
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**_conf(), **_jvm_conf()}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@contextlib.contextmanager
def connect_server(master: str, log_file: Path, say: Callable[[str], None] | None = None,
                   input_bytes: int | None = None) -> Iterator[str]:
    """One Spark (a Spark Connect server on 127.0.0.1) for the steps of a run, while the context
    lasts: its URL, and CNAI_SPARK_REMOTE set to it. The JVM starts beside kfp.local's own start
    (a step waits for it only if it gets there first) and is stopped after, used or not. `say`
    tells the user why the first stop takes longer (the class archive); `input_bytes`, the size of
    what the run reads (None: not known), chooses the JVM's compilers."""
    home = _pyspark_home()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    archive, writing = class_archive()
    conf = {**_conf(), **_jvm_conf(input_bytes), "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port)}
    if archive:
        sharing = f"-XX:ArchiveClassesAtExit={writing}" if writing else f"-XX:SharedArchiveFile={archive}"
        conf["spark.driver.defaultJavaOptions"] = " ".join(filter(None, [conf.get("spark.driver.defaultJavaOptions"), sharing]))
    command = [str(home / "bin" / "spark-submit"), "--class", CONNECT_SERVER, "--name", "cnai", "--master", master,
               *[item for key, value in conf.items() for item in ("--conf", f"{key}={value}")]]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in (REMOTE_ENV, REMOTE_LOG_ENV)}
    env.update(SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable)
    with log_file.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                  preexec_fn=die_with_parent)
    url = f"sc://127.0.0.1:{port}"
    saved = {key: os.environ.get(key) for key in (REMOTE_ENV, REMOTE_LOG_ENV)}
    os.environ.update({REMOTE_ENV: url, REMOTE_LOG_ENV: str(log_file)})
    if not writing:  # a stop that writes the archive is said and waited for where the `with` ends
        _early_stops[url] = threading.Thread(target=_stop, args=(server,), name="stopping the run's Spark")
    refused = False
    try:
        yield url
    except BaseException:
        refused = True  # by a check before any step, a Ctrl-C, a failure outside the steps: no archive is awaited
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        early = _early_stops.pop(url, None)
        begun = early is not None and early.ident is not None  # by stop_soon
        if refused and not begun:
            # Stopped at once: its archive (the first time) would be of a server that ran no query,
            # which no one keeps, and writing it made a refused setting's message wait 12 s.
            _stop(server, term_wait_s=0)
            if writing:
                with contextlib.suppress(OSError):
                    writing.unlink(missing_ok=True)
        else:
            if begun:
                early.join()
            if not begun or server.poll() is None:  # not begun, or that stop failed
                if writing and say is not None:
                    say("Stopping the run's Spark, which writes its class archive this once (per Java, PySpark and "
                        "environment) so that later runs start Spark faster")
                _stop(server, ARCHIVE_WRITE_S if writing else 30)
            if writing:
                _keep_archive(writing, archive, server.returncode)


_early_stops: dict[str, threading.Thread] = {}  # a running server's URL -> its stop, for stop_soon


def stop_soon() -> None:
    """Begin stopping the run's Spark now, in the background, when its steps are all done: the JVM's
    stop (up to 2 s) then overlaps what the run does after them (the table, the MLflow record). The
    `with` of `connect_server` still ends only once it stopped. Nothing without such a server, or
    once it is stopping."""
    stop = _early_stops.get(os.environ.get(REMOTE_ENV, ""))
    if stop is not None and stop.ident is None:
        stop.start()


ARCHIVE_WRITE_S = 180  # the JVM writes its archive as it stops: ~200 MB, 12-20 s here
KEPT_ARCHIVES = 3  # a project's environment and a CI clone's beside it each keep theirs
QUERIED_ARCHIVE_BYTES = 100_000_000  # a server that ran a query: ~200 MB of classes; one stopped at once, 10-30 MB


def class_archive() -> tuple[Path | None, Path | None]:
    """(the archive of the classes Spark's JVM loads, or None when there is none to use or write;
    the partial file to write it to as the JVM stops, or None when the archive exists).

    Loading Spark's classes is most of its JVM's start. Java's class data sharing (JDK 13+) maps
    them from an archive the first server that ran a query writes as it stops (once per Java,
    PySpark and environment, in the user's cache; the write adds seconds to that stop). The JVM
    checks the archive against its class path and starts without it on a mismatch.
    """
    import hashlib
    import shutil

    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else Path(shutil.which("java") or "java")
    with contextlib.suppress(OSError):
        java = java.resolve()
        stamp = java.stat()
        java = Path(f"{java}|{stamp.st_size}|{stamp.st_mtime_ns}")
    key = hashlib.sha256(f"{_pyspark_version()}|{java}|{sys.prefix}".encode()).hexdigest()[:16]
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnai"
    except RuntimeError:  # no home directory to hold it
        return None, None
    archive = cache / f"spark-classes-{key}.jsa"
    if archive.is_file():
        with contextlib.suppress(OSError):
            os.utime(archive)  # used: the newest are the ones kept (_keep_archive)
        return archive, None
    if _failed(archive).exists():  # this Java could not write one: not tried again at every run
        return None, None
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None, None
    if not os.access(cache, os.W_OK):
        return None, None
    for partial in cache.glob(f"{archive.name}.*.partial"):  # a writer killed outright renamed nothing
        writer = partial.name.removeprefix(f"{archive.name}.").removesuffix(".partial")
        if writer.isdigit() and not is_running(int(writer)):
            with contextlib.suppress(OSError):
                partial.unlink()
    return archive, cache / f"{archive.name}.{os.getpid()}.partial"


def _failed(archive: Path) -> Path:
    return archive.with_name(archive.name + ".failed")


def _keep_archive(writing: Path, archive: Path, returncode: int | None) -> None:
    """The archive a stopped server wrote becomes the one later servers map, if it holds what a
    query loads; of the others (other Javas, PySparks, environments) the KEPT_ARCHIVES - 1 used
    last stay."""
    with contextlib.suppress(OSError):
        size = writing.stat().st_size if writing.exists() else 0
        stopped = returncode in (0, 143, -15)  # by our SIGTERM, its archive written whole
        if stopped and size >= QUERIED_ARCHIVE_BYTES:
            writing.replace(archive)
            others = sorted((p for p in archive.parent.glob("spark-classes-*.jsa") if p != archive),
                            key=lambda p: p.stat().st_mtime, reverse=True)
            for other in others[KEPT_ARCHIVES - 1:]:
                other.unlink(missing_ok=True)
                _failed(other).unlink(missing_ok=True)
        elif not stopped or not size:
            _failed(archive).touch()
        # else: a server stopped before any query (every step cached); a later run writes it
    with contextlib.suppress(OSError):
        writing.unlink(missing_ok=True)


def _stop(server: subprocess.Popen, term_wait_s: float = 30) -> None:
    """The server's whole process group (spark-submit's shells and the JVM), whatever state its start
    is in: a run whose steps all come from cache ends seconds after starting it."""
    import signal

    for sent, wait_s in ((signal.SIGTERM, term_wait_s), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sent)
        try:
            server.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # The shell may be gone while the JVM it started still shuts down: give the group a moment.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _group_alive(server.pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_listening(url: str, log: str) -> None:
    host, _, port = url.removeprefix("sc://").partition(":")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port.split("/")[0])), timeout=1):
            return
        time.sleep(0.25)
    raise ConfigError(f"the run's Spark ({url}, a Spark Connect server) did not answer within {START_TIMEOUT_S} s; "
                      f"see {log}")
