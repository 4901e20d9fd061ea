"""Elyra itself on our catalog and example pipeline (run in Elyra's environment by `make elyra-check`).

Elyra 4.1.1 cannot share an environment with our dependencies (it pins older click and
marshmallow, under Feast), so `make elyra-check` installs our package there with `--no-deps`, as
the README tells a user to, and runs this with `.venv-elyra/bin/python`. In a throwaway Jupyter
data directory it then does what a user does:

1. adds our installable catalog (`elyra-metadata create component-catalogs --schema_name=cnai-catalog`)
   and checks that Elyra's component cache holds every component with every declared input;
2. runs `elyra-pipeline validate` on the example `.pipeline`, and on a broken copy that must fail;
3. runs `elyra-pipeline export` (a KFP runtime configuration with no server behind it) and parses
   the result as a KFP PipelineSpec with one task per node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "cnai" / "pipelines" / "training" / "cnai-training.pipeline"
BIN = Path(sys.executable).parent
failures: list[str] = []


def elyra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, cwd=REPO)


def check(condition: bool, message: str) -> None:
    print(("ok " if condition else "FAILED ") + message)
    if not condition:
        failures.append(message)


home = Path(tempfile.mkdtemp(prefix="cnai-elyra-"))
os.environ.update(JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
                  JUPYTER_RUNTIME_DIR=str(home / "data" / "runtime"))
(home / "data" / "runtime").mkdir(parents=True)

added = elyra("elyra-metadata", "create", "component-catalogs", "--schema_name=cnai-catalog",
              "--display_name=cnai-pipelines", "--runtime_type=KUBEFLOW_PIPELINES")
check(added.returncode == 0, "catalog added" + (f": {added.stderr.strip()[-300:]}" if added.returncode else ""))
# Export needs a runtime configuration; nothing is contacted, and these names are placeholders.
runtime = elyra("elyra-metadata", "create", "runtimes", "--schema_name=kfp", "--display_name=kubeflow",
                "--api_endpoint=http://127.0.0.1:9/pipeline", "--engine=Argo", "--cos_endpoint=http://127.0.0.1:9",
                "--cos_bucket=cnai", "--cos_auth_type=KUBERNETES_SECRET", "--cos_secret=object-store-credentials",
                "--cos_username=placeholder", "--cos_password=placeholder")
check(runtime.returncode == 0, "runtime configuration added" + (f": {runtime.stderr.strip()[-300:]}" if runtime.returncode else ""))

from elyra.pipeline.component_catalog import ComponentCache  # noqa: E402 (reads the data dir set above)
from elyra.pipeline.runtime_type import RuntimeProcessorType  # noqa: E402

cache = ComponentCache.instance(emulate_server_app=True)
cache.load()
cache.wait_for_all_cache_tasks()
components = {c.name: c for c in cache.get_all_components(platform=RuntimeProcessorType.KUBEFLOW_PIPELINES)
              if c.catalog_type == "cnai-catalog"}
expected = sorted(p.parent.name for p in (REPO / "cnai" / "components").glob("*/*/component.yaml"))
check(sorted(components) == expected, f"catalog holds {sorted(components)}")
for name, component in sorted(components.items()):
    declared = yaml.safe_load(component.definition)
    offered = {p.ref for p in component.properties}
    missing = [i["name"] for i in declared.get("inputs", []) if i["name"] not in offered]
    check(not missing, f"{name}: Elyra offers every input ({len(offered)} properties){f', not {missing}' if missing else ''}")

valid = elyra("elyra-pipeline", "validate", "--runtime-config", "kubeflow", str(EXAMPLE))
check(valid.returncode == 0 and "SUCCEEDED" in valid.stdout, f"{EXAMPLE.name} validates{valid.stdout[-400:] if valid.returncode else ''}")

# The same pipeline with a required value removed must fail, or the check above proves nothing.
broken = json.loads(EXAMPLE.read_text())
node = next(n for n in broken["pipelines"][0]["nodes"] if n["app_data"]["label"] == "train")
del node["app_data"]["component_parameters"]["label"]
broken_path = home / "broken.pipeline"
broken_path.write_text(json.dumps(broken))
invalid = elyra("elyra-pipeline", "validate", "--runtime-config", "kubeflow", str(broken_path))
check(invalid.returncode != 0 and "missing a value for a required property" in invalid.stdout,
      "a copy missing train's `label` fails validation")

exported_path = home / "cnai-training.yaml"
exported = elyra("elyra-pipeline", "export", "--runtime-config", "kubeflow", "--output", str(exported_path),
                 "--overwrite", str(EXAMPLE))
check(exported.returncode == 0 and exported_path.exists(), f"exported to KFP YAML{exported.stdout[-400:] if exported.returncode else ''}")
if exported_path.exists():
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(yaml.safe_load(exported_path.read_text()), pipeline_spec_pb2.PipelineSpec())
    nodes = len(json.loads(EXAMPLE.read_text())["pipelines"][0]["nodes"])
    check(len(spec.root.dag.tasks) == nodes, f"export is a PipelineSpec with {len(spec.root.dag.tasks)} tasks for {nodes} nodes")
    executors = yaml.safe_load(exported_path.read_text())["deploymentSpec"]["executors"]
    commands = {tuple(e["container"]["command"][:3]) for e in executors.values()}
    check(commands == {("python", "-m", "cnai.orchestration.component_runner")}, "every exported task runs cnai.orchestration.component_runner")

print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
