"""Make TensorFlow, transformers and this package agree on Keras 2 (``tf_keras``).

``TFBertModel`` is a Keras 2 model, while TensorFlow 2.21 ships Keras 3 as
``tf.keras``. transformers picks ``tf_keras`` when ``TF_USE_LEGACY_KERAS=1`` is
set before TensorFlow is first imported, so every module of this package that
builds or loads models imports ``keras`` from here instead of from TensorFlow.
"""

from bert_cls.errors import BertClsError

# The environment (TF_USE_LEGACY_KERAS=1 and friends) is set by bert_cls/__init__.py.

try:
    import tf_keras as keras  # noqa: E402
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise BertClsError(
        "tf_keras is not installed, and TFBertModel needs Keras 2: run `pip install tf-keras==2.21.*` (or reinstall bert-cls)"
    ) from exc

import tensorflow as tf  # noqa: E402

if not keras.__version__.startswith("2."):  # pragma: no cover
    raise BertClsError(f"tf_keras {keras.__version__} is not Keras 2; install tf-keras==2.21.*")

__all__ = ["keras", "tf"]
