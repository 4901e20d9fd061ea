"""One Spark per local run: the steps of a run connect to the Spark Connect server the run started
(cnai.backends.local.spark.connect_server) instead of each starting a JVM of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cnai.backends.local.spark import REMOTE_ENV, connect_server

STEP = """
import os, sys
os.environ["CNAI_SMALL_TABLE_BYTES"] = "0"  # typed by Spark, however small (cnai.core.scale)
from cnai.backends.local.spark import spark_session
from cnai.backends.tables import ingest_table
spark = spark_session()
ingest_table(sys.argv[1], sys.argv[2], {"k": "int", "at": "timestamp"})
print(spark.conf.get("spark.app.id"), spark.conf.get("spark.sql.session.timeZone"))
"""


def test_the_steps_of_a_run_share_one_spark(tmp_path):
    (tmp_path / "in.csv").write_text("k,at\n1,2020-01-01 10:00:00\n2,\n")
    with connect_server("local[1]", tmp_path / "spark.log") as url:
        assert os.environ[REMOTE_ENV] == url
        answers = [subprocess.run([sys.executable, "-c", STEP, str(tmp_path / "in.csv"), str(tmp_path / f"out{i}")],
                                  capture_output=True, text=True, check=True).stdout.split() for i in range(2)]
    assert answers[0] == answers[1] and answers[0][1] == "UTC", "both steps ran in the one JVM, set up as a step's own"
    typed = pd.read_parquet(tmp_path / "out1")
    assert str(typed["at"].dtype) == "datetime64[us, UTC]" and typed["at"].isna().tolist() == [False, True]
    assert REMOTE_ENV not in os.environ, "after the run, steps start their own Spark again"


def test_a_run_that_ends_before_spark_is_up_leaves_no_jvm(tmp_path):
    """Every step cached: the run ends a second after it started the server, while spark-submit is
    still starting the JVM; nothing of it is left running after."""
    import time

    with connect_server("local[1]", tmp_path / "spark.log") as url:
        time.sleep(1)
    port = url.rsplit(":", 1)[1]
    listed = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in listed.splitlines() if f"spark.connect.grpc.binding.port={port}" in line]


def test_a_run_killed_outright_takes_its_spark_with_it(tmp_path):
    """`cnai run` killed with SIGKILL (no context manager runs) left its Spark Connect server
    running, orphaned, for as long as the machine ran (seen after CI's kill tests)."""
    import signal
    import time

    script = ("import time, sys; from pathlib import Path; from cnai.backends.local.spark import connect_server\n"
              f"with connect_server('local[1]', Path({str(tmp_path / 'spark.log')!r})) as url:\n"
              "    print(url, flush=True); time.sleep(600)\n")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    port = run.stdout.readline().strip().rsplit(":", 1)[1]

    def server_lines() -> list[str]:
        listed = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        return [line for line in listed.splitlines() if f"spark.connect.grpc.binding.port={port}" in line]

    deadline = time.monotonic() + 60
    while not server_lines() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_lines(), "the server started"
    time.sleep(3)  # past the shells: the JVM itself is running
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while server_lines() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not server_lines()


def test_the_runs_spark_starts_before_its_checks_and_stops_when_one_refuses_the_run(tmp_path, monkeypatch, capsys):
    """The JVM's start overlaps the run's own checks and compile (time-to-model), and the server is
    stopped when a check refuses the run: at once, without writing the class archive of a server
    that ran no query (a new user waited 12 s for a refused hyperparameter's message)."""
    import pytest

    import cnai.orchestration.training as training
    from cnai.core import scale
    from cnai.core.config import load_config
    from cnai.core.errors import ConfigError

    seen = []

    def checks(*args, **kwargs):  # the first thing run_training does after reading its settings
        seen.append(os.environ.get(REMOTE_ENV))
        raise ConfigError("stop here")

    monkeypatch.setattr(training, "check_before_running", checks)
    monkeypatch.setattr(scale, "SMALL_TABLE_BYTES", 0)  # the example's tables need Spark then
    monkeypatch.setenv("CNAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no archive yet: this server would write one
    config_path = Path(__file__).resolve().parents[1] / "cnai.yaml"
    config = load_config(config_path)
    config = config.model_copy(update={"settings": config.settings.model_copy(update={"home": str(tmp_path / "home")})})
    with pytest.raises(ConfigError, match="stop here"):
        training.run_training(config, config_path)
    assert seen and seen[0] and seen[0].startswith("sc://127.0.0.1:"), "started before the checks ran"
    assert REMOTE_ENV not in os.environ
    port = seen[0].rsplit(":", 1)[1]
    listed = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in listed.splitlines() if f"spark.connect.grpc.binding.port={port}" in line]
    assert "class archive" not in capsys.readouterr().out
    assert not list((tmp_path / "cache").rglob("*.partial")) and not list((tmp_path / "cache").rglob("*.failed"))


def test_the_next_runs_spark_maps_the_class_archive_the_first_one_wrote(tmp_path, monkeypatch):
    """Loading Spark's classes is most of its JVM's start: the first server writes Java's class
    data sharing archive as it stops, and the next one maps it instead of loading them one by one."""
    import time

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "in.csv").write_text("k,at\n1,2020-01-01 10:00:00\n")
    step = [sys.executable, "-c", STEP, str(tmp_path / "in.csv")]
    said: list[str] = []
    with connect_server("local[1]", tmp_path / "first.log", say=said.append):
        subprocess.run([*step, str(tmp_path / "out1")], capture_output=True, check=True)
    assert len(said) == 1 and "class archive" in said[0], "the user is told why this stop takes longer"
    cache = tmp_path / "cache" / "cnai"
    archives = list(cache.glob("spark-classes-*.jsa"))
    assert len(archives) == 1 and archives[0].stat().st_size > 10_000_000, list(cache.iterdir())
    assert not list(cache.glob("*.partial"))

    with connect_server("local[1]", tmp_path / "second.log", say=said.append) as url:
        subprocess.run([*step, str(tmp_path / "out2")], capture_output=True, check=True)
        port = url.rsplit(":", 1)[1]
        listed = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
        jvm = next(line.split()[0] for line in listed.splitlines()
                   if f"spark.connect.grpc.binding.port={port}" in line and "java" in line.split()[1])
        deadline = time.monotonic() + 10
        while archives[0].name not in Path(f"/proc/{jvm}/maps").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert archives[0].name in Path(f"/proc/{jvm}/maps").read_text(), "the JVM mapped the archive"
    assert "[cds]" not in (tmp_path / "second.log").read_text(), "no warning that the archive did not match"
    assert len(said) == 1, "nothing to say when the archive is only read"
    assert pd.read_parquet(tmp_path / "out2")["k"].tolist() == [1]


