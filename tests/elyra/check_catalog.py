"""Elyra's own KFP catalog code on our components (run in Elyra's environment by `make elyra-check`).

Elyra 4.1.1 cannot share an environment with our dependencies (it pins older click and
marshmallow, under Feast), so this runs with `.venv-elyra/bin/python` and reads only the
`component.yaml` files: its directory catalog connector finds them as a user's directory catalog
would, and its KFP component parser must accept every one with every declared input.
"""

import sys
from pathlib import Path

import yaml
from elyra.pipeline.catalog_connector import CatalogEntry, DirectoryComponentCatalogConnector
from elyra.pipeline.component_metadata import ComponentCatalogMetadata
from elyra.pipeline.kfp.kfp_component_parser import KfpComponentParser

COMPONENTS = Path(__file__).resolve().parents[2] / "components"

catalog = ComponentCatalogMetadata(
    name="cnai-pipelines",
    display_name="cnai-pipelines components",
    schema_name="local-directory-catalog",
    metadata={"runtime_type": "KUBEFLOW_PIPELINES", "categories": ["cnai-pipelines"],
              "paths": [str(COMPONENTS)], "include_subdirs": True},
)
connector = DirectoryComponentCatalogConnector(file_types=[".yaml"])
entries = [e for e in connector.get_catalog_entries(catalog.metadata) if e["path"].endswith("component.yaml")]
expected = sorted(p.parent.name for p in COMPONENTS.rglob("component.yaml"))
passed, failed = 0, 0
found = []
for entry in entries:
    data = connector.get_entry_data(entry, catalog.metadata)
    catalog_entry = CatalogEntry(data, entry, catalog, connector.get_hash_keys())
    components = KfpComponentParser().parse(catalog_entry)
    declared = yaml.safe_load(data.definition)
    if not components:
        print(f"FAILED {entry['path']}: Elyra's parser refused it (see the warning above)")
        failed += 1
        continue
    component = components[0]
    names = {p.ref for p in component.properties}
    missing = [i["name"] for i in declared.get("inputs", []) if not any(i["name"] in n for n in names)]
    if missing:
        print(f"FAILED {entry['path']}: inputs {missing} not offered by Elyra (it offers {sorted(names)})")
        failed += 1
        continue
    found.append(component.name)
    print(f"ok {component.name}: {len(component.properties)} properties")
    passed += 1
if sorted(found) != expected:
    print(f"FAILED: catalog holds {sorted(found)}, the repository has {expected}")
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
