"""KServe's inference logger, on a cluster, feeding the drift check: the sink and the InferenceService."""

import json
import threading
import uuid

import pandas as pd
import pytest
import requests

from cnai.backends.kubeflow.log_sink import REQUEST, RESPONSE, CloudEventError, InferenceLogSink, serve
from cnai.backends.local.model_server import v2_request
from cnai.core.inference_log import InferenceLog, read_inference_log


def cloud_event(kind: str, event_id: str) -> dict:
    # What KServe's logger sends (CloudEvents 1.0, binary mode).
    return {"Ce-Specversion": "1.0", "Ce-Type": kind, "Ce-Id": event_id, "Ce-Source": "http://localhost:9081/",
            "Ce-Inferenceservicename": "flight-delay", "Ce-Namespace": "ml", "Ce-Component": "predictor",
            "Content-Type": "application/json"}


def test_request_and_response_events_become_log_rows(tmp_path):
    sink = InferenceLogSink(InferenceLog(tmp_path))
    frame = pd.DataFrame({"hour": [5, 18], "carrier": ["UA", "B6"], "temp": [40.0, None]})
    request = json.dumps(v2_request(frame, "r1")).encode()
    response = json.dumps({"id": "r1", "model_name": "flight-delay", "model_version": "3",
                           "outputs": [{"name": "prediction", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                                       {"name": "probability_0", "shape": [2], "datatype": "FP64", "data": [0.8, 0.3]},
                                       {"name": "probability_1", "shape": [2], "datatype": "FP64", "data": [0.2, 0.7]}]}).encode()
    # Responses may overtake requests; pairing is by id.
    assert sink.receive(cloud_event(RESPONSE, "e1"), response) is False
    assert sink.receive(cloud_event(REQUEST, "e1"), request) is True
    logged = read_inference_log(tmp_path)
    assert list(logged["_prediction"]) == [0.2, 0.7] and set(logged["_model_version"].astype(str)) == {"3"}
    assert list(logged["carrier"]) == ["UA", "B6"] and logged["temp"].isna().tolist() == [False, True]

    v1 = json.dumps({"instances": [{"hour": 7, "carrier": "DL", "temp": 50.0}]}).encode()
    sink.receive(cloud_event(REQUEST, "e2"), v1)
    sink.receive(cloud_event(RESPONSE, "e2"), json.dumps({"predictions": [0.4]}).encode())
    assert len(read_inference_log(tmp_path)) == 3


def test_bad_events_are_refused_and_unpaired_halves_are_bounded(tmp_path):
    sink = InferenceLogSink(InferenceLog(tmp_path), max_pending=2)
    with pytest.raises(CloudEventError, match="not a KServe inference event"):
        sink.receive({"Ce-Type": "something.else", "Ce-Id": "x"}, b"{}")
    with pytest.raises(CloudEventError, match="not JSON"):
        sink.receive(cloud_event(REQUEST, "x"), b"{nope")
    for i in range(5):
        sink.receive(cloud_event(REQUEST, f"lonely-{i}"), b'{"instances": [{"hour": 1}]}')
    assert len(sink._pending) == 2
    sink.receive(cloud_event(REQUEST, "n"), b'{"instances": [{"hour": 1}, {"hour": 2}]}')
    with pytest.raises(CloudEventError, match="2 rows in, 1 predictions out"):
        sink.receive(cloud_event(RESPONSE, "n"), b'{"predictions": [0.1]}')


def test_sink_over_http(tmp_path):
    server = serve(InferenceLogSink(InferenceLog(tmp_path)), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        event_id = str(uuid.uuid4())
        body = {"instances": [{"hour": 9, "carrier": "AA"}]}
        assert requests.post(url, data=json.dumps(body), headers=cloud_event(REQUEST, event_id), timeout=5).status_code == 202
        assert requests.post(url, data='{"predictions": [0.9]}', headers=cloud_event(RESPONSE, event_id), timeout=5).status_code == 202
        assert requests.post(url, data="{}", headers={"Ce-Type": "x"}, timeout=5).status_code == 400
    finally:
        server.shutdown()
    assert list(read_inference_log(tmp_path)["_prediction"]) == [0.9]


def raw_post(port: int, path: str, headers: dict, body: bytes = b"") -> int:
    """A POST with exactly these headers (requests would fix a bad Content-Length)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.putrequest("POST", path)
    for key, value in headers.items():
        connection.putheader(key, value)
    connection.endheaders(body)
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_sink_takes_events_only_from_token_holders_and_answers_what_it_refuses(tmp_path):
    """Forged rows were appended by anyone; a negative Content-Length got past the size limit and
    `Content-Length: abc` closed the connection with no answer."""
    server = serve(InferenceLogSink(InferenceLog(tmp_path)), "127.0.0.1", 0, token="s3cret")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port, url = server.server_port, f"http://127.0.0.1:{server.server_port}"
    request = json.dumps({"instances": [{"hour": 9}]}).encode()
    try:
        assert raw_post(port, "/", {**cloud_event(REQUEST, "f"), "Content-Length": "-1"}) == 400
        assert raw_post(port, "/", {**cloud_event(REQUEST, "f"), "Content-Length": "abc"}) == 400
        assert raw_post(port, "/", cloud_event(REQUEST, "f")) == 411
        forged = requests.post(f"{url}/", data=request, headers=cloud_event(REQUEST, "f"), timeout=5)
        assert forged.status_code == 401
        assert requests.post(f"{url}/wrong", data=request, headers=cloud_event(REQUEST, "f"), timeout=5).status_code == 401
        # The holder: the token as KServe's logger URL path, or as a bearer token.
        assert requests.post(f"{url}/s3cret", data=request, headers=cloud_event(REQUEST, "ok"), timeout=5).status_code == 202
        # a logger URL with a path of its own keeps working once the token is appended to it
        assert requests.post(f"{url}/sink/s3cret", data=request, headers=cloud_event(REQUEST, "ok2"),
                             timeout=5).status_code == 202
        assert requests.post(url, data='{"predictions": [0.5]}', timeout=5,
                             headers={**cloud_event(RESPONSE, "ok"), "Authorization": "Bearer s3cret"}).status_code == 202
    finally:
        server.shutdown()
    assert list(read_inference_log(tmp_path)["_prediction"]) == [0.5], "only the token holder's pair"


def test_unpaired_halves_are_bounded_in_bytes(tmp_path):
    sink = InferenceLogSink(InferenceLog(tmp_path), max_pending_bytes=1000)
    half = json.dumps({"instances": [{"text": "x" * 300}]}).encode()
    for i in range(10):
        sink.receive(cloud_event(REQUEST, f"lonely-{i}"), half)
    assert sink._pending_bytes <= 1000 and len(sink._pending) == 1000 // len(half)
    assert list(sink._pending) == [f"lonely-{i}" for i in range(10 - len(sink._pending), 10)], "the oldest go first"


def test_a_pair_that_does_not_make_log_rows_is_answered_400_and_logs_nothing(tmp_path):
    """Malformed pairs closed the connection with no answer (a raw KeyError or ValueError in the handler)."""
    server = serve(InferenceLogSink(InferenceLog(tmp_path)), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    bad_pairs = {
        "lengths differ": ({"inputs": [{"name": "a", "data": [1, 2]}, {"name": "b", "data": [1]}]}, {"predictions": [0.5, 0.5]}),
        "tensor without a name": ({"inputs": [{"data": [1]}]}, {"predictions": [0.5]}),
        "not an object": (["x"], {"predictions": [0.5]}),
        "integer beyond 64 bits": ({"instances": [{"a": 2 ** 70}]}, {"predictions": [0.5]}),
    }
    try:
        for n, (request, response) in enumerate(bad_pairs.values()):
            assert requests.post(url, json=request, headers=cloud_event(REQUEST, f"e{n}"), timeout=5).status_code == 202
            answer = requests.post(url, json=response, headers=cloud_event(RESPONSE, f"e{n}"), timeout=5)
            assert answer.status_code == 400 and f"event e{n}" in answer.text, list(bad_pairs)[n]
    finally:
        server.shutdown()
    assert read_inference_log(tmp_path).empty


def test_the_sink_refuses_to_listen_beyond_loopback_without_a_token():
    from cnai.backends.kubeflow.log_sink import refuse_open_sink
    from cnai.core.errors import ConfigError

    with pytest.raises(ConfigError, match="CNAI_LOG_SINK_TOKEN"):
        refuse_open_sink("0.0.0.0", "")
    refuse_open_sink("0.0.0.0", "t0ken")
    refuse_open_sink("127.0.0.1", "")
    refuse_open_sink("localhost", "")
