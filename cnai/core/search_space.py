"""The tuning search space, in Katib's ParameterSpec shape, and the rules a declaration must meet.

One declaration serves Optuna locally and a Katib Experiment on a cluster, so its shape is checked
here, by everything that takes one: `cnai.yaml` when it is loaded (before any step runs), the tune
step (a component can be used without our CLI) and the Katib path. Light on purpose: loading the
configuration must not import scikit-learn or pandas. Whether the model takes each parameter, and
each value, is the model kind's check (`cnai.models.base.ModelKind.parameter_problems`).
"""

from __future__ import annotations

import math
from typing import Any

from cnai.core.errors import ConfigError

NUMERIC_TYPES = ("int", "double")
LISTED_TYPES = ("categorical", "discrete")

def search_space_problems(parameters: list[dict[str, Any]], algorithm: str | None = None) -> list[str]:
    """Every problem with the declaration, each naming its key (`tuning.parameters.<name>.<field>`)."""
    if not parameters:
        return ["tuning.parameters: the search space is empty; declare at least one parameter"]
    problems = []
    seen: set[str] = set()
    for index, p in enumerate(parameters):
        name = p.get("name") or f"[{index}]"
        key = f"tuning.parameters.{name}"
        if name in seen:
            problems.append(f"{key}: declared twice")
        seen.add(name)
        kind = p.get("parameter_type")
        if kind in LISTED_TYPES:
            values = p.get("values") or []
            if not values:
                problems.append(f"{key}.values: parameter_type {kind} needs at least one value")
            elif len({repr(v) for v in values}) != len(values):
                problems.append(f"{key}.values: {values} repeats a value")
            continue
        if kind not in NUMERIC_TYPES:
            problems.append(f"{key}.parameter_type: {kind!r} is not one of {[*NUMERIC_TYPES, *LISTED_TYPES]}")
            continue
        problems += _range_problems(key, kind, p, algorithm)
    return problems


def _range_problems(key: str, kind: str, p: dict[str, Any], algorithm: str | None) -> list[str]:
    low, high, step = p.get("min"), p.get("max"), p.get("step")
    missing = [field for field, value in (("min", low), ("max", high)) if value is None]
    if missing:
        return [f"{key}.{field}: required for parameter_type {kind}" for field in missing]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high)):
        return [f"{key}: min and max must be finite numbers (got {low!r}, {high!r})"]
    problems = []
    if low > high:
        problems.append(f"{key}: the range is empty (min {low} > max {high})")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        problems.append(f"{key}: an int parameter needs whole-number min, max and step")
    if step is not None and not (step > 0):
        problems.append(f"{key}.step: must be above 0 (got {step})")
    if p.get("log") and low <= 0:
        problems.append(f"{key}.min: a log-scale range must start above 0 (got {low})")
    if p.get("log") and step and not (kind == "int" and step == 1):
        problems.append(f"{key}: log and step do not go together (Optuna and Katib sample one or the other)")
    if algorithm == "grid" and not step:
        problems.append(f"{key}.step: the grid algorithm needs a step for every numeric parameter")
    return problems


def check_search_space(parameters: list[dict[str, Any]], algorithm: str | None = None) -> None:
    problems = search_space_problems(parameters, algorithm)
    if problems:
        raise ConfigError("; ".join(problems))
