"""The local model server: a real KServe `ModelServer` serving one registered version.

It speaks KServe's v1 and Open Inference Protocol v2 REST APIs. A new version is swapped in with
v2's repository `load` call: the server reads the pointer file the deploy step wrote, loads the new
version beside the old one, and only then switches, so the endpoint never goes down.

Run by the deploy step as `python -m cnai.backends.local.model_server` (settings in CNAI_SERVING_* variables).
"""

from __future__ import annotations

import asyncio
import difflib
import gc
import json
import logging
import math
import os
import uuid
import warnings
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from cnai.backends.online_features import NOT_FOUND, OnlineFeatures, not_found_warning
from cnai.core.artifacts import atomic_output, content_hash
from cnai.core.errors import DataError, ServingError
from cnai.core.inference_log import InferenceLog
from cnai.core.open_inference import v2_datatype
from cnai.models.saved import LoadedModel

log = logging.getLogger(__name__)

UNSEEN = "unseen_categories"  # an answer's categorical values the model never saw in training, by feature
IGNORED = "ignored_inputs"  # what a request sent that is neither a feature nor a view's key (an id, the label, a typo)
# A single-row request is ~1 KB and a 10,000-row batch ~2 MB; anything far larger is refused
# before it is read, so one client cannot make the server buffer gigabytes.
MAX_REQUEST_BYTES = int(os.environ.get("CNAI_SERVING_MAX_REQUEST_BYTES", 16 * 1024 * 1024))

# Rows per request: a 230,000-row request held readiness probes for seconds (its body is parsed on
# the event loop). Larger batches are refused (400) with the limit named; batch scoring sends several.
MAX_ROWS = int(os.environ.get("CNAI_SERVING_MAX_ROWS", 10_000))
# Requests of this many rows or more are scored off the event loop (ServedModel.predict).
OFFLOAD_ROWS = int(os.environ.get("CNAI_SERVING_OFFLOAD_ROWS", 256))

# The v2 repository API (load, unload) changes what is served: only a caller holding the token the
# deploy step wrote may use it, and never a browser (a web page can send a simple cross-origin POST).
TOKEN_HEADER = "x-cnai-token"
# What the repository API answers a caller without the token: also how `cnai` tells a port's holder
# is a cnai model server (another project's), and not some other process.
REPOSITORY_REFUSAL = "the model repository API needs this server's token (held by `cnai`); browsers are refused"

# KServe writes three to four log lines for every request (access, wall and CPU time, latency
# breakdown), a measurable share of a single-row request's time (BENCHMARKS.md, serving). The
# inference log already records every request and /metrics has the latencies, so they are off
# unless asked for.
LOG_EACH_REQUEST = os.environ.get("CNAI_SERVING_LOG_EACH_REQUEST", "") == "1"

# Requests that are checks, not traffic (the smoke test's): answered as any other, but kept out of
# the inference log, or a drift check right after a deploy would compare the holdout with itself.
NOT_TRAFFIC_HEADER = "x-cnai-not-traffic"

