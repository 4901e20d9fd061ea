"""The image's entrypoint for Spark on Kubernetes (the Dockerfile's ENTRYPOINT).

The Spark Operator and Spark itself start driver and executor containers with the argument
`driver` or `executor` and expect the image to turn the SPARK_* variables they set into the right
process, as Apache's Spark images do in their entrypoint script. Ours is a Python image with
PySpark from PyPI, so this module does the same with PySpark's own `spark-submit` and jars (plus
the Hadoop AWS jars the Dockerfile adds). Any other command runs as given, so every other
container (pipeline steps, trials, the model server) is unaffected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXTRA_JARS = "/opt/spark-jars"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _classpath(env: dict[str, str]) -> str:
    return ":".join(filter(None, [env.get("SPARK_CLASSPATH", ""), f"{spark_home()}/jars/*", f"{EXTRA_JARS}/*",
                                  env.get("SPARK_EXTRA_CLASSPATH", "")]))


def driver_command(env: dict[str, str], arguments: list[str]) -> list[str]:
    """spark-submit in client mode inside the driver pod, as the operator asks with `driver ...`."""
    return [str(spark_home() / "bin" / "spark-submit"), "--conf",
            f"spark.driver.bindAddress={env.get('SPARK_DRIVER_BIND_ADDRESS', '0.0.0.0')}", "--conf",
            f"spark.driver.extraClassPath={EXTRA_JARS}/*", "--conf", f"spark.executor.extraClassPath={EXTRA_JARS}/*",
            "--deploy-mode", "client", *arguments]


def executor_command(env: dict[str, str]) -> list[str]:
    """The executor JVM Spark asked for through `env`."""
    required = ["SPARK_DRIVER_URL", "SPARK_EXECUTOR_ID", "SPARK_EXECUTOR_CORES", "SPARK_APPLICATION_ID",
                "SPARK_EXECUTOR_POD_IP", "SPARK_EXECUTOR_MEMORY"]
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise SystemExit(f"cnai.backends.kubeflow.spark_entrypoint: Spark did not set {missing}; is this an executor pod?")
    # Spark passes the executor's JVM options as SPARK_JAVA_OPT_0, _1, ... in order.
    options = [env[key] for key in sorted((k for k in env if k.startswith("SPARK_JAVA_OPT_")),
                                          key=lambda k: int(k.rsplit("_", 1)[1]))]
    java = str(Path(env["JAVA_HOME"]) / "bin" / "java") if env.get("JAVA_HOME") else "java"
    return [java, *options, f"-Xms{env['SPARK_EXECUTOR_MEMORY']}", f"-Xmx{env['SPARK_EXECUTOR_MEMORY']}",
            "-cp", _classpath(env), "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
            "--driver-url", env["SPARK_DRIVER_URL"], "--executor-id", env["SPARK_EXECUTOR_ID"],
            "--cores", env["SPARK_EXECUTOR_CORES"], "--app-id", env["SPARK_APPLICATION_ID"],
            "--hostname", env["SPARK_EXECUTOR_POD_IP"], "--resourceProfileId", env.get("SPARK_RESOURCE_PROFILE_ID", "0"),
            "--podName", env.get("SPARK_EXECUTOR_POD_NAME", "")]


def command_for(argv: list[str], env: dict[str, str]) -> list[str]:
    if argv[:1] == ["driver"]:
        return driver_command(env, argv[1:])
    if argv[:1] == ["executor"]:
        return executor_command(env)
    if not argv:
        raise SystemExit("usage: <image> driver ... | executor | <any command>")
    return argv


def main(argv: list[str]) -> None:
    command = command_for(argv, dict(os.environ))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
