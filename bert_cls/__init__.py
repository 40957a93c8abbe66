"""bert-cls: fine-tune BERT for text classification with in-graph tokenization.

Importing the package is cheap: TensorFlow, tf_keras and transformers are loaded
by the submodules that need them (see ``bert_cls.keras_compat``), so the gRPC
client in ``bert_cls.serving`` stays usable without transformers installed.
"""

import os

# Set before TensorFlow or transformers is first imported, whichever module of
# ours comes first: transformers reads these when it is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# transformers would otherwise import PyTorch (pulled in by sentence-transformers
# for the MiniLM package) into the same process as TensorFlow, which crashes.
os.environ.setdefault("USE_TF", "1")
os.environ.setdefault("USE_TORCH", "0")
# Silences transformers' "TensorFlow classes are deprecated" banner on every run.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


__version__ = "0.1.0"
