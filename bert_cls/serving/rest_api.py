"""TF Serving's REST API (``tensorflow_serving/g3doc/api_rest.md``) over the same models as the gRPC server.

* ``GET  /v1/models/NAME[/versions/V|/labels/L]``: ``GetModelStatusResponse`` as JSON.
* ``GET  /v1/models/NAME[/versions/V|/labels/L]/metadata``: ``GetModelMetadataResponse`` as JSON.
* ``POST /v1/models/NAME[/versions/V|/labels/L]:predict``: ``instances`` (row format, answered with
  ``predictions``) or ``inputs`` (columnar, answered with ``outputs``); strings as JSON strings or
  ``{"b64": ...}``.
* ``GET  /monitoring/prometheus/metrics``: Prometheus text format (``monitoring.py``).

Errors are ``{"error": "..."}`` with TF Serving's HTTP status for the gRPC code (400 invalid argument,
404 not found ...). HTTP is Werkzeug's (request parsing, body limits, a threaded WSGI server); protos
become JSON with ``google.protobuf.json_format`` as TF Serving's C++ does with its JSON printer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from bert_cls.errors import BertClsError
from bert_cls.serving import json_bounds
from bert_cls.serving.api import model_metadata, model_status, version_request
from bert_cls.serving.contract import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REST_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    SERVING_SIGNATURE,
)
from bert_cls.serving.limits import RequestLimits, check_version
from bert_cls.serving.limits import bad as _bad
from bert_cls.serving.models import ModelManager, RequestError
from bert_cls.serving.monitoring import METRICS_PATH, ServingMetrics

log = logging.getLogger("bert_cls.serving")

# TF Serving's REST handler: /v1/models/NAME[/versions/V | /labels/L][/metadata | :VERB]
_MODEL_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?"
)
# Deep enough for any tensor a text model takes ({"instances": [{"input_ids": [[...]]}]} is 4); a bound keeps
# hostile nesting from exhausting the parser's recursion.
MAX_JSON_DEPTH = 32
# TF Serving's mapping of canonical codes to HTTP statuses (util/net_http/...: ToHTTPStatusCode)
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
}


def _as_json(message) -> dict:
    """A proto as TF Serving's JSON printer writes it: proto field names, default values printed."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _json_response(body, status: int = 200) -> Response:
    # backslashreplace: a lone surrogate in a string becomes its JSON escape instead of failing the response
    text = json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
    return Response(text, status=status, mimetype="application/json")


def _error_response(code: grpc.StatusCode, message: str) -> Response:
    return _json_response({"error": message}, HTTP_STATUS.get(code, 500))


# ---- JSON <-> tensors -----------------------------------------------------------------------------------


def _decode_strings(value, name: str):
    """A JSON value of a string input: strings and ``{"b64": ...}`` (nested lists kept), as bytes."""
    if isinstance(value, list):
        return [_decode_strings(v, name) for v in value]
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:  # JSON's "\ud800" escape decodes to a lone surrogate
            raise _bad(f"input {name}: a string holds {value[exc.start]!a}, a lone surrogate: not valid Unicode") from None
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise _bad(f'input {name}: {{"b64": ...}} holds invalid base64') from None
    raise _wrong_type(value, name, "string")


def _wrong_type(value, name: str, expected: str) -> RequestError:
    """TF Serving's words for a JSON value of the wrong type."""
    kind = {bool: "Boolean", int: "Number", float: "Number", str: "String", dict: "Object", list: "Array"}
    shown = json.dumps(value)[:100]  # ASCII: a lone surrogate is escaped, not echoed
    return _bad(f"JSON Value: {shown} Type: {kind.get(type(value), 'Null')} is not of expected type: {expected} (input {name})")


def _to_array(value, name: str, dtype) -> np.ndarray:
    if dtype == "string":
        decoded = _decode_strings(value, name)
        array = np.array(decoded, dtype=object)
        if array.dtype != object or (array.size and not all(isinstance(x, bytes) for x in array.flat)):
            raise _bad(f"input {name}: nested lists of unequal length")
        return array
    return _numbers(value, name, dtype)


def _leaves(value):
    """The values of nested lists that are not lists, level by level (no recursion: depth is bounded anyway)."""
    level = [value]
    while level:
        yield from (v for v in level if type(v) is not list)
        level = [x for v in level if type(v) is list for x in v]


