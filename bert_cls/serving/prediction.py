"""What a served prediction looks like to a client, and the error a failed call raises: shared by the gRPC
``ServingClient`` and the REST ``RestClient``. Light: NumPy and grpc's status codes, no TensorFlow."""

from __future__ import annotations

import dataclasses
from typing import Optional

import grpc
import numpy as np

from bert_cls.errors import BertClsError
from bert_cls.serving.contract import LABEL, LABEL_ID, LABELS, PROBABILITIES, version_problem


class ServingError(BertClsError):
    """A failed call to a model server; ``code`` is the ``grpc.StatusCode``."""

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class Prediction:
    """One text's result. Multi-label models: ``labels`` holds the predicted class names, ``label`` them
    comma-joined, ``label_id`` is ``None``."""

    text: str
    label: str
    label_id: Optional[int]
    probabilities: list
    text_pair: Optional[str] = None
    labels: Optional[list] = None


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def prediction_at(outputs: dict, i: int, text, pair) -> Prediction:
    """Row ``i`` of a ``serving_default`` response (``{output: array or list}``, gRPC or REST) as a ``Prediction``."""
    probabilities = np.asarray(outputs[PROBABILITIES], dtype=np.float32)[i].tolist()
    if LABELS in outputs:  # multi-label
        labels = [_text(name) for name in outputs[LABELS][i] if _text(name)]
        return Prediction(text, ",".join(labels), None, probabilities, pair, labels)
    return Prediction(text, _text(outputs[LABEL][i]), int(outputs[LABEL_ID][i]), probabilities, pair)


def check_client_arguments(batch_size: int, version) -> None:
    """What both clients refuse before sending anything."""
    if batch_size < 1:
        raise BertClsError(f"--batch-size must be at least 1, got {batch_size}")
    problem = version_problem(version)
    if problem:
        raise BertClsError(f"--version: {problem}")


class ClosingClient:
    """``with Client(...) as client:`` closes the client's connection at the end (both clients' base)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def not_found_hint(model_name: str) -> str:
    """Said with NOT_FOUND: the usual cause is a model served under another name than the client asked for."""
    return (
        f" (is the model served under another name than {model_name!r}? pass it with --model-name, or "
        "model_name= in Python; `bert-cls query --metadata --model-name NAME` checks a name)"
    )
