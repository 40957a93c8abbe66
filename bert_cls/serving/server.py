"""A TF-Serving-compatible gRPC server for development and tests (no Docker needed).

Implements ``PredictionService.Predict``, ``PredictionService.GetModelMetadata``
and ``ModelService.GetModelStatus`` from TF Serving's own protos, backed by the
exported SavedModels under a model base path. Like TF Serving it polls the base
path, so a newly exported version is served without a restart; requests get the
highest version unless they name one. Status codes follow TF Serving:
``NOT_FOUND`` for an unknown model, version or signature, ``INVALID_ARGUMENT``
for missing, extra or mistyped inputs. Production serving uses the
``tensorflow/serving`` container (see the README and ``export/``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops the exports use)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bert_cls.errors import BertClsError
from bert_cls.serving.config import ServeConfig
from bert_cls.serving.contract import MAX_MESSAGE_BYTES, SERVING_SIGNATURE

log = logging.getLogger("bert_cls.serving")


class _RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


class ModelRegistry:
    """Numbered SavedModel versions under a base path, loaded lazily and refreshed by polling."""

    def __init__(self, name: str, base_path, poll_seconds: float = 1.0):
        self.name = name
        self.base_path = Path(base_path)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._loaded = {}
        self._available = []
        self._stop = threading.Event()
        self.refresh()

    def refresh(self) -> None:
        versions = []
        if self.base_path.is_dir():
            versions = sorted(
                int(p.name) for p in self.base_path.iterdir()
                if p.name.isdigit() and (p / "saved_model.pb").is_file()
            )
        with self._lock:
            self._available = versions
            for gone in set(self._loaded) - set(versions):
                del self._loaded[gone]
        if versions:
            self.get(None)  # load the newest now, so it is warm before traffic

    def start_polling(self) -> None:
        def loop():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.refresh()
                except Exception:  # a bad version on disk must not stop the server
                    log.exception("refreshing %s failed", self.base_path)

        threading.Thread(target=loop, name="model-poller", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def versions(self) -> list:
        with self._lock:
            return list(self._available)

    def check_name(self, name: str) -> None:
        if name != self.name:
            raise _RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")

    def get(self, version):
        """(version, loaded SavedModel, MetaGraphDef) for a version number or the latest."""
        with self._lock:
            available = list(self._available)
        if not available:
            raise _RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({self.name})")
        if version is None:
            version = available[-1]
        elif version not in available:
            raise _RequestError(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({self.name}, {version})"
            )
        with self._lock:
            if version in self._loaded:
                return (version, *self._loaded[version])
        entry = self._load(self.base_path / str(version))
        with self._lock:
            self._loaded[version] = entry
        log.info("loaded %s version %d", self.name, version)
        return (version, *entry)

    @staticmethod
    def _load(path: Path):
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        return tf.saved_model.load(str(path)), proto.meta_graphs[0]


def _version_of(model_spec):
    if model_spec.HasField("version"):
        return int(model_spec.version.value)
    if model_spec.version_label:
        raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, "version labels are not configured on this server")
    return None


def _set_spec(out_spec, name, version, signature=None):
    out_spec.name = name
    out_spec.version.value = version
    if signature is not None:
        out_spec.signature_name = signature


def _run_predict(registry: ModelRegistry, request, response):
    registry.check_name(request.model_spec.name)
    version, model, meta_graph = registry.get(_version_of(request.model_spec))
    signature_name = request.model_spec.signature_name or SERVING_SIGNATURE
    if signature_name not in model.signatures:
        raise _RequestError(grpc.StatusCode.NOT_FOUND, f"Serving signature key \"{signature_name}\" not found.")
    function = model.signatures[signature_name]
    specs = function.structured_input_signature[1]
    sent, expected = set(request.inputs), set(specs)
    if sent != expected:
        missing, extra = sorted(expected - sent), sorted(sent - expected)
        raise _RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input tensors do not match signature {signature_name}: missing {missing}, unexpected {extra}",
        )
    inputs = {}
    for name, spec in specs.items():
        proto = request.inputs[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expects arg[{name}] to be {spec.dtype.name} but {tf.dtypes.as_dtype(proto.dtype).name} is provided",
            )
        try:
            array = tf.make_ndarray(proto)
        except Exception as exc:
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name} is malformed: {exc}") from None
        if array.ndim != spec.shape.rank:
            raise _RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {name} must have rank {spec.shape.rank} (shape {spec.shape}), got shape {list(array.shape)}",
            )
        inputs[name] = tf.constant(array, dtype=spec.dtype)
    try:
        outputs = function(**inputs)
    except tf.errors.InvalidArgumentError as exc:
        raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from None
    wanted = set(request.output_filter) or set(outputs)
    unknown = wanted - set(outputs)
    if unknown:
        raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output_filter names unknown outputs {sorted(unknown)}")
    for key in wanted:
        response.outputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(outputs[key].numpy())))
    _set_spec(response.model_spec, registry.name, version, signature_name)


def _guarded(handler):
    """A servicer method that turns errors into gRPC status codes and never takes the server down."""

    def wrapper(self, request, context):
        try:
            return handler(self, request)
        except _RequestError as exc:
            context.abort(exc.code, str(exc))
        except Exception as exc:  # never take the server down with one request
            log.exception("request failed")
            context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    return wrapper


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata`` over a ``ModelRegistry``."""

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    @_guarded
    def Predict(self, request):
        response = predict_pb2.PredictResponse()
        _run_predict(self.registry, request, response)
        return response

    @_guarded
    def GetModelMetadata(self, request):
        registry = self.registry
        registry.check_name(request.model_spec.name)
        if set(request.metadata_field) != {"signature_def"}:
            raise _RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one supported")
        version, _, meta_graph = registry.get(_version_of(request.model_spec))
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in meta_graph.signature_def.items():
            if not name.startswith("__"):
                signature_map.signature_def[name].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _set_spec(response.model_spec, registry.name, version)
        response.metadata["signature_def"].Pack(signature_map)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus`` over a ``ModelRegistry``."""

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    @_guarded
    def GetModelStatus(self, request):
        registry = self.registry
        registry.check_name(request.model_spec.name)
        wanted = _version_of(request.model_spec)
        versions = registry.versions
        if wanted is not None and wanted not in versions:
            raise _RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find version {wanted} of model {registry.name}")
        if not versions:
            raise _RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {registry.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions if wanted is None else [wanted]:
            status = response.model_version_status.add()
            status.version = version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


def make_server(model_base_path, model_name: str, host: str = "127.0.0.1", port: int = 8500,
                poll_seconds: float = 1.0, workers: int = 8):
    """A started ``grpc.Server`` and its ``ModelRegistry``; ``port=0`` picks a free port (see ``server.port``)."""
    registry = ModelRegistry(model_name, model_base_path, poll_seconds)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # gRPC's default SO_REUSEPORT would let a second server share a busy port and
            # split traffic with it silently; a taken port must be an error instead.
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(registry), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(registry), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio raises when the address is taken (older releases returned 0)
        bound = 0
    if bound == 0:
        raise BertClsError(f"cannot bind {host}:{port} (in use?): pass another --port")
    server.port = bound
    server.start()
    registry.start_polling()
    return server, registry


def serve_forever(config: ServeConfig) -> None:
    """``bert-cls serve``: serves until interrupted."""
    base = Path(config.model_base_path)
    if not base.is_dir():
        raise BertClsError(f"--model-base-path {base} is not a directory: export a model there first (bert-cls export)")
    started = time.perf_counter()
    server, registry = make_server(base, config.model_name, config.host, config.port, config.poll_seconds)
    print(
        f"serving model {config.model_name!r} versions {registry.versions or '(none yet)'} from {base} "
        f"on {config.host}:{server.port} (gRPC; loaded in {time.perf_counter() - started:.1f}s). "
        "This is the development server; production uses the tensorflow/serving container.",
        flush=True,
    )
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    finally:
        registry.stop()
        server.stop(grace=2)