V2_PROTOCOL_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                         "FP16", "FP32", "FP64", "BYTES"}
NESTED_TYPES = (list, dict)
ABSENT = object()  # a v1 instance without a key another instance has: refused, never scored as null
# The Python values each v2 datatype may carry (None: a missing value). An INT64 tensor holding
# 1e308, or BYTES "7" for a number, is refused as v1 refuses it, not scored as something else.
_INTEGERS = frozenset({int, type(None)})
_NUMBERS = frozenset({int, float, type(None)})
VALUES_OF = {**{t: _INTEGERS for t in ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")},
             **{t: _NUMBERS for t in ("FP16", "FP32", "FP64")},
             "BOOL": frozenset({bool, type(None)}), "BYTES": frozenset({str, bytes, type(None)})}
V2_DATATYPES = {"i": "INT64", "u": "INT64", "f": "FP64", "b": "BOOL", "O": "BYTES", "U": "BYTES"}


def v2_request(frame: pd.DataFrame, request_id: str = "cnai") -> dict[str, Any]:
    """An Open Inference Protocol request, one input tensor per column; missing values as null."""
    inputs = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "M":  # timestamps travel as ISO 8601 text
            values = values.map(lambda v: None if pd.isna(v) else v.isoformat()).astype(object)
        datatype = V2_DATATYPES.get(values.dtype.kind, "BYTES")
        data = [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]
        inputs.append({"name": column, "shape": [len(frame)], "datatype": datatype, "data": data})
    return {"id": request_id, "inputs": inputs}


def v1_request(frame: pd.DataFrame) -> dict[str, Any]:
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return {"instances": records}


def _server_classes():
    """Defined lazily: importing kserve parses sys.argv and starts its logging."""
    from kserve import Model, ModelRepository
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    class ServedModel(Model):
        """Serves a saved cnai model: the prediction (the label's own value, or the number), and for
        classification one probability per class."""

        def __init__(self, name: str, model_dir: str, version: str, log: InferenceLog | None = None,
                     model_hash: str = "", feature_store: str = "") -> None:
            super().__init__(name)
            self.model_dir, self.version, self.model_hash = model_dir, str(version), model_hash
            self.model: LoadedModel | None = None
            self.log = log
            self.feature_store = feature_store
            self.online: OnlineFeatures | None = None

        def load(self) -> bool:
            if self.model_hash and (found := content_hash(self.model_dir)) != self.model_hash:
                # Refused, never served under the version's name: the old version keeps serving.
                raise ServingError(f"{self.model_dir}: its files hash to {found}, not to version {self.version}'s "
                                   f"registered {self.model_hash}; deploy the version again to fetch its files")
            self.model = LoadedModel(self.model_dir)
            self.numeric = frozenset(self.model.meta.get("numeric", []))
            self.model.prepare_for_serving()
            self.online = OnlineFeatures.of(self.feature_store)
            self.ready = True
            return True

        def get_input_types(self) -> list[dict]:
            """The features a request must carry (v2 model metadata: clients can discover them)."""
            booleans, integers = set(self.model.meta.get("boolean", [])), set(self.model.meta.get("integer", []))
            return [{"name": c, "datatype": "INT64" if c in integers else "FP64" if c in self.numeric else "BOOL" if c in booleans
                     else "BYTES", "shape": [-1]} for c in self.model.feature_columns]

        def get_output_types(self) -> list[dict]:
            classes = self.model.classes if self.model.task != "regression" else []
            return [{"name": "prediction", "datatype": v2_datatype(classes) if classes else "FP64", "shape": [-1]},
                    *({"name": f"probability_{c}", "datatype": "FP64", "shape": [-1]} for c in classes)]

        async def predict(self, payload, headers=None, response_headers=None):
            """Small requests are answered on the event loop (a thread hop costs more than they do);
            one of OFFLOAD_ROWS rows or more is scored in a worker thread, so health probes and other
            requests are answered meanwhile."""
            if _rows_in(payload) >= OFFLOAD_ROWS:
                return await asyncio.to_thread(self.answer, payload, headers)
            return self.answer(payload, headers)

        def answer(self, payload, headers=None):
            if isinstance(payload, bytes | str):  # KServe leaves a body sent as another content type (curl -d: a form) as it came
                try:
                    payload = json.loads(payload)
                except ValueError as exc:
                    raise InvalidInput("the body is not JSON: send {'instances': [{feature: value}, ...]} (v1) or a v2 "
                                       "request, with the header Content-Type: application/json") from exc
            if isinstance(payload, InferRequest):
                columns = _columns_from_v2(payload)
            elif isinstance(payload, dict) and isinstance(payload.get("instances"), list):
                columns = _columns_from_v1(payload["instances"])
            else:
                raise InvalidInput("expected a v2 request or a v1 body {'instances': [{feature: value}, ...]}")
            keys = {view["join_on"] for view in self.online.views} if self.online is not None else set()
            ignored = [c for c in columns if c not in self.model.feature_columns and c not in keys]
            missing = [c for c in self.model.feature_columns if c not in columns]
            # A v1 batch may mix instances that send a view's features with ones that send its key only.
            partly = [c for c in self.model.feature_columns if c in columns and any(v is ABSENT for v in columns[c])]
            not_found: dict[str, list[int]] = {}
            if (missing or partly) and self.online is not None:
                columns, not_found = _looked_up(self.online, columns, missing, partly)
                missing = [c for c in self.model.feature_columns if c not in columns]
            if isinstance(payload, dict) and not payload["instances"]:
                raise InvalidInput("no instances: send at least one {feature: value, ...}")
            if missing:
                hint = self.online.hint(missing) if self.online is not None else ""
                by_lower = {m.lower(): m for m in missing}
                meant = [f"{by_lower[close[0]]!r} for {sent!r}" for sent in ignored
                         if (close := difflib.get_close_matches(sent.lower(), list(by_lower), n=1, cutoff=0.75))]
                raise InvalidInput(f"missing feature(s) {missing}{hint}; expected {self.model.feature_columns}"
                                   + (f"; did you mean {', '.join(meant)}? (names are exact, case too)" if meant else ""))
            features = {c: columns[c] for c in self.model.feature_columns}
            _refuse_unservable(features, self.numeric)
            try:  # before the log: the drift check compares the values as trained
                features = self.model.as_trained(features)
            except DataError as exc:
                raise InvalidInput(str(exc)) from exc
            try:
                scores = self.model.scores(features)
            except (ValueError, TypeError, DataError) as exc:
                raise InvalidInput(f"features could not be scored: {exc}") from exc
            predictions = self.model.predictions(scores)
            probabilities = self.model.class_probabilities(scores)
            # Scored as missing, which is no error; said, so that a typo ("Privee") is not taken for an answer.
            unseen = self.model.unseen_categories(features)
            if not_found:
                log.warning("%s: %s", self.name, not_found_warning(not_found))
            if unseen:
                log.warning("%s: values the model never saw in training, scored as missing: %s", self.name, unseen)
            if self.log is not None and not _not_traffic(headers):
                try:
                    self.log.append(features, self.model.drift_signal(scores), self.version)
                except DataError as exc:  # nothing was written: the whole request is refused
                    raise InvalidInput(str(exc)) from exc
            if isinstance(payload, InferRequest):
                rows = len(predictions)
                outputs = [InferOutput("prediction", [rows], v2_datatype(predictions), data=predictions)]
                outputs += [InferOutput(f"probability_{name}", [rows], "FP64", data=values)
                            for name, values in probabilities.items()]
                return InferResponse(
                    response_id=payload.id or str(uuid.uuid4()),  # `id` is optional in requests, not in responses
                    model_name=self.name, model_version=self.version, infer_outputs=outputs,
                    # v2 parameters hold scalars only: the instances by view, the values by feature, as JSON text
                    parameters={key: json.dumps(value) for key, value in ((NOT_FOUND, not_found), (UNSEEN, unseen),
                                                                               (IGNORED, ignored)) if value} or None,
                )
            answer: dict[str, Any] = {"predictions": predictions, "model_version": self.version}
            if not_found:
                answer[NOT_FOUND] = not_found
            if unseen:
                answer[UNSEEN] = unseen
            if ignored:
                answer[IGNORED] = ignored
            if probabilities:
                answer["probabilities"] = [dict(zip(probabilities, row, strict=True)) for row in zip(*probabilities.values(), strict=True)]
            return answer

    def _rows_in(payload) -> int:
        if isinstance(payload, InferRequest):
            return max((int(i.shape[0]) for i in payload.inputs if i.shape), default=0)
        instances = payload.get("instances") if isinstance(payload, dict) else None
        return len(instances) if isinstance(instances, list) else 0

    def _columns_from_v2(request) -> dict[str, list]:
        """One list of values per input tensor. Checked in bulk, in a few C-level passes over every
        value (cheaper than walking the tensors one by one: BENCHMARKS.md, serving). A request that
        fails the bulk check goes through `_checked_columns_from_v2`, which says what is wrong."""
        tensors = request.inputs
        data = [tensor.data for tensor in tensors]
        rows = len(data[0]) if data and isinstance(data[0], list) else -1
        flat = all(isinstance(values, list) for values in data)
        kinds = set(map(type, chain.from_iterable(data))) if flat else set()
        if not (flat and kinds.isdisjoint(NESTED_TYPES) and len({tensor.name for tensor in tensors}) == len(tensors)
                and {tensor.datatype for tensor in tensors} <= V2_PROTOCOL_DATATYPES
                and all(len(values) == rows for values in data)
                and all(tensor.shape == [rows] or tensor.shape == [rows, 1] for tensor in tensors)
                and all(set(map(type, values)) <= VALUES_OF[tensor.datatype] for tensor, values in zip(tensors, data, strict=True))):
            return _checked_columns_from_v2(request)
        if bytes in kinds:
            data = [[v.decode() if isinstance(v, bytes) else v for v in values] for values in data]
        return dict(zip((tensor.name for tensor in tensors), data, strict=True))

    def _checked_columns_from_v2(request) -> dict[str, list]:
        """The same, tensor by tensor, checking what KServe does not: the datatype is one of the
        protocol's, the data has as many values as the shape says, all inputs one length."""
        columns = {}
        for tensor in request.inputs:
            name, datatype, data, shape = tensor.name, tensor.datatype, tensor.data, list(tensor.shape or [])
            if name in columns:
                raise InvalidInput(f"input {name!r} is given twice; send each feature once")
            if datatype not in V2_PROTOCOL_DATATYPES:
                raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not one of {sorted(V2_PROTOCOL_DATATYPES)}")
            if not isinstance(data, list) or any(isinstance(v, NESTED_TYPES) for v in data):
                raise InvalidInput(f"input {name!r}: data must be a flat list of values, one per row")
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] != len(data):
                raise InvalidInput(f"input {name!r}: shape {shape} does not match its {len(data)} value(s); "
                                   "send shape [rows] (or [rows, 1])")
            wrong = next((v for v in data if type(v) not in VALUES_OF[datatype]), None)
            if wrong is not None:
                raise InvalidInput(f"input {name!r}: {str(wrong)[:40]!r} is not a {datatype} value; send the datatype the value is "
                                   "(FP64 for numbers with a fraction, BYTES for text)")
            columns[name] = [v.decode() if isinstance(v, bytes) else v for v in data]
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidInput(f"inputs have different numbers of rows: {lengths}")
        return columns

    def _columns_from_v1(instances: list) -> dict[str, list]:
        if not all(isinstance(instance, dict) for instance in instances):
            raise InvalidInput("v1 instances must each be an object {feature: value, ...}")
        names = list(dict.fromkeys(name for instance in instances for name in instance))
        return {name: [instance.get(name, ABSENT) for instance in instances] for name in names}

    class PointerRepository(ModelRepository):
        """`load(name)` (v2 repository API) re-reads the pointer and swaps in the version it names."""

        def __init__(self, pointer: Callable[[], dict], log: InferenceLog | None = None) -> None:
            super().__init__()
            self.pointer = pointer
            self.log = log

        def build(self, name: str) -> ServedModel:
            pointer = self.pointer()
            model = ServedModel(name, pointer["path"], pointer["version"], self.log, pointer.get("model_hash", ""),
                                pointer.get("feature_store", ""))
            model.load()
            return model

        def load(self, name: str) -> bool:
            model = self.build(name)  # the old version keeps serving while this loads
            self.update(model)
            record_serving(model)
            log.info("now serving %s version %s", name, model.version)
            _freeze_heap()  # once per swap: the old version's objects go, the new one's are frozen
            return model.ready

    return ServedModel, PointerRepository


