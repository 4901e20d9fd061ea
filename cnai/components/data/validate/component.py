from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def validate(
    dataset: Input[Dataset],
    expectation_suite: dict,
    validated: Output[Dataset],
    quarantine: Output[Dataset],
    results: Output[Artifact],
    data_docs: Output[HTML],
    inferred_suite: Output[Artifact],
    label: str = "",
    task: str = "",
    timestamp: str = "",
    split: str = "",
):
    """Validate a dataset with a Great Expectations suite; quarantine failing rows, stop on critical ones.

    Args:
        dataset: The Parquet dataset to check.
        expectation_suite: A GX 1.x suite as a dict (the JSON file in `expectations/`); empty to infer one.
        validated: The rows that passed every row-level expectation.
        quarantine: The rows that failed one, with a `failed_expectations` column.
        results: The GX validation result (JSON).
        data_docs: GX Data Docs for this validation, as HTML.
        inferred_suite: The suite that was used (inferred when none was given), as JSON.
        label: The label column: rows without one are quarantined; empty for data without a label.
        task: binary, multiclass or regression: the label must suit it (checked after quarantine); empty: not checked.
        timestamp: The events' time column; empty for data without a time.
        split: With "time", rows without a time are quarantined (the split orders rows by it).
    """
    from cnai.components.data.validate.executor import validate_dataset
    from cnai.core.tracking import run_step

    run_step(
        "validate",
        validate_dataset,
        inputs={"dataset": dataset},
        outputs={"validated": validated, "quarantine": quarantine, "results": results, "data_docs": data_docs,
                 "inferred_suite": inferred_suite},
        params={"expectation_suite": expectation_suite, "label": label, "task": task, "timestamp": timestamp,
                "split": split},
    )
