"""bert-cls: fine-tune BERT for text classification with in-graph tokenization.

Importing the package is cheap: TensorFlow, tf_keras and transformers are loaded
by the submodules that need them (see ``bert_cls.keras_compat``), so the gRPC
client in ``bert_cls.serving`` stays usable without transformers installed.
"""

__version__ = "0.1.0"
