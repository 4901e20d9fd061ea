"""smoke test: real v2 and v1 requests to the endpoint; answers must match the model's own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import requests

from cnai.backends.local.model_server import NOT_TRAFFIC_HEADER, v1_request, v2_request
from cnai.core.artifacts import atomic_output
from cnai.core.errors import ServingError
from cnai.models.saved import LoadedModel


def smoke_test_endpoint(
    holdout: str,
    model: str,
    report: str,
    endpoint: str,
    model_name: str,
    expected_version: str = "",
    rows: int = 32,
    tolerance: float = 1e-9,
    target: str = "local",
    cluster: dict[str, Any] | None = None,
    registry_uri: str = "",
) -> dict[str, Any]:
    """Compare the endpoint's v2 and v1 answers with the model's own.

    On a cluster the endpoint is the new revision's; passing promotes it (all traffic, and the
    registry's `production` alias), failing rolls it back so the previous version keeps serving.
    Locally deploy swapped the version in and promoted it; failing swaps back the version it
    replaced and gives that the alias again.
    """
    if target == "kubeflow":
        from cnai.backends import registry
        from cnai.backends.kubeflow import kserve as serving

        try:
            facts = _compare(holdout, model, report, endpoint, model_name, expected_version, rows, tolerance)
        except Exception as error:
            serving.rollback(model_name, cluster or {}, f"smoke test failed: {error}")
            raise
        serving.promote(model_name, cluster or {})
        if registry_uri and expected_version:
            registry.promote(registry_uri, model_name, expected_version)
        return {**facts, "promoted": True}
    try:
        return _compare(holdout, model, report, endpoint, model_name, expected_version, rows, tolerance)
    except Exception as error:
        if not expected_version:
            raise
        from cnai.backends.local.deployment import roll_back

        # As the cluster's canary: a version whose smoke test did not pass is unverified, whether its
        # answers differed or the check itself failed (a request it could not build), so it is rolled back.
        failed = str(error) if isinstance(error, ServingError) else (
            f"{endpoint}: smoke test of version {expected_version} failed ({type(error).__name__}: {error})")
        try:
            previous = roll_back(registry_uri, model_name, expected_version, endpoint)
        except Exception as failure:  # noqa: BLE001 - both must be reported, the smoke test's first
            raise ServingError(f"{failed}; rolling back failed too: {failure}") from error
        if previous is None:
            raise ServingError(f"{failed}; version {expected_version} stays served and production: no earlier "
                               "version was serving to roll back to") from error
        raise ServingError(f"{failed}; rolled back: version {previous} is serving again and is production") from error


def _compare(holdout: str, model: str, report: str, endpoint: str, model_name: str, expected_version: str,
             rows: int, tolerance: float) -> dict[str, Any]:
    local = LoadedModel(model)
    sample = pd.read_parquet(holdout).head(rows)[local.feature_columns]
    scores = local.scores(sample)
    # What the server must answer: classification, every class's probability; regression, the value.
    expected = (np.column_stack(list(local.class_probabilities(scores).values())) if local.classes
                else np.asarray(scores, dtype=float))
    checks = []

    v2 = _post(f"{endpoint}/v2/models/{model_name}/infer", v2_request(sample, "smoke-test"))
    outputs = {o["name"]: o.get("data", []) for o in v2.get("outputs", [])}
    if local.classes:
        got = [outputs.get(f"probability_{c}", []) for c in local.class_probabilities(scores)]
        v2_answer = np.column_stack([np.asarray(g, dtype=float) for g in got]) if all(len(g) == len(sample) for g in got) else np.array([])
    else:
        v2_answer = np.asarray(outputs.get("prediction", []), dtype=float)
    checks.append(("v2 infer", v2_answer, v2.get("model_version")))
    v1 = _post(f"{endpoint}/v1/models/{model_name}:predict", v1_request(sample))
    if local.classes:
        v1_answer = np.asarray([[row.get(str(c)) for c in local.classes] for row in v1.get("probabilities", [])], dtype=float)
    else:
        v1_answer = np.asarray(v1.get("predictions", []), dtype=float)
    checks.append(("v1 predict", v1_answer, v1.get("model_version")))
    if v1.get("predictions") != local.predictions(scores):
        checks.append(("v1 predictions", np.array([np.inf]), v1.get("model_version")))

    lines = [f"# Smoke test: {endpoint}", "", "| protocol | rows | max abs diff | served version |", "|---|---|---|---|"]
    failures = []
    for name, got, served_version in checks:
        diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
        lines.append(f"| {name} | {len(got)} | {diff:.3g} | {served_version} |")
        if diff > tolerance:
            failures.append(f"{name}: answers differ from the model's own (max diff {diff:.3g})")
        if expected_version and str(served_version) != str(expected_version):
            failures.append(f"{name}: served version {served_version}, expected {expected_version}")
    with atomic_output(report) as staging:
        staging.write_text("\n".join(lines) + ("\n\nFAILED: " + "; ".join(failures) if failures else "\n\nAll answers match.") + "\n")
    if failures:
        raise ServingError(f"{endpoint}: smoke test failed: " + "; ".join(failures))
    return {"requests": len(checks), "rows": len(sample), "passed": True}


def _post(url: str, body: dict) -> dict:
    try:
        response = requests.post(url, json=body, timeout=30,
                                 headers={"Content-Type": "application/json", NOT_TRAFFIC_HEADER: "smoke-test"})
    except requests.RequestException as exc:
        raise ServingError(f"{url}: no answer ({exc})") from exc
    if response.status_code != 200:
        raise ServingError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()