def _looked_up(online: OnlineFeatures, columns: dict[str, list], missing: list[str],
               partly: list[str] = ()) -> tuple[dict[str, list], dict[str, list[int]]]:
    """The request's columns with the missing view features read from the online store; a feature
    some v1 instances sent (`partly`) is read for the others only: what an instance sent wins.
    Also, by view, the instances whose key found nothing in the store (OnlineFeatures.lookup)."""
    from kserve.errors import InvalidInput

    sent = {c: columns[c] for c in partly if c in online.provides}
    wanted = [*missing, *sent]
    keys = online.keys_for(wanted)
    for key in keys:
        needed = [f for f in wanted if f in online.provides and online.provides[f]["join_on"] == key]
        for row, value in enumerate(columns.get(key, ())):  # an instance that sent all of them needs no key
            if value is ABSENT and any(f not in sent or sent[f][row] is ABSENT for f in needed):
                raise InvalidInput(f"instance {row} lacks {key!r}, the key its features are looked up by; send it, or "
                                   f"the features {needed}")
    # An instance without the key looks nothing up (its features are its own); the key column itself
    # goes back as sent, so a key that is also a feature is still refused where it is absent.
    lookup = {c: [None if v is ABSENT else v for v in values] if c in keys else values
              for c, values in columns.items() if c not in sent}
    try:
        filled, not_found = online.lookup(lookup, wanted)
    except DataError as exc:
        raise InvalidInput(str(exc)) from exc
    filled.update({key: columns[key] for key in keys if key in columns})
    for column, values in sent.items():
        looked_up = filled.get(column, [ABSENT] * len(values))
        filled[column] = [mine if mine is not ABSENT else store for mine, store in zip(values, looked_up, strict=True)]

    def looked_up_for(row: int, view: str) -> bool:  # an instance that sent all of a view's features looked up none
        return any(f not in sent or sent[f][row] is ABSENT
                   for f in wanted if f in online.provides and online.provides[f]["name"] == view)

    not_found = {view: [row for row in rows if looked_up_for(row, view)] for view, rows in not_found.items()}
    return filled, {view: rows for view, rows in not_found.items() if rows}


