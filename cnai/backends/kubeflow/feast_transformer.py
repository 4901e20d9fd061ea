"""The InferenceService's transformer: fills the feature views' columns from Feast's online store.

On a cluster the predictor serves the model and this runs beside it as the InferenceService's
`transformer` (KServe's pre-processing component, as in KServe's own Feast example): a request that
carries a view's join key but not its features gets them from the Redis online store, by key, and
goes on to the predictor, v1 or v2 as it came. KServe's storage initializer puts the run's applied
Feast repo (its registry, and a feature_store.yaml naming Redis) in /mnt/models (`STORAGE_URI`).

    python -m cnai.backends.kubeflow.feast_transformer --model_name <model> --predictor_host <model>-predictor
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from cnai.backends.online_features import NOT_FOUND, OnlineFeatures, not_found_warning
from cnai.core.errors import DataError
from cnai.core.open_inference import v2_datatype

log = logging.getLogger(__name__)


def _transformer_class():
    """Defined lazily: importing kserve parses sys.argv and starts its logging."""
    from kserve import InferenceRESTClient, Model, RESTConfig
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferRequest

    class FeastTransformer(Model):
        def __init__(self, name: str, predictor_host: str, feature_store: str, timeout_s: float = 60.0) -> None:
            super().__init__(name)
            self.predictor_url = predictor_host if "://" in predictor_host else f"http://{predictor_host}"
            self.online = OnlineFeatures(feature_store)
            # One client per protocol: a request goes on to the predictor in the protocol it came in.
            self.clients = {p: InferenceRESTClient(RESTConfig(protocol=p, timeout=timeout_s)) for p in ("v1", "v2")}
            self.ready = True

        def filled(self, columns: dict[str, list]) -> tuple[dict[str, list], dict[str, list[int]]]:
            """The columns with the views' features read by key, and the instances whose key found none."""
            missing = [f for f in self.online.provides if f not in columns]
            try:
                filled, not_found = self.online.lookup(columns, missing) if missing else (columns, {})
            except DataError as exc:
                raise InvalidInput(str(exc)) from exc
            if not_found:
                log.warning("%s: %s", self.name, not_found_warning(not_found))
            return filled, not_found

        async def predict(self, payload: Any, headers: dict | None = None, response_headers: dict | None = None) -> Any:
            forwarded = {k: v for k, v in (headers or {}).items() if k.lower().startswith("x-")}
            if isinstance(payload, InferRequest):
                columns, not_found = self.filled({tensor.name: list(tensor.data) for tensor in payload.inputs})
                given = {tensor.name for tensor in payload.inputs}
                for name, values in columns.items():
                    if name not in given:
                        payload.inputs.append(InferInput(name, [len(values)], v2_datatype(values), data=values))
                answer = await self.clients["v2"].infer(self.predictor_url, payload, model_name=self.name, headers=forwarded)
                if not_found:  # as the local server says it (v2 parameters hold scalars: JSON text)
                    answer.parameters = {**(answer.parameters or {}), NOT_FOUND: json.dumps(not_found)}
                return answer
            instances = payload.get("instances") if isinstance(payload, dict) else None
            if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
                raise InvalidInput("expected a v2 request or a v1 body {'instances': [{feature: value}, ...]}")
            names = list(dict.fromkeys(name for instance in instances for name in instance))
            columns, not_found = self.filled({name: [instance.get(name) for instance in instances] for name in names})
            added = [name for name in columns if name not in names]
            body = {"instances": [{**instance, **{name: columns[name][i] for name in added}}
                                  for i, instance in enumerate(instances)]}
            answer = await self.clients["v1"].infer(self.predictor_url, body, model_name=self.name, headers=forwarded)
            if not_found and isinstance(answer, dict):
                answer[NOT_FOUND] = not_found
            return answer

    return FeastTransformer


def main(argv: list[str] | None = None) -> None:
    from kserve import ModelServer

    parser = argparse.ArgumentParser(prog="python -m cnai.backends.kubeflow.feast_transformer")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--predictor_host", required=True)
    parser.add_argument("--feature_store", default="/mnt/models", help="the applied Feast repo (KServe's STORAGE_URI)")
    parser.add_argument("--http_port", type=int, default=8080)
    args, _ = parser.parse_known_args(argv)
    transformer = _transformer_class()(args.model_name, args.predictor_host, args.feature_store)
    ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([transformer])


if __name__ == "__main__":
    main()