def _numbers(value, name: str, dtype: str) -> np.ndarray:
    """A numeric input as TF Serving reads it: integers for integer tensors (not 5.9, "5" or true), numbers for
    float tensors, booleans for bool tensors, each within the dtype's range."""
    if dtype == "bool":
        allowed, numpy_type = (bool,), bool
    elif dtype.startswith(("float", "half", "bfloat")):
        allowed, numpy_type = (int, float), np.float64
    else:
        allowed, numpy_type = (int,), np.int64
    for leaf in _leaves(value):
        if type(leaf) not in allowed:
            raise _wrong_type(leaf, name, dtype)
    try:
        array = np.array(value, dtype=numpy_type)
    except OverflowError:
        raise _bad(f"input {name}: a value is outside {dtype}'s range") from None
    except ValueError:
        raise _bad(f"input {name}: nested lists of unequal length") from None
    if numpy_type is np.int64 and array.size:
        limits = np.iinfo(dtype) if dtype in ("int8", "int16", "int32", "uint8", "uint16") else np.iinfo(np.int64)
        if array.min() < limits.min or array.max() > limits.max:
            raise _bad(f"input {name}: a value is outside {dtype}'s range ({limits.min} to {limits.max})")
    if numpy_type is np.float64 and array.size:
        narrow = np.float32 if dtype in ("float32", "half", "float16", "bfloat16") else np.float64
        with np.errstate(over="ignore"):
            if not np.isfinite(array.astype(narrow)).all():
                raise _bad(f"input {name}: a value is outside {dtype}'s range")
    return array


def _input_dtypes(loaded, signature_name: str) -> dict:
    function = loaded.model.signatures.get(signature_name)
    if function is None:  # TF Serving's REST handler: an unknown signature is a bad request
        raise _bad(f'Serving signature name: "{signature_name}" not found in signature def')
    return {name: spec.dtype.name for name, spec in function.structured_input_signature[1].items()}


def parse_predict_body(body: dict, dtypes: dict):
    """(inputs as arrays, "row" or "columnar") of a predict request, as api_rest.md defines them."""
    if "instances" in body and "inputs" in body:
        raise _bad("Only one of 'instances' or 'inputs' keys can be specified, not both")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise _bad("'instances' must be a list")
        if len(dtypes) == 1:
            name = next(iter(dtypes))
            if instances and all(isinstance(i, dict) and set(i) == {name} for i in instances):
                instances = [i[name] for i in instances]
            return {name: _to_array(instances, name, dtypes[name])}, "row"
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict) or set(instance) != set(dtypes):
                raise _bad(f"instance {i} must be an object with the inputs {sorted(dtypes)}")
        return {n: _to_array([i[n] for i in instances], n, dtypes[n]) for n in dtypes}, "row"
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict) and not (len(dtypes) == 1 and set(inputs) == {"b64"}):
            return {n: _to_array(v, n, dtypes.get(n, "string")) for n, v in inputs.items()}, "columnar"
        if len(dtypes) != 1:
            raise _bad(f"'inputs' must be an object naming the inputs {sorted(dtypes)}")
        name = next(iter(dtypes))
        return {name: _to_array(inputs, name, dtypes[name])}, "columnar"
    raise _bad("Missing 'inputs' or 'instances' key")


def _json_value(array: np.ndarray, name: str):
    if array.dtype.kind in "SO":

        def one(x):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(x).decode()}
            try:
                return x.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(x).decode()}

        return np.vectorize(one, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def format_outputs(outputs: dict, fmt: str) -> dict:
    """``predictions`` (row format) or ``outputs`` (columnar), one output by itself or several by name."""
    values = {name: _json_value(array, name) for name, array in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    sizes = {len(v) if isinstance(v, list) else -1 for v in values.values()}
    if len(sizes) != 1 or -1 in sizes:
        raise _bad("output tensors of different batch sizes cannot be returned in row format: use 'inputs'")
    rows = sizes.pop()
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(rows)]}


# ---- the WSGI application -------------------------------------------------------------------------------