def _refuse_unservable(features: dict[str, list], numeric: frozenset = frozenset()) -> None:
    """One set of rules for v1 and v2: rows within the limit, and no infinite or NaN number (JSON
    has no such value: the log would keep it as null, and the row as scored would be lost)."""
    from kserve.errors import InvalidInput

    rows = len(next(iter(features.values()), []))
    if rows == 0:
        raise InvalidInput("no rows: send at least one")
    if rows > MAX_ROWS:
        raise InvalidInput(f"{rows} rows: at most {MAX_ROWS} per request (CNAI_SERVING_MAX_ROWS); send several requests")
    for name, values in features.items():
        if any(v is ABSENT for v in values):
            row = next(i for i, v in enumerate(values) if v is ABSENT)
            raise InvalidInput(f"instance {row} lacks feature {name!r} (as a row alone would be refused); "
                               "send null for a missing value")
        if name in numeric and (text := next((v for v in values if isinstance(v, str | bytes)), None)) is not None:
            raise InvalidInput(f"input {name!r} is a number; {str(text)[:40]!r} is text (send it as a number)")
        if name in numeric and any(isinstance(v, bool) for v in values):  # JSON's true is no 1 (Python's is)
            raise InvalidInput(f"input {name!r} is a number; true or false is not (send it as a number)")
        bad = next((v for v in values if isinstance(v, float) and not math.isfinite(v)), None)
        if bad is not None:
            raise InvalidInput(f"input {name!r}: {bad} is not a number a row can hold; send null for a missing value")


