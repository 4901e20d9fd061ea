"""The `cnai-catalog` component catalog: every `components/<category>/<name>/component.yaml` shipped
in the installed package, identified by `<category>/<name>`.

Elyra's directory catalog hashes each file's absolute path into the component id, so a `.pipeline`
saved on one machine names components that do not exist on another. Hashing only the
package-relative name keeps ids the same wherever the package is installed, which is what lets us
ship an example pipeline.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from elyra.metadata.schema import SchemasProvider
from elyra.pipeline.catalog_connector import ComponentCatalogConnector, EntryData

CATALOG_TYPE = "cnai-catalog"
SPEC_FILE = "component.yaml"


def _components_root() -> Path:
    return Path(str(resources.files("cnai.components")))


def shipped_components() -> dict[str, Path]:
    """`<category>/<name>` -> the component's v1 spec, for every component in the installed package."""
    root = _components_root()
    return {spec.parent.relative_to(root).as_posix(): spec for spec in sorted(root.glob(f"*/*/{SPEC_FILE}"))}


class CnaiCatalogConnector(ComponentCatalogConnector):
    def get_catalog_entries(self, catalog_metadata: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"component": name} for name in shipped_components()]

    def get_entry_data(self, catalog_entry_data: dict[str, Any], catalog_metadata: dict[str, Any]) -> EntryData | None:
        spec = shipped_components().get(catalog_entry_data["component"])
        if spec is None:
            self.log.warning(f"cnai-catalog: no component {catalog_entry_data['component']!r} in the installed package")
            return None
        return EntryData(definition=spec.read_text(), file_extension=".yaml")

    @classmethod
    def get_hash_keys(cls) -> list[str]:
        return ["component"]


class CnaiCatalogSchemas(SchemasProvider):
    def get_schemas(self) -> list[dict]:
        return [json.loads((Path(__file__).parent / "cnai-catalog.json").read_text())]
