"""A Spark executor in the project image (Spark on Kubernetes, `spark_master: k8s://...`).

Spark starts executor pods with the argument `executor` and expects the image to turn the
SPARK_* variables it sets into a `KubernetesExecutorBackend` JVM; Apache's Spark images do that in
their entrypoint script. Ours is a Python image with PySpark installed from PyPI, so the executor
pod template (spark-executor-pod.yaml) runs this module instead, which does the same with
PySpark's own jars (plus the Hadoop AWS jars the Dockerfile adds).

    python -m cnai.cluster.spark_executor executor   # what the executor container runs
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXTRA_JARS = "/opt/spark-jars"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def executor_command(env: dict[str, str]) -> list[str]:
    """The JVM command line for the executor Spark asked for through `env`."""
    required = ["SPARK_DRIVER_URL", "SPARK_EXECUTOR_ID", "SPARK_EXECUTOR_CORES", "SPARK_APPLICATION_ID",
                "SPARK_EXECUTOR_POD_IP", "SPARK_EXECUTOR_MEMORY"]
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise SystemExit(f"cnai.cluster.spark_executor: Spark did not set {missing}; is this an executor pod?")
    # Spark passes the executor's JVM options as SPARK_JAVA_OPT_0, _1, ... in order.
    options = [env[key] for key in sorted((k for k in env if k.startswith("SPARK_JAVA_OPT_")),
                                          key=lambda k: int(k.rsplit("_", 1)[1]))]
    classpath = ":".join(filter(None, [env.get("SPARK_CLASSPATH", ""), f"{spark_home()}/jars/*", f"{EXTRA_JARS}/*",
                                       env.get("SPARK_EXTRA_CLASSPATH", "")]))
    java = str(Path(env["JAVA_HOME"]) / "bin" / "java") if env.get("JAVA_HOME") else "java"
    return [java, *options, f"-Xms{env['SPARK_EXECUTOR_MEMORY']}", f"-Xmx{env['SPARK_EXECUTOR_MEMORY']}", "-cp", classpath,
            "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
            "--driver-url", env["SPARK_DRIVER_URL"], "--executor-id", env["SPARK_EXECUTOR_ID"],
            "--cores", env["SPARK_EXECUTOR_CORES"], "--app-id", env["SPARK_APPLICATION_ID"],
            "--hostname", env["SPARK_EXECUTOR_POD_IP"], "--resourceProfileId", env.get("SPARK_RESOURCE_PROFILE_ID", "0"),
            "--podName", env.get("SPARK_EXECUTOR_POD_NAME", "")]


def main(argv: list[str]) -> None:
    if argv[:1] != ["executor"]:
        raise SystemExit("usage: python -m cnai.cluster.spark_executor executor")
    command = executor_command(dict(os.environ))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
