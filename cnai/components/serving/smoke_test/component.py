from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Model, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def smoke_test(
    holdout: Input[Dataset],
    model: Input[Model],
    endpoint_url: str,
    model_name: str,
    report: Output[Markdown],
    expected_version: str = "",
    rows: int = 32,
    target: str = "local",
    cluster: dict = {},  # noqa: B006 (KFP reads the default from the signature; never mutated)
    registry_uri: str = "",
):
    """Send real v2 and v1 requests; fail unless the answers match the model's own predictions.

    Args:
        holdout: Rows to send.
        model: The model that should be answering.
        endpoint_url: The server's base URL.
        model_name: The served model's name.
        report: What was sent and how the answers compared.
        expected_version: The version the server must report (empty: not checked).
        rows: How many rows to send.
        target: kubeflow: promote the InferenceService's new revision on success, roll it back on failure;
            local: on failure, swap back the version the deploy replaced.
        cluster: The `cluster` section of cnai.yaml; used when target is kubeflow.
        registry_uri: The registry whose `production` alias moves: to the new version on success
            (kubeflow target), back to the replaced one on failure (local).
    """
    from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
    from cnai.core.tracking import run_step

    run_step(
        "smoke_test",
        smoke_test_endpoint,
        inputs={"holdout": holdout, "model": model},
        outputs={"report": report},
        params={"endpoint": endpoint_url, "model_name": model_name, "expected_version": expected_version, "rows": rows,
                "target": target, "cluster": cluster, "registry_uri": registry_uri},
    )