def _not_traffic(headers) -> bool:
    return any(str(k).lower() == NOT_TRAFFIC_HEADER for k in (headers or {}))


def record_serving(model) -> None:
    """What this process serves, written by the process itself once the model is live: the deploy
    step's pointer says what it asked for, this says what happened (a deploy killed half-way
    leaves them apart, and `cnai serve` / the next run put production back)."""
    state = os.environ.get("CNAI_SERVING_STATE")
    if not state:
        return
    with atomic_output(state) as staging:
        staging.write_text(json.dumps({"version": model.version, "model_hash": model.model_hash, "pid": os.getpid()}))


def _freeze_heap() -> None:
    """Keep the loaded libraries and model out of the garbage collector's full passes.

    Python's full collections walk every object ever allocated: with scikit-learn, pandas and
    KServe loaded that is a pause long enough to set the tail latency under load (BENCHMARKS.md,
    serving). Objects alive now are moved to a generation the collector skips (`gc.freeze`);
    reference counting still frees them.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def inference_log_dir(serving_dir: Path, model_name: str) -> Path:
    return serving_dir / "inference_log" / model_name


class RefusalLog:
    """One log line a minute for refused requests, with their count and the last reason: a client
    sending bad requests must not grow the server's log (KServe writes ~1.7 KB of traceback each)."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s, self.count, self.last = every_s, 0, float("-inf")

    def note(self, reason: str) -> None:
        import time

        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every_s:
            log.warning("refused %d request(s) since the last note; the latest: %s", self.count, reason[:300])
            self.count, self.last = 0, now


_refusals = RefusalLog()


async def refused(_, exc):
    from starlette.responses import JSONResponse

    _refusals.note(str(exc))
    return JSONResponse(status_code=400, content={"error": str(exc)})


async def guard_repository(request, call_next):
    """The repository endpoints answer only a caller with the token (the deploy step), and no browser."""
    import hmac

    from starlette.responses import JSONResponse

    if request.url.path.startswith("/v2/repository"):
        token = os.environ.get("CNAI_SERVING_TOKEN", "")
        given = request.headers.get(TOKEN_HEADER, "")
        if "origin" in request.headers or not token or not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": REPOSITORY_REFUSAL}, status_code=403)
    return await call_next(request)


