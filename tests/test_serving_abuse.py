"""The local KServe endpoint under load and abuse: 10,000 requests, one in ten malformed.

Malformed requests get a 4xx that says why; every well-formed one is answered; the server never
answers 5xx and never dies; request bodies are bounded.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import requests

from cnai.backends import registry
from cnai.backends.local.deployment import stop_server
from cnai.backends.local.model_server import MAX_REQUEST_BYTES, v2_request
from cnai.components.registry.register.executor import register_model
from cnai.components.serving.deploy.executor import deploy_model
from cnai.models.saved import LoadedModel
from conftest import LABEL

REQUESTS = 10_000
CLIENTS = 8


def malformed_bodies(good: dict) -> dict[str, bytes]:
    """What a broken or hostile client sends, each a separate kind."""
    first = good["inputs"][0]
    wrong_shape = {**good, "inputs": [{**first, "shape": [3]}, *good["inputs"][1:]]}
    wrong_type = {**good, "inputs": [{**t, "data": ["not a number"] * len(t["data"])} if t["datatype"] != "BYTES" else t
                                     for t in good["inputs"]]}
    wrong_datatype = {**good, "inputs": [{**first, "datatype": "NOT_A_TYPE"}, *good["inputs"][1:]]}
    integer = next(t["name"] for t in good["inputs"] if t["datatype"] == "INT64")
    text = next(t["name"] for t in good["inputs"] if t["datatype"] == "BYTES")
    number = next(t["name"] for t in good["inputs"] if t["datatype"] == "FP64")

    def with_value(name: str, literal: str) -> bytes:
        """`good` with one input's single value replaced by a raw JSON literal."""
        marker = "__VALUE__"
        body = {**good, "inputs": [{**t, "data": [marker]} if t["name"] == name else t for t in good["inputs"]]}
        return json.dumps(body).replace(f'"{marker}"', literal).encode()

    int_as_bytes = {**good, "inputs": [{**t, "datatype": "BYTES", "data": ["7"]} if t["name"] == integer else t
                                       for t in good["inputs"]]}
    duplicated = {**good, "inputs": [*good["inputs"], good["inputs"][0]]}
    zero_rows = {**good, "inputs": [{**t, "shape": [0], "data": []} for t in good["inputs"]]}
    return {
        "integer beyond 64 bits": with_value(integer, str(2**70)),
        "lone surrogate": with_value(text, '"\\ud800"'),
        "Infinity literal": with_value(number, "Infinity"),
        "huge float literal": with_value(number, "1e999"),
        "zero rows": json.dumps(zero_rows).encode(),
        "an input given twice": json.dumps(duplicated).encode(),
        "INT64 holding 1e308": with_value(integer, "1e308"),
        "BYTES '7' for a number": json.dumps(int_as_bytes).encode(),
        "bad JSON": b'{"inputs": [',
        "not JSON at all": b"\x00\xff binary",
        "empty body": b"",
        "JSON list": b"[1, 2, 3]",
        "no inputs": json.dumps({"id": "x"}).encode(),
        "inputs not a list": json.dumps({"inputs": "hour"}).encode(),
        "wrong shape": json.dumps(wrong_shape).encode(),
        "wrong types": json.dumps(wrong_type).encode(),
        "unknown datatype": json.dumps(wrong_datatype).encode(),
        "missing feature": json.dumps({**good, "inputs": good["inputs"][1:]}).encode(),
        "oversized": b'{"inputs": [' + b" " * (MAX_REQUEST_BYTES + 1) + b"]}",
    }


