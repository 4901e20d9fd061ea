"""cnai-pipelines: reusable Kubeflow Pipelines components from raw data to a monitored model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cnai-pipelines")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
