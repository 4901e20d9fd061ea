"""The features step with Feast's cluster stores, for real: Spark offline store, Redis online store.

Redis is Debian's redis-server on loopback (`make test` installs it when missing), standing in for
manifests/base/feast-online-store.yaml; Spark is this test run's one local session.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from cnai.components.features.feast_features.executor import build_training_set
from conftest import free_port


@pytest.fixture(scope="module")
def redis_address():
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (Debian package redis-server; `make test` installs it)"
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_cluster_stores_give_the_same_training_set_as_the_embedded_ones(redis_address, ingested, project_config, training_set, tmp_path):
    import redis

    data = project_config.data
    validated = str(Path(training_set).parent / "valid")  # the `training_set` fixture's validated events
    facts = build_training_set(validated, ingested["tables"], str(tmp_path / "training_set"), str(tmp_path / "store"),
                               str(tmp_path / "stats.md"), data.feature_refs, data.feature_views, data.events.timestamp,
                               data.label, data.features, target="kubeflow", cluster={"feast_online_store": redis_address})
    config = (tmp_path / "store" / "feature_store.yaml").read_text()
    assert "type: spark" in config and f"connection_string: {redis_address}" in config
    assert all(facts["online_entities"].values())
    assert redis.Redis.from_url(f"redis://{redis_address}").keys("*"), "materialization wrote the online features to Redis"
    on_cluster = pd.read_parquet(tmp_path / "training_set")
    embedded = pd.read_parquet(training_set)
    assert list(on_cluster.columns) == list(embedded.columns) and len(on_cluster) == len(embedded)
    pd.testing.assert_frame_equal(on_cluster, embedded, check_dtype=False, check_exact=False, rtol=1e-9)
    # What the InferenceService's transformer reads at serving: the same values from Redis as the
    # run's embedded SQLite store holds, by the views' keys.
    from cnai.backends.online_features import OnlineFeatures

    features = [ref.split(":", 1)[1] for ref in data.feature_refs]
    request = {"origin": ["EWR", "JFK", "LGA", None], "dest": ["IAH", "ORD", "NOPE", "ATL"]}
    from_redis = OnlineFeatures(tmp_path / "store").fill(request, features)
    from_sqlite = OnlineFeatures(Path(training_set).parent / "store").fill(request, features)
    assert from_redis == from_sqlite
    assert from_redis["temp"][3] is None and from_redis["lat"][2] is None  # no key, or a key the table lacks
    assert all(v is not None for v in from_redis["temp"][:3]) and from_redis["lat"][0] is not None
