"""What one request may carry, checked before any array is built: the same rules for gRPC and REST.

``tf.make_ndarray`` materialises the shape a ``TensorProto`` declares, whatever values it carries: a 20-byte
request declaring a billion strings would allocate gigabytes, and a proto declaring ``[5]`` with one value is
padded with copies of it. So a gRPC input is checked on the proto itself, from its header fields, and only then
decoded: its declared rows against ``max_rows``, a numeric input's values per row against the model's longest
sequence (``max_tokens``, which the export records), and its declared element count against the values present.
A REST body is bounded the same way before it is parsed (``json_bounds.py``), then its values are checked by
type. Every refusal is ``INVALID_ARGUMENT`` naming the input, as TF Serving names it.
"""

from __future__ import annotations

import dataclasses
import math

import grpc
import numpy as np
from tensorflow.core.framework import types_pb2

from bert_cls.serving.contract import DEFAULT_MAX_ROWS, DEFAULT_MAX_TEXT_BYTES, version_problem
from bert_cls.serving.models import RequestError

# The repeated field of a TensorProto that holds values of each dtype when ``tensor_content`` is empty.
_VALUE_FIELD = {
    types_pb2.DT_STRING: "string_val",
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val",
}
_ITEM_BYTES = {
    types_pb2.DT_FLOAT: 4,
    types_pb2.DT_DOUBLE: 8,
    types_pb2.DT_INT32: 4,
    types_pb2.DT_INT16: 2,
    types_pb2.DT_INT8: 1,
    types_pb2.DT_UINT8: 1,
    types_pb2.DT_UINT16: 2,
    types_pb2.DT_INT64: 8,
    types_pb2.DT_UINT32: 4,
    types_pb2.DT_UINT64: 8,
    types_pb2.DT_BOOL: 1,
    types_pb2.DT_HALF: 2,
    types_pb2.DT_BFLOAT16: 2,
}


def bad(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_version(version) -> None:
    """A version number TF Serving can hold (a non-negative int64), else ``INVALID_ARGUMENT``."""
    problem = version_problem(version)
    if problem:
        raise bad(problem)


def _values_present(name: str, proto) -> int:
    if proto.tensor_content:
        size = _ITEM_BYTES.get(proto.dtype)
        if size is None or len(proto.tensor_content) % size:
            raise bad(
                f"input {name}: tensor_content of {len(proto.tensor_content)} bytes does not hold whole values of its dtype"
            )
        return len(proto.tensor_content) // size
    field = _VALUE_FIELD.get(proto.dtype)
    if field is None:
        raise bad(f"input {name}: unsupported dtype {types_pb2.DataType.Name(proto.dtype)}")
    return len(getattr(proto, field))


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Per-request bounds (``bert-cls serve --max-request-rows/--max-text-bytes``)."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    def _check_rows(self, name: str, rows: int) -> None:
        if rows > self.max_rows:
            raise bad(
                f"input {name} has {rows} rows, over this server's limit of {self.max_rows} per request "
                "(--max-request-rows): send fewer rows per request"
            )

    def _check_texts(self, name: str, texts) -> None:
        for row, text in enumerate(texts):
            if len(text) > self.max_text_bytes:
                raise bad(
                    f"input {name}: text {row} is {len(text)} bytes, over this server's limit of "
                    f"{self.max_text_bytes} (--max-text-bytes)"
                )

    def check_row_width(self, name: str, dims, max_tokens: int) -> None:
        """A numeric input holds at most ``max_tokens`` values per row (token ids: the model's longest sequence)."""
        width = math.prod(dims[1:])
        if len(dims) > 1 and width > max_tokens:
            raise bad(
                f"input {name}: shape {list(dims)} holds {width} values per row, over this model's "
                f"{max_tokens} (its longest sequence)"
            )

    def check_proto(self, name: str, proto, max_tokens: int) -> None:
        """A gRPC input before decoding: a concrete shape, bounded rows and row width, exactly as many values as it
        declares.

        TensorFlow pads a short value list with its last value; the one short form accepted here (TF Serving
        accepts it) is a single number for a whole numeric tensor, what ``tf.make_tensor_proto(x, shape=...)``
        writes: bounded by rows and row width, it is at most ``max_rows * max_tokens`` values. Strings must be
        all present: one text repeated into many rows is a client's bug, not an encoding."""
        if proto.tensor_shape.unknown_rank:
            raise bad(f"input {name}: a tensor needs a known shape")
        dims = [d.size for d in proto.tensor_shape.dim]
        if any(d < 0 for d in dims):
            raise bad(f"input {name}: shape {dims} has a negative dimension")
        if dims:
            self._check_rows(name, dims[0])
        if proto.dtype != types_pb2.DT_STRING:
            self.check_row_width(name, dims, max_tokens)
        declared, present = math.prod(dims), _values_present(name, proto)
        if present != declared and not (present == 1 and proto.dtype != types_pb2.DT_STRING):
            raise bad(f"input {name}: shape {dims} declares {declared} values but the request holds {present}")
        if proto.dtype == types_pb2.DT_STRING:
            self._check_texts(name, proto.string_val)

    def check_array(self, name: str, array: np.ndarray, max_tokens: int) -> None:
        """A decoded input (REST): bounded rows, row width and text sizes."""
        if array.ndim:
            self._check_rows(name, array.shape[0])
        if array.dtype.kind in "SO":
            self._check_texts(name, (x for x in array.flat if isinstance(x, bytes)))
        else:
            self.check_row_width(name, array.shape, max_tokens)
