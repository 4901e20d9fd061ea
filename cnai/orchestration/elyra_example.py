"""The example Elyra pipeline, derived from the compiled KFP training pipeline.

Elyra's editor has no conditions, so the example holds every task outside the gate's `dsl.If`
(ingest to register and the run summary); deploying stays with the compiled KFP pipeline, where
the gate decides. Values come from the compiled pipeline's defaults (that is, from `cnai.yaml`),
with `target` set to kubeflow;
`registry_uri` becomes an Elyra pipeline parameter because it names cluster state.
Standard library only: `make compile` runs this in our environment, Elyra reads the result in its own.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

CATALOG_TYPE = "cnai-catalog"  # the entry-point name in pyproject.toml and the schema's `name`
# name -> (description, default); the default is the Kubeflow Model Registry's in-cluster service.
PIPELINE_PARAMETERS = {
    "registry_uri": ("The model registry: model-registry+<Kubeflow Model Registry address>, or an MLflow tracking URI.",
                     "model-registry+http://model-registry-service.kubeflow.svc.cluster.local:8080"),
}
# Elyra submits to Kubeflow Pipelines, never runs locally: the steps use the cluster's services.
FIXED_VALUES = {"target": "kubeflow"}
_NODE_NAMESPACE = uuid.UUID("6f1d8a52-1c5e-4c43-9a57-6a3f0e4b2c11")


def component_id(relative: str) -> str:
    """Elyra's id for an entry of our catalog: `CatalogEntry.compute_unique_id` over our one hash key."""
    return f"{CATALOG_TYPE}:{hashlib.sha256(relative.encode()).hexdigest()[:12]}"


def _port(kind: str, links: list[dict] | None = None) -> dict:
    port = {"id": f"{kind}Port", "app_data": {"ui_data": {"cardinality": {"min": 0, "max": -1},
                                                          "label": f"{kind.title()}put Port"}}}
    if links is not None:
        port["links"] = links
    return port


def _literal(value: Any, parameter_type: str) -> dict:
    if parameter_type == "NUMBER_INTEGER":
        return {"widget": "number", "value": int(value)}
    if parameter_type == "NUMBER_DOUBLE":
        return {"widget": "number", "value": float(value)}
    if parameter_type == "BOOLEAN":
        return {"widget": "boolean", "value": bool(value)}
    if parameter_type in ("LIST", "STRUCT"):  # declared `String` (JSON) in the v1 specs; see cnai.orchestration.catalog._v1_type
        return {"widget": "string", "value": json.dumps(value)}
    return {"widget": "string", "value": value}


def example_pipeline(compiled: dict, component_paths: dict[str, str], name: str) -> dict:
    """An Elyra v8 `.pipeline` document for the tasks of `compiled` (a KFP PipelineSpec as a dict).

    `component_paths` maps a component's function name to its `<category>/<name>` in the catalog.
    """
    root = compiled["root"]
    defaults = root["inputDefinitions"]["parameters"]
    executors = compiled["deploymentSpec"]["executors"]
    tasks = {key: task for key, task in root["dag"]["tasks"].items()
             if not task["componentRef"]["name"].startswith("comp-condition-")}
    node_ids = {key: str(uuid.uuid5(_NODE_NAMESPACE, key)) for key in tasks}

    depth: dict[str, int] = {}

    def depth_of(key: str) -> int:
        if key not in depth:
            depth[key] = 1 + max((depth_of(d) for d in tasks[key].get("dependentTasks", [])), default=-1)
        return depth[key]

    nodes, rows_used = [], {}
    for key in sorted(tasks, key=lambda k: (depth_of(k), k)):
        task = tasks[key]
        component = compiled["components"][task["componentRef"]["name"]]
        args = executors[component["executorLabel"]]["container"]["args"]
        function = args[args.index("--function_to_execute") + 1]
        parameters: dict[str, Any] = {}
        for input_name, source in sorted(task.get("inputs", {}).get("artifacts", {}).items()):
            producer = source["taskOutputArtifact"]
            parameters[input_name] = {"widget": "inputpath", "value": {
                "value": node_ids[producer["producerTask"]], "option": f"output_{producer['outputArtifactKey']}"}}
        for input_name, source in sorted(task.get("inputs", {}).get("parameters", {}).items()):
            if "taskOutputParameter" in source:
                producer = source["taskOutputParameter"]
                parameters[input_name] = {"widget": "inputpath", "value": {
                    "value": node_ids[producer["producerTask"]], "option": f"output_{producer['outputParameterKey']}"}}
            elif "runtimeValue" in source:  # a value written in the pipeline's code
                declared = component["inputDefinitions"]["parameters"][input_name]
                parameters[input_name] = _literal(source["runtimeValue"]["constant"], declared["parameterType"])
            elif source.get("componentInputParameter") in FIXED_VALUES:
                parameters[input_name] = {"widget": "string", "value": FIXED_VALUES[source["componentInputParameter"]]}
            elif source.get("componentInputParameter") in PIPELINE_PARAMETERS:
                parameters[input_name] = {"widget": "parameter", "value": source["componentInputParameter"]}
            else:
                pipeline_input = defaults[source["componentInputParameter"]]
                parameters[input_name] = _literal(pipeline_input["defaultValue"], pipeline_input["parameterType"])
        # Elyra's KFP export reads every property the component declares, so the task's own defaults are spelled out.
        for input_name, declared in component.get("inputDefinitions", {}).get("parameters", {}).items():
            if input_name not in parameters and "defaultValue" in declared:
                parameters[input_name] = _literal(declared["defaultValue"], declared["parameterType"])
        for output_name in component.get("outputDefinitions", {}).get("artifacts", {}):
            parameters[f"output_{output_name}"] = ""
        for output_name in component.get("outputDefinitions", {}).get("parameters", {}):
            parameters[f"output_{output_name}"] = ""
        column = depth_of(key)
        row = rows_used.get(column, 0)
        rows_used[column] = row + 1
        links = [{"id": str(uuid.uuid5(_NODE_NAMESPACE, f"{parent}->{key}")), "node_id_ref": node_ids[parent],
                  "port_id_ref": "outPort"} for parent in sorted(task.get("dependentTasks", []))]
        nodes.append({
            "id": node_ids[key],
            "type": "execution_node",
            "op": component_id(component_paths[function]),
            "app_data": {
                "component_parameters": parameters,
                "label": task["taskInfo"]["name"],
                "ui_data": {"label": task["taskInfo"]["name"], "image": "/static/elyra/kubeflow.svg",
                            "x_pos": 40 + 220 * column, "y_pos": 60 + 110 * row},
            },
            "inputs": [_port("in", links)],
            "outputs": [_port("out")],
        })
    return {
        "doc_type": "pipeline",
        "version": "3.0",
        "json_schema": "http://api.dataplatform.ibm.com/schemas/common-pipeline/pipeline-flow/pipeline-flow-v3-schema.json",
        "id": f"{name}-elyra-example",
        "primary_pipeline": "primary",
        "pipelines": [{
            "id": "primary",
            "nodes": nodes,
            "app_data": {
                "ui_data": {"comments": []},
                "version": 8,
                "runtime_type": "KUBEFLOW_PIPELINES",
                "properties": {
                    "name": name,
                    "runtime": "Kubeflow Pipelines",
                    "description": compiled["pipelineInfo"].get("description", ""),
                    "pipeline_parameters": [
                        {"name": param, "description": text, "default_value": {"type": "String", "value": default},
                         "required": True}
                        for param, (text, default) in PIPELINE_PARAMETERS.items()
                    ],
                },
            },
            "runtime_ref": "",
        }],
        "schemas": [],
    }
