from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Model, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def evaluate(
    model: Input[Model],
    holdout: Input[Dataset],
    registry_uri: str,
    model_name: str,
    metric: str,
    min_improvement: float,
    minimum_for_first_model: float,
    comparison: Output[Markdown],
    limit_rows: int = 0,
) -> bool:
    """The gate: compare the candidate with the production model on held-out rows neither trained on.

    Args:
        model: The candidate.
        holdout: The candidate's held-out rows; both models are scored on those the production
            version never trained on either (newer than its training data for a time split, held
            out by its seeded split for a random one), and `comparison` says which rows they were.
        registry_uri: Where the production model is found (its `production` alias).
        model_name: The registered model's name.
        comparison: Candidate vs production, and the decision.
        metric: One of the task's metrics (cnai.core.tasks.METRICS); its direction decides "better".
        min_improvement: How much better the candidate must be, in the metric's direction.
        minimum_for_first_model: The bar when nothing is in production yet (±1e300: none).
        limit_rows: The run read only its first N events (a quick run: `cnai run --sample-rows`);
            0: every row. Such a candidate, trained on fewer rows than production, never replaces it.

    Returns:
        True only when the candidate should replace production. A single bool output on purpose:
        kfp.local resolves a `dsl.If` only on a task's `Output` (a named output is silently None).
        The reason is in `comparison`'s metadata.
    """
    from cnai.components.evaluation.evaluate.executor import evaluate_candidate
    from cnai.core.tracking import run_step

    facts = run_step(
        "evaluate",
        evaluate_candidate,
        inputs={"model": model, "holdout": holdout},
        outputs={"comparison": comparison},
        params={"registry_uri": registry_uri, "model_name": model_name, "metric": metric,
                "min_improvement": min_improvement, "minimum_for_first_model": minimum_for_first_model,
                "limit_rows": limit_rows},
    )
    return facts["deploy"]