def test_a_writer_killed_outright_leaves_no_partial_archive_behind(tmp_path, monkeypatch):
    from cnai.backends.local.spark import class_archive

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    archive, writing = class_archive()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = writing.with_name(f"{archive.name}.{dead.pid}.partial")
    stale.write_bytes(b"half an archive")
    ours = writing.with_name(f"{archive.name}.{os.getpid()}.partial")
    ours.write_bytes(b"being written")
    assert class_archive() == (archive, ours)
    assert not stale.exists() and ours.exists(), "a live writer's file is left alone"


def test_a_server_stopped_before_any_query_leaves_no_archive_and_a_failed_write_is_not_retried(tmp_path, monkeypatch):
    """A run whose steps all come from cache stops its server at once: the few classes it loaded
    would make an archive every later run maps instead of the whole one."""
    from cnai.backends.local import spark

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    archive, writing = spark.class_archive()
    writing.write_bytes(b"x" * 1000)
    spark._keep_archive(writing, archive, 143)
    assert not archive.exists() and not writing.exists()
    assert spark.class_archive() == (archive, writing), "the next run writes it"

    spark._keep_archive(writing, archive, -9)  # killed before it could write: none, or half of one
    assert spark.class_archive() == (None, None), "not tried again at every run"


def test_the_archives_used_last_are_kept_and_older_ones_removed(tmp_path, monkeypatch):
    """Two environments beside each other (a project's and a CI clone's) each keep theirs; a
    fourth one removes the one used longest ago."""
    from cnai.backends.local import spark

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    archive, writing = spark.class_archive()
    others = [archive.with_name(f"spark-classes-{name}.jsa") for name in ("old", "used", "newer")]
    for age, other in zip((300, 100, 200), others, strict=True):
        other.write_bytes(b"x")
        os.utime(other, (other.stat().st_atime - age, other.stat().st_mtime - age))
    writing.write_bytes(b"x" * spark.QUERIED_ARCHIVE_BYTES)
    spark._keep_archive(writing, archive, 143)
    assert archive.exists() and not writing.exists()
    assert [p.exists() for p in others] == [False, True, True]


def test_the_runs_spark_stops_as_soon_as_its_steps_are_done(tmp_path):
    """`run_locally` calls stop_soon when the pipeline ends: the JVM's stop overlaps the table and
    the MLflow record instead of following them; the `with` still ends with the server gone."""
    import time

    from cnai.backends.local.spark import stop_soon

    stop_soon()  # no run's Spark: nothing to do
    with connect_server("local[1]", tmp_path / "spark.log") as url:
        port = url.rsplit(":", 1)[1]

        def running() -> bool:
            listed = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
            return any(f"spark.connect.grpc.binding.port={port}" in line for line in listed.splitlines())

        deadline = time.monotonic() + 60
        while not running() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running()
        stop_soon()
        stop_soon()  # once is enough; a second call changes nothing
        while running() and time.monotonic() < deadline + 60:
            time.sleep(0.2)
        assert not running(), "stopped while the run still holds its `with`"
    assert REMOTE_ENV not in os.environ


