"""The error types users see. Each names what was wrong and where (file, column, field)."""


class CnaiError(Exception):
    """Base class: anything raised on purpose by cnai-pipelines."""


class ConfigError(CnaiError):
    """A configuration file or parameter is invalid; the message names the key."""


class DataError(CnaiError):
    """Input data cannot be used; the message names the file and column."""


class ValidationFailed(CnaiError):
    """A critical expectation failed; the message names the column and expectation."""


class RegistryError(CnaiError):
    """The model registry refused or could not complete an operation."""


class ServingError(CnaiError):
    """The model server could not be started, updated or reached."""


class ClusterError(CnaiError):
    """A Kubernetes resource (Katib Experiment, TrainJob, InferenceService...) failed or timed out;
    the message names the resource and its last condition."""