@pytest.fixture(scope="module")
def served(trained_model, training_set, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("abuse")
    uri = registry.default_registry_uri(tmp / "registry")
    name = f"abuse-{uuid.uuid4().hex[:6]}"
    (tmp / "eval.md").write_text("gate")
    version = register_model(trained_model["model"], training_set, str(tmp / "eval.md"), str(tmp / "card.md"), uri, name)["version"]
    from conftest import free_port

    port = free_port()
    facts = deploy_model(str(tmp / "endpoint.md"), uri, name, version, port=port)
    yield f"{facts['endpoint']}/v2/models/{name}/infer", name
    stop_server(name)


def test_ten_thousand_requests_one_in_ten_malformed(served, trained_model):
    url, name = served
    sample = pd.read_parquet(trained_model["holdout"]).head(1)[LoadedModel(trained_model["model"]).feature_columns]
    good = json.dumps(v2_request(sample)).encode()
    bad = malformed_bodies(json.loads(good))
    rng = random.Random(7)
    plan = [("good", good) if rng.random() >= 0.1 else (kind := rng.choice(sorted(bad)), bad[kind]) for _ in range(REQUESTS)]
    # Every kind of malformed request at least once, whatever the draw.
    plan[: len(bad)] = [(kind, body) for kind, body in bad.items()]

    sessions: dict[int, requests.Session] = {}

    def send(item):
        import threading

        kind, body = item
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        return kind, response.status_code, response.text[:300]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, plan))

    statuses = Counter((kind == "good", status // 100) for kind, status, _ in answers)
    by_kind = Counter((kind, status) for kind, status, _ in answers)
    assert not [a for a in answers if a[1] >= 500], "no 5xx: " + repr([a for a in answers if a[1] >= 500][:3])
    assert statuses[(True, 2)] == sum(kind == "good" for kind, _ in plan), "every well-formed request answered"
    refused = [(kind, status, text) for kind, status, text in answers if kind != "good"]
    assert all(400 <= status < 500 for _, status, _ in refused), by_kind
    assert all(text.strip() for _, _, text in refused), "a 4xx says why"
    assert {kind for kind, _, _ in refused} == set(bad)
    assert {status for kind, status, _ in refused if kind == "oversized"} == {413}
    # Still alive and still right after the abuse.
    assert requests.get(url.replace(f"/models/{name}/infer", "/health/live"), timeout=5).status_code == 200
    assert requests.post(url, data=good, headers={"Content-Type": "application/json"}, timeout=5).status_code == 200
    # Every good request logged once, no refused one in part: the drift check reads exactly what was served.
    from cnai.backends.local.deployment import serving_dir
    from cnai.backends.local.model_server import inference_log_dir
    from cnai.core.inference_log import read_inference_log

    assert len(read_inference_log(inference_log_dir(serving_dir(), name))) == statuses[(True, 2)] + 1


def test_the_repository_api_needs_the_servers_token_and_refuses_browsers(served):
    """An unauthenticated unload answered 200 (even cross-origin): inference then 404'd and `cnai
    serve` lost track of the live server."""
    url, name = served
    base = url.removesuffix(f"/v2/models/{name}/infer")
    for headers in ({}, {"x-cnai-token": "guess"}, {"Origin": "https://example.com"}):
        response = requests.post(f"{base}/v2/repository/models/{name}/unload", headers=headers, timeout=5)
        assert response.status_code == 403, (headers, response.status_code)
    assert requests.get(f"{base}/v2/models/{name}/ready", timeout=5).status_code == 200


def test_v1_refuses_a_batch_row_it_would_refuse_alone(served, trained_model):
    url, name = served
    v1 = url.replace(f"/v2/models/{name}/infer", f"/v1/models/{name}:predict")
    rows = pd.read_parquet(trained_model["holdout"]).head(2)[LoadedModel(trained_model["model"]).feature_columns]
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    incomplete = {k: v for k, v in records[1].items() if k != rows.columns[0]}
    alone = requests.post(v1, json={"instances": [incomplete]}, timeout=10)
    batch = requests.post(v1, json={"instances": [records[0], incomplete]}, timeout=10)
    assert alone.status_code == 400 and batch.status_code == 400
    assert f"instance 1 lacks feature {rows.columns[0]!r}" in batch.text
    # A v1 body sent as curl -d sends it (a form's content type) is read as the JSON it is.
    as_json = requests.post(v1, json={"instances": records}, timeout=10)
    as_form = requests.post(v1, data=json.dumps({"instances": records}), timeout=10,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert as_json.status_code == 200 and as_form.json() == as_json.json(), as_form.text
    garbage = requests.post(v1, data="instances=1", timeout=10, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert garbage.status_code == 400 and "Content-Type: application/json" in garbage.text


def test_a_category_the_model_never_saw_is_scored_and_said(served, trained_model):
    """From a new user's trial: an unseen category ("League": "X") was scored as missing (as it must
    be: no error) with no word, the same answer as a known one; a typo looked like an answer."""
    url, name = served
    v1 = url.replace(f"/v2/models/{name}/infer", f"/v1/models/{name}:predict")
    rows = pd.read_parquet(trained_model["holdout"]).head(3)[LoadedModel(trained_model["model"]).feature_columns]
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    known = requests.post(v1, json={"instances": records}, timeout=10)
    assert known.status_code == 200 and "unseen_categories" not in known.json(), known.text
    records[1] = {**records[1], "carrier": "ZZ"}
    records[2] = {**records[2], "carrier": "ZZ", "dest": 7}  # a number where text was trained
    answer = requests.post(v1, json={"instances": records}, timeout=10)
    assert answer.status_code == 200 and answer.json()["unseen_categories"] == {"carrier": ["ZZ"], "dest": [7]}, answer.text
    assert len(answer.json()["predictions"]) == 3
    v2 = requests.post(url, json=v2_request(pd.DataFrame(records[1:2])), timeout=10)
    assert v2.status_code == 200 and json.loads(v2.json()["parameters"]["unseen_categories"]) == {"carrier": ["ZZ"]}, v2.text
    assert "ignored_inputs" not in answer.json() and "ignored_inputs" not in v2.json()["parameters"]


def test_what_a_request_sends_besides_the_features_is_said_as_ignored(served, trained_model):
    """From a review: a request's other keys (an id, the label, a misspelt feature beside the real
    one) were dropped without a word."""
    url, name = served
    v1 = url.replace(f"/v2/models/{name}/infer", f"/v1/models/{name}:predict")
    rows = pd.read_parquet(trained_model["holdout"]).head(2)
    features = LoadedModel(trained_model["model"]).feature_columns
    records = rows[features].astype(object).where(rows[features].notna(), None).to_dict(orient="records")
    records[0] = {**records[0], "booking_id": "b-1", LABEL: 1}
    answer = requests.post(v1, json={"instances": records}, timeout=10)
    assert answer.status_code == 200 and answer.json()["ignored_inputs"] == ["booking_id", LABEL], answer.text
    v2 = requests.post(url, json=v2_request(pd.DataFrame(records[:1])), timeout=10)
    assert v2.status_code == 200 and json.loads(v2.json()["parameters"]["ignored_inputs"]) == ["booking_id", LABEL], v2.text


def test_unseen_categories_take_any_json_value(trained_model):
    """From a review: a list or an object sent as a category raised TypeError (unhashable) there."""
    model = LoadedModel(trained_model["model"])
    assert model.unseen_categories({"carrier": [["UA"], "UA", {"k": 1}, None]}) == {"carrier": ["['UA']", "{'k': 1}"]}


def test_a_request_past_the_row_limit_is_refused_by_name(served, trained_model):
    from cnai.backends.local.model_server import MAX_ROWS

    url, _ = served
    rows = pd.read_parquet(trained_model["holdout"])[LoadedModel(trained_model["model"]).feature_columns]
    big = rows.sample(MAX_ROWS + 1, replace=True, random_state=0)
    response = requests.post(url, json=v2_request(big), timeout=60)
    assert response.status_code == 400 and f"at most {MAX_ROWS} per request" in response.text


def test_bad_requests_do_not_grow_the_servers_log(served, trained_model):
    """KServe logs ~1.7 KB of traceback per refused request (36 MB seen, no rotation): at most a
    line a minute here, with the count."""
    from cnai.backends.local.deployment import _paths

    url, name = served
    log_file = _paths(name)["log"]
    before = log_file.stat().st_size
    missing_features = v2_request(pd.DataFrame({"not_a_feature": [1]}))
    for _ in range(200):
        assert requests.post(url, json=missing_features, timeout=5).status_code == 400
    assert log_file.stat().st_size - before < 2_000


def test_a_large_request_is_scored_off_the_event_loop_and_a_small_one_on_it(trained_model):
    """11.4 MB requests held readiness probes for seconds: scoring ran on the event loop. A request
    of OFFLOAD_ROWS rows or more is now scored in a worker thread (the loop keeps answering); a
    small one stays on the loop, where a thread hop would cost more than it does. Same answers."""
    import asyncio
    import threading

    from cnai.backends.local.model_server import OFFLOAD_ROWS, _server_classes

    served_model_class, _ = _server_classes()
    model = served_model_class("m", trained_model["model"], "1")
    model.load()
    holdout = pd.read_parquet(trained_model["holdout"])[model.model.feature_columns]
    seen: list[str] = []
    scores = model.model.scores

    def recording(features):
        seen.append(threading.current_thread().name)
        return scores(features)

    model.model.scores = recording

    async def ask(rows: pd.DataFrame):
        loop_thread = threading.current_thread().name
        answer = await model.predict({"instances": json.loads(rows.to_json(orient="records"))})
        return loop_thread, answer["predictions"]

    large = pd.concat([holdout] * (OFFLOAD_ROWS // len(holdout) + 1)).head(OFFLOAD_ROWS)
    loop_thread, small_answer = asyncio.run(ask(large.head(3)))
    assert seen[-1] == loop_thread
    loop_thread, large_answer = asyncio.run(ask(large))
    assert seen[-1] != loop_thread, "scored in a worker thread"
    assert large_answer[:3] == small_answer


def test_a_mixed_v1_batch_looks_up_only_the_instances_that_lack_a_views_features():
    """Review of a new user's finding: an instance sending a view's features itself needs no key,
    and one sending only the key gets them from the store; a feature sent always wins."""
    import pytest
    from kserve.errors import InvalidInput

    from cnai.backends.local.model_server import ABSENT, _looked_up

    class Store:  # the OnlineFeatures surface _looked_up uses: one view, temp by dest
        provides = {"temp": {"join_on": "dest", "name": "weather"}}

        def keys_for(self, missing):
            return sorted({self.provides[f]["join_on"] for f in missing if f in self.provides})

        def lookup(self, columns, missing):
            temps = [{"JFK": 20.0}.get(k) if k is not None else None for k in columns["dest"]]
            unknown = [i for i, k in enumerate(columns["dest"]) if k is not None and k != "JFK"]
            return {**columns, "temp": temps}, {"weather": unknown} if unknown else {}

    columns = {"x": [1, 2, 3], "temp": [5.0, ABSENT, 7.0], "dest": [ABSENT, "JFK", "JFK"]}
    filled, not_found = _looked_up(Store(), columns, [], ["temp"])
    assert filled["temp"] == [5.0, 20.0, 7.0] and filled["dest"] == [ABSENT, "JFK", "JFK"] and not_found == {}
    # a missing feature no view provides is left for the caller to refuse by name
    assert "distance" not in _looked_up(Store(), columns, ["distance"], ["temp"])[0]
    # A key the store has no row for is scored with the view's features null, as training joins it,
    # and said: instance 1 looked temp up by an unknown key; instance 2 sent its own temp.
    filled, not_found = _looked_up(Store(), {"x": [1, 2, 3], "temp": [5.0, ABSENT, 8.0], "dest": ["JFK", "ORD", "ORD"]},
                                   ["distance"], ["temp"])
    assert filled["temp"] == [5.0, None, 8.0] and not_found == {"weather": [1]}
    with pytest.raises(InvalidInput, match="instance 0 lacks 'dest'"):
        _looked_up(Store(), {"x": [1, 2], "temp": [ABSENT, 7.0], "dest": [ABSENT, "JFK"]}, [], ["temp"])


def test_an_empty_batch_a_misnamed_feature_and_true_for_a_number_are_refused_with_what_to_send(served, trained_model):
    """From a new user's trial: `{"instances": []}` was answered "missing feature(s) [every one]";
    "Total_Bill" for total_bill got the list of missing features and no word of the name sent; and
    true for a number was scored as 1."""
    url, name = served
    v1 = url.replace(f"/v2/models/{name}/infer", f"/v1/models/{name}:predict")
    model = LoadedModel(trained_model["model"])
    rows = pd.read_parquet(trained_model["holdout"]).head(1)[model.feature_columns]
    record = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")[0]
    empty = requests.post(v1, json={"instances": []}, timeout=10)
    assert empty.status_code == 400 and "no instances" in empty.text, empty.text
    number = model.meta["numeric"][0]
    misnamed = {**{k: v for k, v in record.items() if k != number}, number.title(): record[number]}
    answer = requests.post(v1, json={"instances": [misnamed]}, timeout=10)
    assert answer.status_code == 400 and f"did you mean {number!r} for {number.title()!r}?" in answer.text, answer.text
    boolean = requests.post(v1, json={"instances": [{**record, number: True}]}, timeout=10)
    assert boolean.status_code == 400 and f"input {number!r} is a number; true or false is not" in boolean.text, boolean.text


def test_a_model_name_the_server_does_not_serve_is_answered_with_the_one_it_does(served):
    """From a new user's trial: a label pct_above serves as pct-above-regression; asked for
    pct_above-regression, KServe's 404 said only "does not exist" (and logged a traceback)."""
    url, name = served
    wrong = name.replace("-", "_", 1) if "-" in name else f"{name}_x"
    answer = requests.post(url.replace(f"/models/{name}/", f"/models/{wrong}/"), json={"inputs": []}, timeout=10)
    assert answer.status_code == 404 and f"This server serves {name!r}" in answer.json()["error"], answer.text
    # And a v1 body sent to the v2 endpoint: FastAPI's 422 listed pydantic's errors ("bytes_type").
    v1_body = requests.post(url, json={"instances": [{"a": 1}]}, timeout=10)
    assert v1_body.status_code == 422 and v1_body.json()["error"].startswith("the body is not a v2 inference request (")
    assert f"goes to POST /v1/models/{name}:predict" in v1_body.json()["error"], v1_body.text
