import threading
import time
import uuid

import pandas as pd
import pytest
import requests

from cnai.backends import registry
from cnai.backends.local.deployment import stop_server
from cnai.backends.local.model_server import v1_request, v2_request
from cnai.components.registry.register.executor import register_model
from cnai.components.serving.deploy.executor import deploy_model
from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
from cnai.components.training.train.executor import train_model
from cnai.core.errors import ServingError
from cnai.models.saved import LoadedModel
from conftest import LABEL, TIME


def test_serve_swap_live_and_smoke_test(training_set, model_features, tmp_path, port):
    uri = registry.default_registry_uri(tmp_path / "registry")
    name = f"serve-{uuid.uuid4().hex[:6]}"
    (tmp_path / "eval.md").write_text("gate")
    trained = []
    for i, rate in enumerate((0.05, 0.3)):
        paths = {n: str(tmp_path / f"{n}{i}") for n in ("model", "holdout", "metrics", "classification_metrics")}
        train_model(training_set, feature_columns=model_features, label=LABEL, timestamp=TIME,
                    params={"learning_rate": rate, "max_iter": 40}, **paths)
        version = register_model(paths["model"], training_set, str(tmp_path / "eval.md"), str(tmp_path / "card.md"),
                                 uri, name)["version"]
        trained.append((paths, version))
    (first, v1), (second, v2) = trained
    url = f"http://127.0.0.1:{port}"
    try:
        facts = deploy_model(str(tmp_path / "endpoint.md"), uri, name, v1, port=port)
        assert facts["endpoint"] == url and facts["swapped_live"] is False
        assert str(registry.production_version(uri, name).version) == v1
        smoke_test_endpoint(first["holdout"], first["model"], str(tmp_path / "smoke.md"), url, name, v1)
        assert "All answers match" in (tmp_path / "smoke.md").read_text()

        # While v2 is swapped in, a client keeps calling: no request may fail.
        sample = pd.read_parquet(first["holdout"]).head(5)[LoadedModel(first["model"]).feature_columns]
        body, failures, served, stop = v2_request(sample), [], set(), threading.Event()

        def client():
            while not stop.is_set():
                response = requests.post(f"{url}/v2/models/{name}/infer", json=body, timeout=10)
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    served.add(response.json()["model_version"])

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(0.3)
        facts = deploy_model(str(tmp_path / "endpoint.md"), uri, name, v2, port=port)
        time.sleep(0.3)
        stop.set()
        thread.join()
        assert facts["swapped_live"] is True
        assert failures == [] and served == {v1, v2}
        smoke_test_endpoint(second["holdout"], second["model"], str(tmp_path / "smoke2.md"), url, name, v2)
        with pytest.raises(ServingError, match="served version 2, expected 1"):
            smoke_test_endpoint(second["holdout"], second["model"], str(tmp_path / "smoke3.md"), url, name, v1)

        no_id = {k: v for k, v in body.items() if k != "id"}  # `id` is optional in the v2 protocol
        answered = requests.post(f"{url}/v2/models/{name}/infer", json=no_id, timeout=10)
        assert answered.status_code == 200 and answered.json()["id"], answered.text
        from cnai.backends.local.deployment import serving_dir
        from cnai.backends.local.model_server import inference_log_dir
        from cnai.core.inference_log import read_inference_log

        logged = read_inference_log(inference_log_dir(serving_dir(), name))
        assert set(logged["_model_version"]) == {v1, v2} and logged["_prediction"].between(0, 1).all()
        assert set(LoadedModel(first["model"]).feature_columns) <= set(logged.columns)
        bad = requests.post(f"{url}/v2/models/{name}/infer", json={"inputs": [{"name": "hour", "shape": [1], "datatype": "INT64", "data": [5]}]}, timeout=10)
        assert bad.status_code == 400 and "missing feature" in bad.text
        rows_as_lists = requests.post(f"{url}/v1/models/{name}:predict", json={"instances": [[1, 2, 3]]}, timeout=10)
        assert rows_as_lists.status_code == 400 and "must each be an object" in rows_as_lists.text
        v1 = requests.post(f"{url}/v1/models/{name}:predict", json=v1_request(sample), timeout=10)
        assert v1.status_code == 200 and len(v1.json()["predictions"]) == len(sample)
        server_log = (serving_dir() / f"{name}.log").read_text()
        assert "ORJSONResponse is deprecated" not in server_log, "a warning per v1 request filled the log"
    finally:
        assert stop_server(name) is True
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/health/live", timeout=2)


def test_server_binds_loopback_only(training_set):
    from cnai.backends.local.deployment import endpoint_url

    assert endpoint_url("127.0.0.1", 1) == "http://127.0.0.1:1"
