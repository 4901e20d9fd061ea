"""Feast definitions built from `feature_views.yaml` beside this file.

The features step writes that file per run from `cnai.yaml`'s `data.feature_sources` (and each side
table to its view's `data/<view>.parquet`; a static table gets a constant time column), so one repo serves any project; the copy committed here
describes the example project, so `feast -c feature_repo plan` works on the repo as it is. A team
with its own Feast definitions passes its own repo to the step instead (`feature_repo`).
"""

from datetime import timedelta
from pathlib import Path

import yaml
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp

HERE = Path(__file__).parent
# The same definitions serve both deployments: the offline store in this repo's
# feature_store.yaml decides the source type (DuckDB reads a FileSource, Spark a SparkSource).
_OFFLINE_STORE = yaml.safe_load((HERE / "feature_store.yaml").read_text())["offline_store"]["type"]
# Spark SQL types (cnai.yaml's `columns`) as Feast's.
FEAST_TYPES = {"string": String, "int": Int32, "bigint": Int64, "double": Float64, "float": Float32,
               "boolean": Bool, "timestamp": UnixTimestamp, "date": UnixTimestamp}
ENTITY_TYPES = {"string": ValueType.STRING, "int": ValueType.INT32, "bigint": ValueType.INT64}


def _source(view: dict):
    options = {"name": f"{view['name']}_source", "path": f"data/{view['name']}.parquet",
               "timestamp_field": view["timestamp"]}
    if _OFFLINE_STORE == "spark":
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        # Spark resolves paths against its JVM's working directory, not this repo: make it absolute.
        return SparkSource(file_format="parquet", **{**options, "path": str(HERE / options["path"])})
    return FileSource(**options)


def _feature_view(view: dict, entity: Entity) -> FeatureView:
    key_type = view.get("entity_type", "string")
    return FeatureView(
        name=view["name"],
        entities=[entity],
        ttl=timedelta(hours=float(view.get("ttl_hours") or 0)),  # 0: no limit (a static table)
        schema=[Field(name=view["entity"], dtype=FEAST_TYPES[key_type]),
                *(Field(name=name, dtype=FEAST_TYPES[spark_type]) for name, spark_type in view["features"].items())],
        source=_source(view),
        online=True,
        tags={"owner": "cnai-pipelines"},
    )


# Feast's parser collects the module's FeatureView and Entity objects by attribute. Views joined on
# the same key share one Entity (Feast refuses two of one name).
_entities: dict[str, Entity] = {}
for _view in yaml.safe_load((HERE / "feature_views.yaml").read_text())["feature_views"]:
    if _view["entity"] not in _entities:
        _entities[_view["entity"]] = Entity(name=_view["entity"], join_keys=[_view["entity"]],
                                            value_type=ENTITY_TYPES.get(_view.get("entity_type", "string"), ValueType.STRING))
        globals()[f"{_view['entity']}_entity"] = _entities[_view["entity"]]
    globals()[_view["name"]] = _feature_view(_view, _entities[_view["entity"]])
