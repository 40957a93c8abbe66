"""TF Serving side of bert-cls: a gRPC client helper and a TF-Serving-compatible local server.

Importable without transformers: ``from bert_cls.serving import ServingClient``.
Production serving uses the ``tensorflow/serving`` container; ``bert-cls serve``
is for development and tests where Docker is not available.
"""

from bert_cls.serving.client import Prediction, ServingClient, ServingError
from bert_cls.serving.constants import (
    DEFAULT_MODEL_NAME,
    ENCODED_SIGNATURE,
    SERVING_SIGNATURE,
    TEXT_INPUT,
)

__all__ = [
    "Prediction",
    "ServingClient",
    "ServingError",
    "DEFAULT_MODEL_NAME",
    "ENCODED_SIGNATURE",
    "SERVING_SIGNATURE",
    "TEXT_INPUT",
]
