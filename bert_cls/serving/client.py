"""``ServingClient``: a small helper around TF Serving's gRPC ``PredictionService`` and ``ModelService``.

Every call has an explicit deadline; ``UNAVAILABLE`` is retried with exponential
backoff a bounded number of times; large inputs are sent in batches and the
results reassembled in order; errors become ``ServingError`` naming the server,
model and signature. Works against the ``tensorflow/serving`` container and
``bert-cls serve`` alike.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

import grpc
import tensorflow as tf  # tensorflow_serving's protos import it anyway
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bert_cls.data import ordering
from bert_cls.errors import BertClsError
from bert_cls.serving.prediction import (  # noqa: F401  (public here too)
    ClosingClient,
    Prediction,
    ServingError,
    check_client_arguments,
    not_found_hint,
    prediction_at,
)
from bert_cls.serving.contract import (
    DEFAULT_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    SERVING_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
)


def _string_tensor(texts):
    payload = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts]
    return tf.make_tensor_proto(payload, dtype=tf.string, shape=[len(payload)])


def _read_certificates(path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BertClsError(f"--root-cert {path}: cannot read it ({exc.strerror}): pass a readable PEM file") from None


class ServingClient(ClosingClient):
    """Client for one model on one server.

    Args:
        server: ``host:port`` of the gRPC endpoint (TF Serving's default port is 8500).
        model_name: the name the server serves the model under.
        signature: signature to call (``serving_default`` takes raw texts).
        version: pin a model version; ``None`` asks for the latest.
        timeout: deadline in seconds for each gRPC call.
        batch_size: texts per ``Predict`` call; larger inputs are split.
        max_retries: retries of a call that failed with ``UNAVAILABLE``.
        backoff: first retry delay in seconds, doubled on each retry.
        root_certificates: PEM bytes or a path; enables TLS (TF Serving's ``--ssl_config_file``).
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
        root_certificates=None,
    ):
        check_client_arguments(batch_size, version)
        self.server, self.model_name, self.signature = server, model_name, signature
        self.version, self.timeout, self.batch_size = version, timeout, batch_size
        self.max_retries, self.backoff = max_retries, backoff
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
        if root_certificates is not None:
            if not isinstance(root_certificates, bytes):
                root_certificates = _read_certificates(root_certificates)
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(server, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(server, options=options)
        self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _model_spec(self, spec, signature: Optional[str] = None):
        spec.name = self.model_name
        if signature is not None:
            spec.signature_name = signature
        if self.version is not None:
            spec.version.value = int(self.version)

    def _call(self, method, request, what: str):
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self.max_retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                detail = exc.details() or ""
                hint = {
                    grpc.StatusCode.UNAVAILABLE: f" (after {attempt + 1} attempts: is the server running on {self.server}?)",
                    grpc.StatusCode.DEADLINE_EXCEEDED: f" (deadline {self.timeout}s: raise timeout or lower batch_size)",
                    grpc.StatusCode.NOT_FOUND: not_found_hint(self.model_name),
                }.get(code, "")
                raise ServingError(
                    f"{what} on {self.server} for model {self.model_name!r} signature {self.signature!r} "
                    f"failed: {code.name}: {detail}{hint}",
                    code,
                ) from None

    def predict(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None) -> list:
        """One ``Prediction`` per text (with its second text from ``pairs``, for a pair model), in order.

        Texts beyond ``batch_size`` go in requests of similar length (``data.ordering``: the server pads a
        request to its longest text), and each result returns to its text's position.
        """
        texts, pairs = ordering.text_lists(texts, pairs)
        results = [None] * len(texts)
        for indices in ordering.sorted_batches(ordering.lengths(texts, pairs), self.batch_size):
            request = predict_pb2.PredictRequest()
            self._model_spec(request.model_spec, self.signature)
            request.inputs[TEXT_INPUT].CopyFrom(_string_tensor([texts[i] for i in indices]))
            if pairs is not None:
                request.inputs[TEXT_PAIR_INPUT].CopyFrom(_string_tensor([pairs[i] for i in indices]))
            response = self._call(self._predict_stub.Predict, request, "Predict")
            outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
            for i, position in enumerate(indices):
                results[position] = prediction_at(outputs, i, texts[position], None if pairs is None else pairs[position])
        return results

    def metadata(self) -> dict:
        """``{"model_spec": {...}, "signatures": {name: {"inputs": {...}, "outputs": {...}}}}``."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec)
        response = self._call(self._predict_stub.GetModelMetadata, request, "GetModelMetadata")
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)

        def describe(tensors):
            return {
                name: {"dtype": types_pb2.DataType.Name(info.dtype), "shape": [d.size for d in info.tensor_shape.dim]}
                for name, info in tensors.items()
            }

        return {
            "model_spec": {"name": response.model_spec.name, "version": response.model_spec.version.value},
            "signatures": {
                name: {"inputs": describe(sig.inputs), "outputs": describe(sig.outputs)}
                for name, sig in signature_map.signature_def.items()
            },
        }

    def status(self) -> list:
        """``[{"version", "state", "error_code", "error_message"}]`` for each version the server knows."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._call(self._model_stub.GetModelStatus, request, "GetModelStatus")
        states = get_model_status_pb2.ModelVersionStatus.State
        return [
            {
                "version": s.version,
                "state": states.Name(s.state),
                "error_code": s.status.error_code,
                "error_message": s.status.error_message,
            }
            for s in response.model_version_status
        ]
