"""TF Serving side of bert-cls: export, a TF-Serving-compatible local server and a gRPC client helper.

``from bert_cls.serving import ServingClient`` does not import transformers; ``RestClient`` (TF Serving's
REST API) does not even import TensorFlow. The names below
are loaded on first use, so the light modules here (``contract``, ``config``) can be imported
by the command line without loading gRPC or TensorFlow. Production serving uses the
``tensorflow/serving`` container; ``bert-cls serve`` is for development and tests.
"""

import importlib

from bert_cls.serving.contract import (
    DEFAULT_MODEL_NAME,
    ENCODED_SIGNATURE,
    SERVING_SIGNATURE,
    TEXT_INPUT,
)

_LAZY = {
    "Prediction": "bert_cls.serving.prediction",
    "ServingClient": "bert_cls.serving.client",
    "ServingError": "bert_cls.serving.prediction",
    "RestClient": "bert_cls.serving.rest_client",
}

__all__ = [
    "Prediction",
    "RestClient",
    "ServingClient",
    "ServingError",
    "DEFAULT_MODEL_NAME",
    "ENCODED_SIGNATURE",
    "SERVING_SIGNATURE",
    "TEXT_INPUT",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bert_cls.serving' has no attribute {name!r}")