class RestApi:
    """The WSGI application: routes, JSON, status codes, metrics."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServingMetrics,
        limits: RequestLimits = RequestLimits(),
        max_body_bytes: int = MAX_MESSAGE_BYTES,
    ):
        self.manager, self.metrics, self.limits, self.max_body_bytes = manager, metrics, limits, max_body_bytes

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.path == METRICS_PATH and request.method == "GET":
            return Response(self.metrics.exposition(), mimetype="text/plain; version=0.0.4")
        match = _MODEL_PATH.fullmatch(request.path)
        route = None
        if match and request.method == "POST" and match["verb"] == "predict":
            route, api = self.predict, "predict"
        elif match and request.method == "GET" and not match["verb"]:
            route, api = (self.metadata, "metadata") if match["metadata"] else (self.status, "status")
        if route is None:  # as TF Serving: anything else is malformed
            return _error_response(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {request.method} {request.path}")
        spec = model_pb2.ModelSpec(name=match["name"])
        if match["label"]:
            spec.version_label = match["label"]
        with self.metrics.time(spec.name, api, "REST") as outcome:
            try:
                if match["version"]:
                    check_version(int(match["version"]))  # before the Int64Value, which would raise on it
                    spec.version.value = int(match["version"])
                return _json_response(route(spec, request))
            except RequestError as exc:
                outcome.status = exc.code.name
                return _error_response(exc.code, str(exc))
            except (TimeoutError, ConnectionError):  # the client stopped sending or left: Werkzeug drops the connection
                outcome.status = "CANCELLED"
                raise
            except Exception as exc:  # never take the server down with one request
                log.exception("REST request failed")
                outcome.status = "INTERNAL"
                return _error_response(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    def status(self, spec, request) -> dict:
        return _as_json(model_status(self.manager, spec))

    def metadata(self, spec, request) -> dict:
        response = model_metadata(self.manager, spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        # as the container prints it: the SignatureDefMap itself under metadata.signature_def, no "@type"
        return {"model_spec": _as_json(response.model_spec), "metadata": {"signature_def": _as_json(signature_map)}}

    def predict(self, spec, request) -> dict:
        # The version first: its signatures bound the body before it is parsed.
        loaded = self.manager.model(spec.name).resolve(*version_request(spec))
        body = self._json_body(request, self._max_json_values(loaded))
        signature = body.get("signature_name") or SERVING_SIGNATURE
        if not isinstance(signature, str):
            raise _bad("'signature_name' must be a string")
        inputs, fmt = parse_predict_body(body, _input_dtypes(loaded, signature))
        for name, array in inputs.items():
            self.limits.check_array(name, array, loaded.max_tokens)
        return format_outputs(loaded.predict(signature, inputs), fmt)

    def _max_json_values(self, loaded) -> int:
        """The most values a body for any of the version's signatures can need: per row, one per string input and
        ``max_tokens`` per numeric input of any rank but 1 (token ids), plus a comma between inputs; a few for the keys."""

        def per_row(specs) -> int:
            return sum(1 + (loaded.max_tokens if s.dtype.name != "string" and s.shape.rank != 1 else 1) for s in specs)

        signatures = loaded.model.signatures.values()
        widest = max((per_row(f.structured_input_signature[1].values()) for f in signatures), default=1)
        return self.limits.max_rows * widest + 64

    def _json_body(self, request: Request, max_values: int) -> dict:
        """The body as a JSON object, after its size, nesting and number of values are bounded on its bytes."""
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise _bad(
                f"the request body is over the {self.max_body_bytes // (1024 * 1024)} MiB limit: send fewer texts per request"
            ) from None
        depth, values = json_bounds.scan(raw, MAX_JSON_DEPTH, max_values)
        if depth > MAX_JSON_DEPTH:
            raise _bad(f"the request body nests JSON more than {MAX_JSON_DEPTH} deep: a predict request needs a few levels")
        if values > max_values:
            raise _bad(
                f"the request body holds over {max_values} JSON values, more than {self.limits.max_rows} rows "
                "(--max-request-rows) of this model's inputs can: send fewer rows per request"
            )
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _bad(f"the request body is not UTF-8 (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise _bad(f"JSON Parse error: {exc.msg} at offset {exc.pos}") from None
        except ValueError as exc:  # an integer of over 4,300 digits (Python's int_max_str_digits)
            raise _bad(f"JSON Parse error: {exc}") from None
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object")
        return body


class _TimedHandler(WSGIRequestHandler):
    """Werkzeug's request handler with a socket timeout (``--rest-api-timeout-in-ms``): a client that stops
    mid-request is disconnected instead of holding its thread."""

    timeout = DEFAULT_REST_TIMEOUT_S


class _CappedServer(ThreadedWSGIServer):
    """Werkzeug's threaded server with at most ``max_connections`` connections at once (one thread each); one past
    the cap is answered 503 with TF Serving's error JSON and closed."""

    max_connections = DEFAULT_MAX_CONNECTIONS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request) -> None:
        message = f"this server already holds {self.max_connections} connections (--rest-api-max-connections): retry later"
        body = json.dumps({"error": message}).encode()
        head = f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)


class RestServer:
    """``RestApi`` on Werkzeug's threaded WSGI server, on its own thread; ``port=0`` picks a free port.
    ``timeout_s`` disconnects a client that stops sending; ``max_connections`` caps connections held at once."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServingMetrics,
        limits: RequestLimits = RequestLimits(),
        host: str = "127.0.0.1",
        port: int = 8501,
        timeout_s: float = DEFAULT_REST_TIMEOUT_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ):
        handler = type("Handler", (_TimedHandler,), {"timeout": timeout_s})
        server_class = type("Server", (_CappedServer,), {"max_connections": max_connections})
        try:
            self._server = server_class(host, port, RestApi(manager, metrics, limits), handler=handler)
        except (OSError, SystemExit) as exc:
            raise BertClsError(
                f"cannot bind {host}:{port} for the REST API (in use?): pass another --rest-api-port ({exc})"
            ) from None
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest-api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
