from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Model, Output

from cnai.core.kfp_settings import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def register(
    model: Input[Model],
    training_set: Input[Dataset],
    evaluation: Input[Markdown],
    registry_uri: str,
    model_name: str,
    model_card: Output[Markdown],
    deploy_decision: bool = False,
) -> str:
    """Register the model as a new immutable version (or find the version this exact model already is).

    Args:
        model: The model to register.
        training_set: The data it was trained on; its hash is recorded with the version.
        evaluation: The evaluation gate's comparison; its decision and reason are recorded as tags.
        registry_uri: MLflow registry URI (`sqlite:///...` locally).
        model_name: The registered model's name.
        model_card: Data, metrics, parameters, lineage and carbon of this version.
        deploy_decision: The evaluation gate's decision, recorded as a tag.

    Returns:
        The version number, as a string.
    """
    from cnai.components.registry.register.executor import register_model
    from cnai.core.tracking import run_step

    facts = run_step(
        "register",
        register_model,
        inputs={"model": model, "training_set": training_set, "evaluation": evaluation},
        outputs={"model_card": model_card},
        params={"registry_uri": registry_uri, "model_name": model_name, "deploy_decision": deploy_decision},
    )
    return facts["version"]
