"""Each setting's default is declared once, in the configuration models (cnai.core.config): the
pipeline's parameters and every step's executor either take it from there or have none. A copy
written elsewhere drifts (it did: max_trials was 12 in the config and 10 in three other places)."""

import importlib
import inspect
import pkgutil

import pytest

import cnai.components
from cnai.core.config import (
    EvaluationConfig,
    ModelConfig,
    MonitoringConfig,
    Settings,
    TableSource,
    TuningConfig,
    default_of,
)
from cnai.pipelines.training.pipeline import training_pipeline_for

# parameter name (in executors and the pipeline) -> (model, field) it comes from
SETTINGS = {
    "holdout_fraction": (Settings, "holdout_fraction"), "spark_master": (Settings, "spark_master"),
    "serving_host": (Settings, "serving_host"), "serving_port": (Settings, "serving_port"),
    "host": (Settings, "serving_host"), "port": (Settings, "serving_port"),
    "target": (Settings, "target"), "seed": (TuningConfig, "seed"), "max_trials": (TuningConfig, "max_trials"),
    "parallel_trials": (TuningConfig, "parallel_trials"), "early_stopping": (TuningConfig, "early_stopping"),
    "algorithm": (TuningConfig, "algorithm"), "tuning_algorithm": (TuningConfig, "algorithm"),
    "min_improvement": (EvaluationConfig, "min_improvement"), "model_kind": (ModelConfig, "kind"),
    "model_kind_name": (ModelConfig, "kind"),
    **{name: (MonitoringConfig, name) for name in MonitoringConfig.model_fields},
    **{name: (TableSource, name) for name in ("delimiter", "encoding", "decimal")},
}


def executors():
    for module in pkgutil.walk_packages(cnai.components.__path__, "cnai.components."):
        if module.name.endswith(".executor"):
            loaded = importlib.import_module(module.name)
            for name, function in inspect.getmembers(loaded, inspect.isfunction):
                if function.__module__ == module.name and not name.startswith("_"):
                    yield f"{module.name}.{name}", function


@pytest.mark.parametrize("with_feature_view", [True, False])
def test_the_pipeline_defaults_are_the_configurations(with_feature_view):
    parameters = inspect.signature(training_pipeline_for(with_feature_view).pipeline_func).parameters
    checked = [name for name in parameters if name in SETTINGS]
    assert len(checked) >= 10
    for name in checked:
        model, field = SETTINGS[name]
        assert parameters[name].default == default_of(model, field), name


@pytest.mark.parametrize("with_feature_view", [True, False])
def test_the_monitoring_pipeline_defaults_are_the_configurations(with_feature_view):
    from cnai.pipelines.monitoring.pipeline import monitoring_pipeline_for

    parameters = inspect.signature(monitoring_pipeline_for(with_feature_view).pipeline_func).parameters
    checked = [name for name in parameters if name in SETTINGS]
    assert set(MonitoringConfig.model_fields) <= set(checked)
    for name in checked:
        model, field = SETTINGS[name]
        assert parameters[name].default == default_of(model, field), name


def test_no_executor_restates_a_default_differently():
    found = list(executors())
    assert len(found) >= 11, "every component's executor was found"
    drifted = []
    for where, function in found:
        for name, parameter in inspect.signature(function).parameters.items():
            if name == "seed" and ".monitoring." in where:
                continue  # the drift check's seed draws its sample; it is not the tuning seed
            if name in SETTINGS and parameter.default is not inspect.Parameter.empty:
                model, field = SETTINGS[name]
                if parameter.default != default_of(model, field):
                    drifted.append(f"{where}({name}={parameter.default!r}; cnai.yaml's default is {default_of(model, field)!r})")
    assert not drifted, drifted


def test_no_component_restates_a_default_differently():
    """A component's signature must hold literal defaults (KFP runs the function's source alone in its
    pod): each is checked against the configuration instead."""
    components = [getattr(module, name) for module in (importlib.import_module(m.name) for m in
                  pkgutil.walk_packages(cnai.components.__path__, "cnai.components.") if m.name.endswith(".component"))
                  for name in dir(module) if hasattr(getattr(module, name), "python_func")]
    assert len(components) >= 11, "every component was found"
    drifted, checked = [], 0
    for component in components:
        for name, parameter in inspect.signature(component.python_func).parameters.items():
            if name in SETTINGS and parameter.default is not inspect.Parameter.empty and name != "seed":
                checked += 1
                model, field = SETTINGS[name]
                if parameter.default != default_of(model, field):
                    drifted.append(f"{component.name}({name}={parameter.default!r}; cnai.yaml's default is "
                                   f"{default_of(model, field)!r})")
    assert checked >= 5 and not drifted, (checked, drifted)
