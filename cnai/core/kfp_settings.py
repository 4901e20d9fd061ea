"""How every component is built: one image setting, no pip install at run time."""

from __future__ import annotations

import os

from cnai import __version__

# The project image (Dockerfile at the repo root). kfp.local's SubprocessRunner ignores it and runs
# in this environment; on a cluster every step runs in it, so pods need no network.
DEFAULT_COMPONENT_IMAGE = f"ghcr.io/cnai-pipelines/cnai:{__version__}"
COMPONENT_IMAGE = os.environ.get("CNAI_COMPONENT_IMAGE", DEFAULT_COMPONENT_IMAGE)

COMPONENT_OPTIONS = {"base_image": COMPONENT_IMAGE, "install_kfp_package": False}

# The Secret holding the object store's S3 keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): created
# by the user (README, "Run on Kubeflow"), referenced by name from pods, never written anywhere.
OBJECT_STORE_SECRET = "cnai-object-store"
RUN_AS_USER = 10001  # the Dockerfile's user
# The inference log sink's volume (manifests/base/inference-log-sink.yaml), which the drift check reads.
INFERENCE_LOG_CLAIM = "cnai-inference-log"
INFERENCE_LOG_MOUNT = "/var/log/cnai"
# The log sink's writer token (manifests/base/inference-log-sink.yaml): the deploy step puts it in
# KServe's logger URL, the one place KServe's logger can carry it.
LOG_SINK_SECRET = "cnai-inference-log-sink"
LOG_SINK_TOKEN_ENV = "CNAI_LOG_SINK_TOKEN"


def on_kubernetes(task, object_store: bool = False, timeout_s: int | None = None, inference_log: bool = False,
                  log_sink_token: bool = False):
    """The kfp-kubernetes settings a task's pod gets on a cluster (kfp.local ignores them).

    `object_store`: the step itself reads or writes the object store beyond KFP's own artifact
    handling (the train step copying a TrainJob's outputs), so the Secret's keys become env vars.
    """
    from kfp import kubernetes

    kubernetes.add_pod_label(task, "app.kubernetes.io/part-of", "cnai-pipelines")
    kubernetes.set_image_pull_policy(task, "IfNotPresent")
    kubernetes.set_security_context(task, run_as_user=RUN_AS_USER, run_as_non_root=True)
    if object_store:
        kubernetes.use_secret_as_env(task, OBJECT_STORE_SECRET, {key: key for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
                                     optional=True)
    if timeout_s:
        kubernetes.set_timeout(task, timeout_s)
    if inference_log:
        kubernetes.mount_pvc(task, pvc_name=INFERENCE_LOG_CLAIM, mount_path=INFERENCE_LOG_MOUNT)
    if log_sink_token:  # optional: a namespace without monitoring has no sink and no Secret
        kubernetes.use_secret_as_env(task, LOG_SINK_SECRET, {"token": LOG_SINK_TOKEN_ENV}, optional=True)
    return task
