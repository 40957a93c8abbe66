"""A TF-Serving-compatible model server for development and tests (no Docker needed).

gRPC: ``PredictionService.Predict``, ``PredictionService.GetModelMetadata`` and
``ModelService.GetModelStatus`` from TF Serving's own protos (``grpcio``); REST on
``--rest-api-port`` (``rest_api.py``); Prometheus metrics (``monitoring.py``). The models,
their version policy, background loading and warm-up are ``models.py``'s; the model config
file is ``model_config.py``'s. Requests get the newest available version unless they name a
version or a label. Status codes follow TF Serving: ``NOT_FOUND`` for an unknown model,
version or signature, ``INVALID_ARGUMENT`` for missing, extra or mistyped inputs and unknown
labels. Production serving uses the ``tensorflow/serving`` container (see the README and ``export/``).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bert_cls.errors import BertClsError
from bert_cls.serving import model_config
from bert_cls.serving.api import model_metadata, model_status, run_predict
from bert_cls.serving.config import ServeConfig
from bert_cls.serving.contract import DEFAULT_MAX_CONNECTIONS, DEFAULT_REST_TIMEOUT_S, MAX_MESSAGE_BYTES
from bert_cls.serving.limits import RequestLimits
from bert_cls.serving.models import ModelManager, RequestError
from bert_cls.serving.monitoring import ServingMetrics
from bert_cls.serving.rest_api import RestServer

log = logging.getLogger("bert_cls.serving")


def _guarded(api: str):
    """A servicer method that turns errors into gRPC status codes, counts it in the metrics and never takes the
    server down."""

    def decorate(handler):
        def wrapper(self, request, context):
            code = grpc.StatusCode.OK
            with self.metrics.time(request.model_spec.name, api, "GRPC") as outcome:
                try:
                    return handler(self, request)
                except RequestError as exc:
                    code, message = exc.code, str(exc)
                except Exception as exc:  # never take the server down with one request
                    log.exception("request failed")
                    code, message = grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
                finally:
                    outcome.status = code.name
            context.abort(code, message)

        return wrapper

    return decorate


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata`` over a ``ModelManager``."""

    def __init__(self, manager: ModelManager, metrics: ServingMetrics, limits: RequestLimits):
        self.manager, self.metrics, self.limits = manager, metrics, limits

    @_guarded("predict")
    def Predict(self, request):
        response = predict_pb2.PredictResponse()
        run_predict(self.manager, request, response, self.limits)
        return response

    @_guarded("metadata")
    def GetModelMetadata(self, request):
        if set(request.metadata_field) != {"signature_def"}:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one supported")
        return model_metadata(self.manager, request.model_spec)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus`` over a ``ModelManager``."""

    def __init__(self, manager: ModelManager, metrics: ServingMetrics):
        self.manager, self.metrics = manager, metrics

    @_guarded("status")
    def GetModelStatus(self, request):
        return model_status(self.manager, request.model_spec)


@dataclasses.dataclass
class RunningServer:
    """A started server: gRPC (``port``), optionally REST (``rest_port``), the models and the metrics."""

    grpc_server: object
    manager: ModelManager
    metrics: ServingMetrics
    port: int
    rest: object = None

    @property
    def rest_port(self):
        return self.rest.port if self.rest is not None else None

    def stop(self) -> None:
        self.manager.stop()
        if self.rest is not None:
            self.rest.stop()
        self.grpc_server.stop(grace=2)


def _bind_grpc(server, host: str, port: int) -> int:
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio raises when the address is taken (older releases returned 0)
        bound = 0
    if bound == 0:
        raise BertClsError(f"cannot bind {host}:{port} (in use?): pass another --port")
    return bound


def make_server(
    specs,
    host: str = "127.0.0.1",
    port: int = 8500,
    rest_port=None,
    poll_seconds: float = 1.0,
    workers: int = 8,
    limits: RequestLimits = RequestLimits(),
    rest_timeout_s: float = DEFAULT_REST_TIMEOUT_S,
    rest_max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> RunningServer:
    """Loads the models in ``specs`` (``ModelSpec``), then starts gRPC and, with ``rest_port``, REST; ``0`` picks a
    free port (``RunningServer.port``/``rest_port``). ``limits`` bounds what one request may carry; REST closes a
    connection idle for ``rest_timeout_s`` and holds at most ``rest_max_connections``."""
    manager = ModelManager(specs, poll_seconds)
    metrics = ServingMetrics(manager.serves)
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
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(manager, metrics, limits), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager, metrics), server)
    bound = _bind_grpc(server, host, port)
    rest = None
    if rest_port is not None:
        rest = RestServer(manager, metrics, limits, host, rest_port, rest_timeout_s, rest_max_connections)
    manager.start()  # loads and warms up what is on disk before the first request is accepted
    server.start()
    if rest is not None:
        rest.start()
    return RunningServer(server, manager, metrics, bound, rest)


def serve_forever(config: ServeConfig) -> None:
    """``bert-cls serve``: serves until interrupted, re-reading ``--model-config-file`` every poll period."""
    specs = model_config.specs_from_flags(config)
    from bert_cls.modeling.keras_compat import tf

    # Before any model loads: TensorFlow fixes its thread pools when it first runs an op.
    tf.config.threading.set_intra_op_parallelism_threads(config.tensorflow_intra_op_parallelism)
    tf.config.threading.set_inter_op_parallelism_threads(config.tensorflow_inter_op_parallelism)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request (TF Serving has none)
    started = time.perf_counter()
    limits = RequestLimits(config.max_request_rows, config.max_text_bytes)
    running = make_server(
        specs,
        config.host,
        config.port,
        config.rest_api_port,
        config.poll_seconds,
        limits=limits,
        rest_timeout_s=config.rest_api_timeout_in_ms / 1000,
        rest_max_connections=config.rest_api_max_connections,
    )
    described = "; ".join(
        f"{m.spec.name!r} versions {m.available_versions or '(none yet)'} from {m.spec.base_path}" for m in running.manager.models
    )
    rest = f", REST on {config.host}:{running.rest_port}" if running.rest is not None else ""
    print(
        f"serving {described} on {config.host}:{running.port} (gRPC{rest}; loaded in "
        f"{time.perf_counter() - started:.1f}s). This is the development server; production uses the "
        "tensorflow/serving container.",
        flush=True,
    )
    watcher = model_config.ConfigWatcher(config.model_config_file, running.manager, config.model_config_file_poll_wait_seconds)
    stop = threading.Event()
    # SIGTERM (docker stop, kill, systemd) ends the server as Ctrl-C does, with the same closing line.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if config.model_config_file:
        threading.Thread(target=watcher.run_until, args=(stop,), name="config-watcher", daemon=True).start()
    stop.wait()
    requests, failed = running.metrics.totals()
    running.stop()
    print(f"stopped after answering {requests} requests ({failed} not OK)", flush=True)
