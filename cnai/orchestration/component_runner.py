"""Run one component from plain command-line arguments: the entry point of the v1 component specs.

Elyra's catalog (and any KFP v1-style tool) passes values and file paths as arguments
(`{inputValue: x}`, `{inputPath: x}`, `{outputPath: x}`); this calls the same component function
KFP v2 calls, with KFP artifact objects on those paths, so lineage and carbon are recorded as ever.

    python -m cnai.orchestration.component_runner ingest --source data/events.csv --column_types '{"store": "string"}' --dataset out/
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from kfp.dsl.types import type_annotations

from cnai.orchestration.catalog import all_components

RETURN_OUTPUT = "Output"


def _parameter(value: str, annotation: Any) -> Any:
    if annotation in (dict, list) or getattr(annotation, "__origin__", None) in (dict, list):
        return json.loads(value)
    if annotation is bool:
        return value.lower() in ("true", "1", "yes")
    if annotation in (int, float):
        return annotation(value)
    return value


def run_component(name: str, argv: list[str]) -> Any:
    component = all_components()[name]
    function = component.python_func
    parser = argparse.ArgumentParser(prog=f"cnai.orchestration.component_runner {name}")
    signature = inspect.signature(function)
    for parameter in signature.parameters.values():
        required = parameter.default is inspect.Parameter.empty
        parser.add_argument(f"--{parameter.name}", required=required)
    if signature.return_annotation is not inspect.Signature.empty:
        parser.add_argument(f"--{RETURN_OUTPUT}", required=True, help="file to write the return value to")
    args = vars(parser.parse_args(argv))

    kwargs = {}
    for parameter in signature.parameters.values():
        value = args[parameter.name]
        if value is None:
            continue
        annotation = type_annotations.maybe_strip_optional_from_annotation(parameter.annotation)  # an optional input artifact
        if type_annotations.is_artifact_wrapped_in_Input(annotation) or type_annotations.is_artifact_wrapped_in_Output(annotation):
            artifact_class = type_annotations.get_io_artifact_class(annotation)
            path = Path(value).resolve()
            if type_annotations.is_artifact_wrapped_in_Output(annotation):
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs[parameter.name] = artifact_class(name=parameter.name, uri=str(path), metadata={})
        else:
            kwargs[parameter.name] = _parameter(value, annotation)
    result = function(**kwargs)
    for name_, artifact in kwargs.items():
        if hasattr(artifact, "metadata") and type_annotations.is_artifact_wrapped_in_Output(signature.parameters[name_].annotation):
            # Beside each output, what KFP v2 would have put in ML Metadata.
            Path(artifact.path).with_name(Path(artifact.path).name + ".metadata.json").write_text(
                json.dumps(artifact.metadata, indent=2, default=str))
    if args.get(RETURN_OUTPUT):
        Path(args[RETURN_OUTPUT]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[RETURN_OUTPUT]).write_text(result if isinstance(result, str) else json.dumps(result))
    return result


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in all_components():
        sys.exit(f"usage: python -m cnai.orchestration.component_runner {{{','.join(all_components())}}} --arg value ...")
    run_component(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