def test_the_runs_spark_collects_garbage_for_throughput(tmp_path):
    """Java's default collector on two cores or more (G1) cost the ingest steps more than the
    throughput collector, and on small inputs its optimizing compiler cost more than it saved: the
    run's JVM reports the collector and the compilers it runs with."""
    import shutil
    import time

    import pytest

    if shutil.which("jcmd") is None:
        pytest.skip("no jcmd to ask the JVM")
    with connect_server("local[1]", tmp_path / "spark.log", input_bytes=1_000_000) as url:
        port = url.rsplit(":", 1)[1]
        deadline, flags = time.monotonic() + 150, ""  # a loaded machine starts it slowly
        while "UseParallelGC" not in flags and time.monotonic() < deadline:  # jcmd answers once the JVM is up
            # The server's JVM, not spark-submit's launcher before it (a JVM of the same arguments,
            # gone in a moment: on a loaded machine it was the one found, and asked for ever).
            listed = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
            jvm = next((line.split()[0] for line in listed.splitlines()
                        if f"spark.connect.grpc.binding.port={port}" in line and "java" in line.split()[1]
                        and "org.apache.spark.launcher.Main" not in line), None)
            if jvm is not None:
                flags = subprocess.run(["jcmd", jvm, "VM.flags"], capture_output=True, text=True).stdout
            time.sleep(0.5)
    assert "-XX:+UseParallelGC" in flags and "UseG1GC" not in flags, flags
    assert "-XX:TieredStopAtLevel=1" in flags, flags


def test_the_quick_compiler_alone_only_for_a_small_known_input(tmp_path, monkeypatch):
    """C2 pays on long queries: a run whose tables are large, or of unknown size (remote), keeps it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cnai.backends.local import spark
    from cnai.core.sources import source_bytes
    from cnai.orchestration.local_run import input_bytes

    for name in spark.JAVA_OPTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))

    def options(size):
        return spark._jvm_conf(size).get("spark.driver.defaultJavaOptions", "").split()

    assert options(10 << 20) == ["-XX:+UseParallelGC", "-XX:TieredStopAtLevel=1"]
    assert options(spark.QUICK_COMPILER_MAX_BYTES + 1) == ["-XX:+UseParallelGC"]
    assert options(None) == ["-XX:+UseParallelGC"]
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-XX:+UseG1GC")  # the user's collector, and still the compilers
    assert options(10 << 20) == ["-XX:TieredStopAtLevel=1"]

    csv = tmp_path / "events.csv"
    csv.write_text("a,b\n" + "1,2\n" * 1000)
    table = tmp_path / "side"
    table.mkdir()
    pq.write_table(pa.table({"k": list(range(100_000)) * 3}), table / "part-0.parquet")
    (table / "_SUCCESS").write_text("")
    # A Parquet file counts what it holds (its footer's uncompressed size), not its size on disk.
    footer = pq.ParquetFile(table / "part-0.parquet").metadata
    held = sum(footer.row_group(i).total_byte_size for i in range(footer.num_row_groups))
    assert held > (table / "part-0.parquet").stat().st_size
    assert source_bytes(str(table)) == held
    assert source_bytes(str(csv)) == len("a,b\n" + "1,2\n" * 1000)
    assert source_bytes("s3a://bucket/events.csv") is None
    (tmp_path / "events.csv.gz").write_bytes(b"")  # compressed: what it holds is not known from its size
    assert source_bytes(str(tmp_path / "events.csv.gz")) is None
    both = {"events_source": str(csv), "feature_sources": [{"name": "side", "source": str(table)}]}
    assert input_bytes(both, tmp_path) == len("a,b\n" + "1,2\n" * 1000) + held
    assert input_bytes({**both, "events_source": "s3a://bucket/events.csv"}, tmp_path) is None
    assert input_bytes({}, tmp_path) is None


def test_a_collector_the_user_chose_is_left_alone(tmp_path, monkeypatch):
    """Java refuses to start with two collectors: a user's own choice (JAVA_TOOL_OPTIONS, or
    spark.driver.extraJavaOptions in spark-defaults.conf) keeps the run's Spark from adding one."""
    from cnai.backends.local import spark

    for name in spark.JAVA_OPTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert "UseParallelGC" in spark._jvm_conf().get("spark.driver.defaultJavaOptions", "")
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-Xss4m -XX:+UseG1GC")
    assert "spark.driver.defaultJavaOptions" not in spark._jvm_conf()
    monkeypatch.delenv("JAVA_TOOL_OPTIONS")
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions -XX:+UseZGC -Xss4m\n")
    assert "spark.driver.defaultJavaOptions" not in spark._jvm_conf()
    java = subprocess.run(["java", "-XX:+UseG1GC", "-XX:+UseParallelGC", "-version"], capture_output=True, text=True)
    assert java.returncode != 0 and "garbage collectors" in java.stdout + java.stderr, "why both cannot be given"
