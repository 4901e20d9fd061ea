"""A sink for KServe's inference logger: CloudEvents in, the inference log the drift check reads.

On a cluster an InferenceService's `logger` (mode `all`) posts each request and each response as a
CloudEvent (binary mode: `Ce-Type` is `org.kubeflow.serving.inference.request` or `.response`,
both with the same `Ce-Id`). This sink pairs them and appends the rows to an `InferenceLog`
on a volume the monitoring pipeline mounts, in the same format as the local model server's log.

Run as `python -m cnai.backends.kubeflow.log_sink --dir /data/inference_log/<model name> --port 8080`.

It binds 127.0.0.1 unless told (the manifest passes `--host 0.0.0.0` inside its pod, where the
NetworkPolicy admits only this namespace). With `CNAI_LOG_SINK_TOKEN` set (from a Secret) a writer
must present it, as `Authorization: Bearer <token>` or as the URL's path (`http://sink/<token>`,
the form KServe's logger URL can carry); anything else is answered 401 and dropped.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

from cnai.core.errors import ConfigError, DataError
from cnai.core.inference_log import InferenceLog
from cnai.core.kfp_settings import LOG_SINK_SECRET, LOG_SINK_TOKEN_ENV

log = logging.getLogger(__name__)

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
MAX_BODY_BYTES = 32 << 20
MAX_PENDING_BYTES = 256 << 20  # unpaired halves held at once, in bytes: the oldest go first


class CloudEventError(ValueError):
    """The event is not a KServe inference request or response we can read; answered with 400."""


def features_of(request: dict) -> pd.DataFrame:
    if "inputs" in request:  # Open Inference Protocol v2: one tensor per feature column
        return pd.DataFrame({tensor["name"]: tensor["data"] for tensor in request["inputs"]})
    if isinstance(request.get("instances"), list):  # v1 with records
        return pd.DataFrame.from_records(request["instances"])
    raise CloudEventError("request has neither v2 `inputs` nor v1 `instances`")


def predictions_of(response: dict) -> tuple[list[float], str]:
    """The number per row the drift check compares, as the local server logs it
    (`LoadedModel.drift_signal`): the positive class's probability with two classes, the predicted
    class's position with more, the prediction itself for regression."""
    version = str(response.get("model_version") or "")
    if "outputs" in response:
        outputs = {o["name"]: o["data"] for o in response["outputs"]}
        by_class = [data for name, data in outputs.items() if name.startswith("probability_")]
        if not by_class and "prediction" not in outputs:
            raise CloudEventError("v2 response has neither `prediction` nor `probability_<class>` outputs")
        return _signal([list(row) for row in zip(*by_class, strict=True)] if by_class else None,
                       outputs.get("prediction")), version
    if isinstance(response.get("predictions"), list):
        rows = response.get("probabilities")
        return _signal([list(row.values()) for row in rows] if isinstance(rows, list) else None,
                       response["predictions"]), version
    raise CloudEventError("response has neither v2 `outputs` nor v1 `predictions`")


def _signal(probabilities: list[list[float]] | None, predictions: list | None) -> list[float]:
    if probabilities:
        if len(probabilities[0]) == 2:
            return [float(row[1]) for row in probabilities]
        return [float(max(range(len(row)), key=row.__getitem__)) for row in probabilities]
    try:
        return [float(v) for v in predictions or []]
    except (TypeError, ValueError) as exc:
        raise CloudEventError(f"predictions are not numbers and no probabilities came with them: {exc}") from exc


class InferenceLogSink:
    """Pairs request and response events by id; keeps at most `max_pending` unpaired halves."""

    def __init__(self, inference_log: InferenceLog, max_pending: int = 10_000,
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.inference_log = inference_log
        self.max_pending, self.max_pending_bytes = max_pending, max_pending_bytes
        self._pending: OrderedDict[str, tuple[str, dict, int]] = OrderedDict()
        self._pending_bytes = 0
        self._lock = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Take one event; True when it completed a pair and rows were logged."""
        lowered = {k.lower(): v for k, v in headers.items()}
        kind, event_id = lowered.get("ce-type"), lowered.get("ce-id")
        if kind not in (REQUEST, RESPONSE) or not event_id:
            raise CloudEventError(f"not a KServe inference event (ce-type {kind!r}, ce-id {event_id!r})")
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            raise CloudEventError(f"event {event_id}: body is not JSON ({exc})") from exc
        with self._lock:
            other = self._pending.pop(event_id, None)
            if other is not None:
                self._pending_bytes -= other[2]
            if other is None or other[0] == kind:
                self._pending[event_id] = (kind, payload, len(body))
                self._pending_bytes += len(body)
                while self._pending and (len(self._pending) > self.max_pending
                                         or self._pending_bytes > self.max_pending_bytes):
                    dropped, (_, _, size) = self._pending.popitem(last=False)
                    self._pending_bytes -= size
                    log.warning("event %s never got its other half; dropped", dropped)
                return False
        request, response = (payload, other[1]) if kind == REQUEST else (other[1], payload)
        try:
            frame = features_of(request)
            predictions, version = predictions_of(response)
            if len(predictions) != len(frame):
                raise CloudEventError(f"{len(frame)} rows in, {len(predictions)} predictions out")
            self.inference_log.append(frame, predictions, version or lowered.get("ce-inferenceservicename", ""))
        except (CloudEventError, DataError, KeyError, TypeError, ValueError, AttributeError) as exc:
            # A pair we cannot read is answered (400), never a connection closed without a word.
            raise CloudEventError(f"event {event_id}: its request and response do not make log rows ({exc!r})") from exc
        return True


def serve(sink: InferenceLogSink, host: str, port: int, token: str = "") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _authorized(self) -> bool:
            if not token:
                return True
            # KServe's logger URL may have a path of its own before the token: the token is its last part.
            given = (self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                     or self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
            return hmac.compare_digest(given.encode(), token.encode())

        def do_POST(self):
            declared = self.headers.get("Content-Length")
            if declared is None or not declared.strip().isdigit():
                self.close_connection = True  # the body's end is unknown: answer, then close
                self.send_error(411 if declared is None else 400, "Content-Length must be a non-negative integer")
                return
            length = int(declared)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self.send_error(413, "event too large")
                return
            body = self.rfile.read(length)
            if not self._authorized():
                self.send_error(401, "this sink takes events only from writers holding its token")
                return
            try:
                sink.receive(dict(self.headers.items()), body)
            except CloudEventError as exc:
                self.send_error(400, str(exc))
                return
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer((host, port), Handler)


def refuse_open_sink(host: str, token: str) -> None:
    """Beyond loopback, only with a token: anyone who reaches an open sink writes the drift check's data."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise ConfigError(f"the log sink would listen on {host} with no token: set {LOG_SINK_TOKEN_ENV} (on a cluster, "
                          f"the Secret {LOG_SINK_SECRET}'s key `token`; README, Run on Kubeflow) or bind 127.0.0.1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="inference log folder (a mounted volume on a cluster)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (the manifest passes 0.0.0.0 inside its pod)")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    token = os.environ.get(LOG_SINK_TOKEN_ENV, "")
    refuse_open_sink(args.host, token)
    server = serve(InferenceLogSink(InferenceLog(args.dir)), args.host, args.port, token)
    log.info("inference log sink on %s:%d writing to %s", args.host, args.port, args.dir)
    server.serve_forever()


if __name__ == "__main__":
    main()
