"""The monitoring pipeline: drift check -> (only on drift) the training pipeline, nested.

The training pipeline runs as it is (its components, its gate): a retrained model is deployed
only if the evaluation gate finds it better than production. Its parameters are the training
pipeline's own, declared once there, plus the drift check's.
"""

import inspect
from functools import cache

from kfp import dsl

from cnai.components.monitoring.drift_check.component import drift_check
from cnai.core.config import MonitoringConfig, default_of
from cnai.core.kfp_settings import on_kubernetes
from cnai.pipelines.training.pipeline import training_pipeline_for

PIPELINE_NAME = "cnai-monitoring"

DRIFT_PARAMETERS = [
    inspect.Parameter("current_data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
    inspect.Parameter("monitoring_since", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str, default=""),
    *(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=field.annotation,
                        default=default_of(MonitoringConfig, name))
      for name, field in MonitoringConfig.model_fields.items()),
]


@cache
def monitoring_pipeline_for(with_feature_view: bool):
    """The monitoring pipeline around the training pipeline of the same shape."""
    training_pipeline = training_pipeline_for(with_feature_view)
    training_parameters = list(inspect.signature(training_pipeline.pipeline_func).parameters.values())
    # KFP reads a pipeline's parameters from its signature; required ones must come first.
    parameters = sorted(DRIFT_PARAMETERS + training_parameters, key=lambda p: p.default is not inspect.Parameter.empty)

    def monitoring(*arguments):
        values = dict(zip([p.name for p in parameters], arguments, strict=True))
        drift = on_kubernetes(drift_check(
            current_data=values["current_data"], registry_uri=values["registry_uri"], model_name=values["model_name"],
            since=values["monitoring_since"], p_value_threshold=values["p_value_threshold"],
            min_effect_size=values["min_effect_size"], drift_share_threshold=values["drift_share_threshold"],
            min_rows=values["min_rows"],
        ).set_caching_options(False), object_store=True, inference_log=True)  # the log grows under one path: never cached
        with dsl.If(drift.outputs["Output"] == True, name="drift-detected"):  # noqa: E712 (KFP condition)
            training_pipeline(**{p.name: values[p.name] for p in training_parameters})

    monitoring.__signature__ = inspect.Signature(parameters)
    monitoring.__name__ = "monitoring_pipeline"
    return dsl.pipeline(
        name=PIPELINE_NAME,
        description="Drift check on served traffic or a new batch; on drift, retrain through the training pipeline and its gate.",
    )(monitoring)


monitoring_pipeline = monitoring_pipeline_for(True)  # the example project's shape (cnai.yaml)
