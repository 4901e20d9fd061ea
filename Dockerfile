# The component image: every pipeline step, Katib trial, TrainJob, the model server and the log
# sink run in it on a cluster. Nothing is installed at run time (pods need no network).
#   make image IMAGE=ghcr.io/<you>/cnai:0.1.0 && make push IMAGE=...
# Pinned base: Python 3.11 on Debian bookworm, slim. Pin the digest too when you build for production
# (`docker buildx imagetools inspect python:3.11.7-slim-bookworm`).
FROM python:3.11.7-slim-bookworm AS build

# PySpark needs a JVM in the image that runs the ingest step's driver and executors.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

# Spark's S3 connector for ingest with executors on Kubernetes (cnai/cluster/spark.py): versions
# must match the Hadoop inside pyspark 4.3 (hadoop-client-api 3.5.0; hadoop-project-3.5.0.pom's
# aws-java-sdk-v2.version is 2.35.4). Fetched at build time only.
ARG HADOOP_VERSION=3.5.0
ARG AWS_SDK_V2_VERSION=2.35.4
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/spark-jars \
 && curl -fsSL -o /opt/spark-jars/hadoop-aws-${HADOOP_VERSION}.jar \
      https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/${HADOOP_VERSION}/hadoop-aws-${HADOOP_VERSION}.jar \
 && curl -fsSL -o /opt/spark-jars/bundle-${AWS_SDK_V2_VERSION}.jar \
      https://repo1.maven.org/maven2/software/amazon/awssdk/bundle/${AWS_SDK_V2_VERSION}/bundle-${AWS_SDK_V2_VERSION}.jar

WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY cnai ./cnai
COPY feature_repo ./feature_repo
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade "pip>=24" \
 && /opt/venv/bin/pip install --no-cache-dir . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib > /dev/null

FROM python:3.11.7-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --home-dir /home/cnai cnai
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/spark-jars /opt/spark-jars
# The project configuration and expectation suite `cnai schedule` and the steps default to;
# mount your own over /opt/cnai (a ConfigMap) or rebuild.
COPY cnai.yaml /opt/cnai/cnai.yaml
COPY expectations /opt/cnai/expectations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CNAI_HOME=/tmp/cnai \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001
WORKDIR /opt/cnai
EXPOSE 8080
# Spark's operator and executors start containers with `driver ...`/`executor` and no command;
# everything else (steps, trials, the model server) sets its own command, which runs as given.
ENTRYPOINT ["python", "-m", "cnai.backends.kubeflow.spark_entrypoint"]
CMD ["python", "-m", "cnai.backends.local.model_server", "--help"]
