"""What the serving APIs compute, shared by the gRPC (``server.py``) and REST (``rest_api.py``) front ends:
``Predict``, ``GetModelMetadata`` and ``GetModelStatus`` as TF Serving's response protos."""

from __future__ import annotations

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from bert_cls.serving.contract import SERVING_SIGNATURE
from bert_cls.serving.limits import RequestLimits, check_version
from bert_cls.serving.models import LoadedVersion, ModelManager, RequestError


def version_request(model_spec):
    """(version or None, label or None) of a request's ``ModelSpec``."""
    version = int(model_spec.version.value) if model_spec.HasField("version") else None
    check_version(version)
    return version, (model_spec.version_label or None)


def _set_spec(out_spec, name, version, signature=None):
    out_spec.name = name
    out_spec.version.value = version
    if signature is not None:
        out_spec.signature_name = signature


def _inputs_from_protos(loaded: LoadedVersion, signature_name: str, protos, limits: RequestLimits) -> dict:
    """NumPy arrays of a gRPC request's inputs, after TF Serving's dtype check (it compares dtypes exactly) and the
    request limits (before decoding: ``make_ndarray`` allocates whatever shape a proto declares)."""
    function = loaded.model.signatures.get(signature_name or SERVING_SIGNATURE)
    specs = function.structured_input_signature[1] if function is not None else {}
    arrays = {}
    for name, proto in protos.items():
        spec = specs.get(name)
        if spec is not None and proto.dtype != spec.dtype.as_datatype_enum:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expects arg[{name}] to be {spec.dtype.name} but {tf.dtypes.as_dtype(proto.dtype).name} is provided",
            )
        limits.check_proto(name, proto, loaded.max_tokens)
        try:
            arrays[name] = tf.make_ndarray(proto)
        except Exception as exc:  # a malformed TensorProto: its bytes do not match its shape
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name} is malformed: {exc}") from None
    return arrays


def run_predict(manager: ModelManager, request, response, limits: RequestLimits) -> None:
    """``Predict`` for a ``PredictRequest``: resolve the version, check and run the signature, fill the response."""
    model = manager.model(request.model_spec.name)
    loaded = model.resolve(*version_request(request.model_spec))
    signature = request.model_spec.signature_name or SERVING_SIGNATURE
    outputs = loaded.predict(signature, _inputs_from_protos(loaded, signature, request.inputs, limits), request.output_filter)
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    _set_spec(response.model_spec, model.spec.name, loaded.version, signature)


def model_metadata(manager: ModelManager, model_spec):
    """``GetModelMetadataResponse`` (signature defs, as TF Serving returns them) for a model spec."""
    model = manager.model(model_spec.name)
    loaded = model.resolve(*version_request(model_spec))
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in loaded.meta_graph.signature_def.items():
        if not name.startswith("__"):
            signature_map.signature_def[name].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    _set_spec(response.model_spec, model.spec.name, loaded.version)
    response.metadata["signature_def"].Pack(signature_map)
    return response


def model_status(manager: ModelManager, model_spec):
    """``GetModelStatusResponse``: each known version's state (``LOADING``, ``AVAILABLE``, ``END`` with an error)."""
    model = manager.model(model_spec.name)
    version, label = version_request(model_spec)
    if label:
        version = model.resolve(label=label).version
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, state, error in model.status(version):
        status = response.model_version_status.add()
        status.version, status.state = number, state
        status.status.SetInParent()  # error_code OK and an empty message are printed, as TF Serving prints them
        if error:
            status.status.error_code = error_codes_pb2.UNKNOWN
            status.status.error_message = error
    return response
