"""``RestClient``: the REST twin of ``ServingClient`` for TF Serving's REST API (port 8501) and
``bert-cls serve --rest-api-port``, with the same ``predict``/``metadata``/``status`` methods, errors,
deadlines, retries and length-sorted batching, and no TensorFlow import (a web back end can use it).

HTTP is ``requests`` (a pooled ``Session``); errors become ``ServingError`` with the gRPC status code
that TF Serving's HTTP status stands for, so callers handle both clients alike.
"""

from __future__ import annotations

import base64
import time
from typing import Optional, Sequence

import grpc
import requests

from bert_cls.data import ordering
from bert_cls.serving.contract import DEFAULT_TIMEOUT_S, SERVING_SIGNATURE, TEXT_INPUT, TEXT_PAIR_INPUT
from bert_cls.serving.prediction import (
    ClosingClient,
    ServingError,
    check_client_arguments,
    not_found_hint,
    prediction_at,
)

# TF Serving's HTTP statuses back to the gRPC codes they stand for (rest_api.HTTP_STATUS, inverted)
GRPC_CODE = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _json_text(text) -> object:
    """A text as JSON: a string, or ``{"b64": ...}`` for bytes that are not UTF-8."""
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(text).decode()}
    return text


class RestClient(ClosingClient):
    """Client for one model over TF Serving's REST API; arguments as ``ServingClient``'s.

    Args:
        server: ``host:port`` (TF Serving's REST default is 8501) or an ``http(s)://`` URL.
        version / label: pin a version or a version label (``/versions/V``, ``/labels/L``).
    """

    def __init__(
        self,
        server: str,
        model_name: str,
        signature: str = SERVING_SIGNATURE,
        version: Optional[int] = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        batch_size: int = 64,
        max_retries: int = 3,
        backoff: float = 0.2,
        label: Optional[str] = None,
        verify=True,
    ):
        check_client_arguments(batch_size, version)
        self.base_url = server.rstrip("/") if "://" in server else f"http://{server}"
        self.server, self.model_name, self.signature = server, model_name, signature
        self.version, self.label, self.timeout, self.batch_size = version, label, timeout, batch_size
        self.max_retries, self.backoff = max_retries, backoff
        self._session = requests.Session()
        self._session.verify = verify

    def close(self) -> None:
        self._session.close()

    def _model_path(self) -> str:
        path = f"/v1/models/{self.model_name}"
        if self.version is not None:
            path += f"/versions/{int(self.version)}"
        elif self.label:
            path += f"/labels/{self.label}"
        return path

    def _call(self, method: str, path: str, what: str, body=None) -> dict:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                response = self._session.request(method, self.base_url + path, json=body, timeout=self.timeout)
            except requests.Timeout:
                raise ServingError(
                    f"{what} on {self.server} for model {self.model_name!r} failed: DEADLINE_EXCEEDED "
                    f"(deadline {self.timeout}s: raise timeout or lower batch_size)",
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ) from None
            except requests.ConnectionError:
                if attempt < self.max_retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise ServingError(
                    f"{what} on {self.server} for model {self.model_name!r} failed: UNAVAILABLE (after "
                    f"{attempt + 1} attempts: is the REST API running on {self.server}?)",
                    grpc.StatusCode.UNAVAILABLE,
                ) from None
            if response.status_code == 503 and attempt < self.max_retries:
                time.sleep(delay)
                delay *= 2
                continue
            code = GRPC_CODE.get(response.status_code, grpc.StatusCode.INTERNAL)
            failed = f"{what} on {self.server} for model {self.model_name!r} signature {self.signature!r} failed"
            try:
                payload = response.json()
            except ValueError:  # an HTML error page (a proxy, another server): its status, not its markup
                raise ServingError(
                    f"{failed}: HTTP {response.status_code} with a non-JSON body "
                    f"({response.headers.get('Content-Type', 'no content type')}): is {self.server} "
                    "TF Serving's REST API?",
                    code,
                ) from None
            if response.status_code != 200:
                error = payload.get("error", payload) if isinstance(payload, dict) else payload
                hint = not_found_hint(self.model_name) if code == grpc.StatusCode.NOT_FOUND else ""
                raise ServingError(f"{failed}: {code.name}: {error}{hint}", code)
            return payload
        raise AssertionError("unreachable")

    def predict(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None) -> list:
        """One ``Prediction`` per text (with its second text for a pair model), in order, as ``ServingClient.predict``."""
        texts, pairs = ordering.text_lists(texts, pairs)
        results = [None] * len(texts)
        for indices in ordering.sorted_batches(ordering.lengths(texts, pairs), self.batch_size):
            inputs = {TEXT_INPUT: [_json_text(texts[i]) for i in indices]}
            if pairs is not None:
                inputs[TEXT_PAIR_INPUT] = [_json_text(pairs[i]) for i in indices]
            body = {"signature_name": self.signature, "inputs": inputs}  # columnar: one list per output
            outputs = self._call("POST", self._model_path() + ":predict", "predict", body)["outputs"]
            for i, position in enumerate(indices):
                results[position] = prediction_at(outputs, i, texts[position], None if pairs is None else pairs[position])
        return results

    def metadata(self) -> dict:
        """``{"model_spec", "signatures": {name: {"inputs", "outputs"}}}`` as ``ServingClient.metadata`` returns it."""
        body = self._call("GET", self._model_path() + "/metadata", "metadata")
        spec = body["model_spec"]

        def describe(tensors):
            return {
                name: {"dtype": info["dtype"], "shape": [int(d["size"]) for d in info["tensor_shape"].get("dim", [])]}
                for name, info in tensors.items()
            }

        signatures = body["metadata"]["signature_def"]["signature_def"]
        return {
            "model_spec": {"name": spec["name"], "version": int(spec.get("version", 0))},
            "signatures": {
                name: {"inputs": describe(s.get("inputs", {})), "outputs": describe(s.get("outputs", {}))}
                for name, s in signatures.items()
            },
        }

    def status(self) -> list:
        """``[{"version", "state", "error_code", "error_message"}]`` as ``ServingClient.status`` returns it."""
        body = self._call("GET", self._model_path(), "status")
        codes = {code.name: code.value[0] for code in grpc.StatusCode}
        return [
            {
                "version": int(s["version"]),
                "state": s["state"],
                "error_code": codes.get(s["status"]["error_code"], 2),
                "error_message": s["status"]["error_message"],
            }
            for s in body["model_version_status"]
        ]
