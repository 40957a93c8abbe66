"""bert-cls: fine-tune BERT for text classification with in-graph tokenization.

Importing the package is cheap: the public names below are loaded on first use
(``from bert_cls import train`` imports TensorFlow then, ``import bert_cls`` does not), so
the command line's ``--help`` is fast and the gRPC client works without transformers.

Layout, by stage: ``data/`` (files, splits, tf.data pipelines), ``modeling/`` (tokenizer,
checkpoints, classifier), ``training/`` (configs, the three-step run, evaluation), ``pretraining/``
(vocabulary and masked-LM pretraining),
``tuning/`` (Keras Tuner), ``serving/`` (contract, export, server, client), ``apps/``
(quickstart, bench) and ``cli/`` (the ``bert-cls`` command).
"""

import importlib
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
# TensorFlow's C++ log lines (CUDA probing on CPU machines) are noise to a user; the CLI's -v shows them.
# A value we set is marked, so child processes (the local server, the export check) still know it
# was not the user's choice.
USER_SET_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ and "BERT_CLS_DEFAULT_TF_LOG_LEVEL" not in os.environ
if not USER_SET_TF_LOG_LEVEL:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["BERT_CLS_DEFAULT_TF_LOG_LEVEL"] = "1"

from bert_cls.version import __version__  # noqa: E402

_PUBLIC = {
    "BertClsError": "bert_cls.errors",
    "TextDataset": "bert_cls.data.files",
    "read_dataset": "bert_cls.data.files",
    "BertTokenizerLayer": "bert_cls.modeling.tokenizer",
    "SentencePieceTokenizerLayer": "bert_cls.modeling.sentencepiece_tokenizer",
    "load_tokenizer": "bert_cls.modeling.pretrained",
    "import_classifier": "bert_cls.modeling.importer",
    "ImportConfig": "bert_cls.training.config",
    "BertClassifier": "bert_cls.modeling.classifier",
    "ClassifierConfig": "bert_cls.modeling.classifier",
    "TrainConfig": "bert_cls.training.config",
    "EvaluateConfig": "bert_cls.training.config",
    "PredictConfig": "bert_cls.training.config",
    "train": "bert_cls.training.run",
    "TrainResult": "bert_cls.training.run",
    "evaluate_file": "bert_cls.training.evaluate",
    "predict_texts": "bert_cls.training.evaluate",
    "PretrainConfig": "bert_cls.pretraining.config",
    "pretrain": "bert_cls.pretraining.run",
    "train_wordpiece": "bert_cls.pretraining.vocabulary",
    "TuneConfig": "bert_cls.tuning.config",
    "tune": "bert_cls.tuning.tuner",
    "ExportConfig": "bert_cls.serving.config",
    "export_classifier": "bert_cls.serving.export",
    "ServingClient": "bert_cls.serving.client",
    "ServingError": "bert_cls.serving.client",
    "Prediction": "bert_cls.serving.client",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'bert_cls' has no attribute {name!r}")
