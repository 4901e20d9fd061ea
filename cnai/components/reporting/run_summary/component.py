from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def run_summary(
    events: Input[Artifact],
    feature_tables: Input[Artifact],
    validated: Input[Artifact],
    training_set: Input[Artifact],
    trials: Input[Artifact],
    model: Input[Artifact],
    comparison: Input[Artifact],
    model_card: Input[Artifact],
    summary: Output[Markdown],
):
    """Carbon per step: duration, energy and CO2 of every step behind these outputs, as one table.

    Args:
        events: The ingested events (ingest).
        feature_tables: The ingested feature sources (ingest_tables).
        validated: The validated rows (validate).
        training_set: The training set (features).
        trials: The trials table (tune).
        model: The trained model (train).
        comparison: The gate's comparison (evaluate).
        model_card: The model card (register).
        summary: The table, with totals.
    """
    from cnai.components.reporting.run_summary.executor import summarize_run
    from cnai.core.tracking import run_step

    run_step(
        "run_summary",
        summarize_run,
        inputs={"events": events, "feature_tables": feature_tables, "validated": validated, "training_set": training_set,
                "trials": trials, "model": model, "comparison": comparison, "model_card": model_card},
        outputs={"summary": summary},
    )