def serve(pointer: Callable[[], dict], model_name: str, host: str, port: int, log_dir: Path | None) -> None:
    """Serve the version `pointer()` names; a v2 repository `load` call asks it again."""
    import kserve.model_server as kserve_server
    from kserve import ModelServer
    from kserve.protocol.rest.server import RESTServer, _RefreshingServer

    class BoundRESTServer(RESTServer):
        # KServe binds 0.0.0.0 (right inside a pod); on a laptop we bind loopback unless told otherwise.
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host
            self._server = _RefreshingServer(self.config)

        def _add_middlewares(self, app) -> None:
            super()._add_middlewares(app)
            app.max_body_size = MAX_REQUEST_BYTES  # FastAPI's own limit (Starlette's RequestBodyLimitMiddleware): 413
            app.middleware("http")(guard_repository)

        def _add_exception_handlers(self, app) -> None:
            super()._add_exception_handlers(app)
            from fastapi.exceptions import RequestValidationError
            from kserve.errors import InvalidInput, ModelNotFound

            app.add_exception_handler(InvalidInput, refused)  # KServe's own logs a whole traceback per bad request
            app.add_exception_handler(ModelNotFound, not_found)
            app.add_exception_handler(RequestValidationError, not_v2)

    async def not_v2(request, exc):
        """A body the v2 endpoint's schema refuses (a v1 body sent to it): FastAPI's 422 listed pydantic's
        errors (\"bytes_type\", \"Input should be a valid bytes\"); said as what to send, and where."""
        from starlette.responses import JSONResponse

        first = next(iter(exc.errors()), {})
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        said = (f"the body is not a v2 inference request ({where}: {first.get('msg', 'refused')}): send "
                "{\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]}; a v1 body {\"instances\": [...]} "
                f"goes to POST /v1/models/{model_name}:predict")
        _refusals.note(said)
        return JSONResponse(status_code=422, content={"error": said})

    async def not_found(_, exc):
        """A name this server does not serve (pct_above-regression for pct-above-regression), said with the one it does."""
        from starlette.responses import JSONResponse

        _refusals.note(str(exc))
        return JSONResponse(status_code=404, content={"error": f"{exc} This server serves {model_name!r} "
                                                                 "(GET /v2/models lists it)."})

    kserve_server.RESTServer = BoundRESTServer
    # KServe's v1 endpoints answer with FastAPI's ORJSONResponse, which warns on every v1 request that
    # it is deprecated: KServe's own code, a log line per request. Other warnings still show.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    _, repository_class = _server_classes()
    repository = repository_class(pointer, InferenceLog(log_dir) if log_dir else None)
    model = repository.build(model_name)
    record_serving(model)
    _freeze_heap()
    server = ModelServer(http_port=port, enable_grpc=False, registered_models=repository, workers=1,
                         enable_latency_logging=LOG_EACH_REQUEST)
    if not LOG_EACH_REQUEST:
        for logger_name in ("kserve.trace", "uvicorn.access"):  # set after ModelServer configured logging
            logging.getLogger(logger_name).setLevel(logging.WARNING)
    server.start([model])


def main(argv: list[str] | None = None) -> None:
    """Locally the deploy step's pointer file names the version; in a pod, the mounted model does.

    In a pod KServe's ServingRuntime passes its usual `--model_name`, `--model_dir` and `--http_port`
    (manifests/base/serving-runtime.yaml); they win over the CNAI_SERVING_* variables.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cnai.backends.local.model_server")
    parser.add_argument("--model_name", default=None)
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--http_port", type=int, default=None)
    args, _ = parser.parse_known_args(argv)
    if args.model_name:
        os.environ["CNAI_SERVING_MODEL"] = args.model_name
    if args.model_dir:
        os.environ["CNAI_SERVING_MODEL_DIR"] = args.model_dir
    if args.http_port:
        os.environ["CNAI_SERVING_PORT"] = str(args.http_port)
        os.environ.setdefault("CNAI_SERVING_HOST", "0.0.0.0")  # in a pod; the mesh and NetworkPolicy decide exposure
    model_name = os.environ["CNAI_SERVING_MODEL"]
    if "CNAI_SERVING_POINTER" in os.environ:
        pointer_file = Path(os.environ["CNAI_SERVING_POINTER"])

        def pointer() -> dict:
            return json.loads(pointer_file.read_text())

        log_dir = inference_log_dir(pointer_file.parent, model_name)
    else:  # KServe's storage initializer put the registered version's files in CNAI_SERVING_MODEL_DIR
        fixed = {"path": os.environ.get("CNAI_SERVING_MODEL_DIR", "/mnt/models"), "version": os.environ.get("CNAI_SERVING_VERSION", "")}

        def pointer() -> dict:
            return fixed

        log_dir = None  # on a cluster KServe's logger records traffic (see cnai.backends.kubeflow.log_sink)
    serve(pointer, model_name, host=os.environ.get("CNAI_SERVING_HOST", "127.0.0.1"),
          port=int(os.environ.get("CNAI_SERVING_PORT", "8085")), log_dir=log_dir)


if __name__ == "__main__":
    main()
