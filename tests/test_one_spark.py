"""One Spark per local run: the steps of a run connect to the Spark Connect server the run started
(cnai.backends.local.spark.connect_server) instead of each starting a JVM of its own."""

import os
import subprocess
import sys

import pandas as pd

from cnai.backends.local.spark import REMOTE_ENV, connect_server

STEP = """
import sys
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
