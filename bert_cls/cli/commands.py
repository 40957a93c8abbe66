"""What each ``bert-cls`` subcommand does with its config(s): call the library, print the result.

This is the one layer that loads the heavy modules (TensorFlow, transformers, Keras Tuner, gRPC)
on demand, through ``_load``: only the chosen command pays for them, so ``bert-cls --help`` and
``bert-cls COMMAND --help`` stay fast. Everything below the command line imports at the top.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import sys
from pathlib import Path

import bert_cls
from bert_cls.data import readers  # light: the standard library (pyarrow only when a Parquet file is read)
from bert_cls.errors import BertClsError

QUIET = True  # set by main(): `bert-cls -v` shows TensorFlow's start-up lines


@contextlib.contextmanager
def _stderr_to_devnull():
    """File descriptor 2 to /dev/null: C++ code writes there directly, beyond Python's sys.stderr."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _load(module: str):
    """Imports a heavy module, hiding TensorFlow's C++ start-up lines unless ``-v``.

    TF_CPP_MIN_LOG_LEVEL=3 (set by ``bert_cls/__init__``) hides what TensorFlow logs once running,
    such as ``failed call to cuInit`` on a machine without a GPU. The lines its shared libraries
    print while loading (``cudart_stub.cc ... Could not find cuda drivers``, oneDNN notes) come
    before absl's logging is set up and ignore that variable, so the import runs with stderr
    silenced; an import error still surfaces as a Python exception once stderr is back.
    """
    if not QUIET or bert_cls.USER_SET_TF_LOG_LEVEL or module in sys.modules:
        return importlib.import_module(module)
    with _stderr_to_devnull():
        return importlib.import_module(module)


# Extensions read as data files by `predict --file` (.txt stays one text per line).
DATA_SUFFIXES = (".tsv", ".csv", ".jsonl", ".ndjson", ".parquet")


def read_texts(texts, file, format=None, text_column="document") -> list:
    """Texts from positional arguments plus ``--file``: a data file's text column, else one per line (``-``: stdin)."""
    texts = list(texts)
    if file == "-":
        texts += [line.rstrip("\n") for line in sys.stdin]
    elif file and (format or Path(file.removesuffix(".gz")).suffix.lower() in DATA_SUFFIXES):
        rows = readers.read_rows(readers.expand_paths(file), format, text_column, None)
        texts += ["" if text is None else str(text) for _, _, text, _ in rows]
    elif file:
        path = Path(file)
        if not path.is_file():
            raise BertClsError(f"--file {path} not found")
        texts += path.read_text(encoding="utf-8").splitlines()
    if not texts:
        raise BertClsError("no texts: pass them as arguments, with --file PATH, or --file - for stdin")
    return texts


def train(config) -> int:
    result = _load("bert_cls.training.run").train(config)
    summary = {"validation_accuracy": result.metrics["validation"]["accuracy"]}
    if "test" in result.metrics:
        summary["test_accuracy"] = result.metrics["test"]["accuracy"]
    summary["examples_per_second"] = result.metrics["examples_per_second"]
    print(json.dumps(summary))
    print(f"model, history.csv, training_curves.png and metrics.json are in {result.output_dir}")
    return 0


def evaluate(config) -> int:
    metrics = _load("bert_cls.training.evaluate").evaluate_file(config)
    print(f"accuracy {metrics['accuracy']:.4f}  macro_f1 {metrics['macro_f1']:.4f}  examples {metrics['num_examples']}")
    for name, m in metrics["per_class"].items():
        print(f"  {name:>12}: precision {m['precision']:.4f} recall {m['recall']:.4f} f1 {m['f1']:.4f} support {m['support']}")
    print(f"wrote {metrics['json']} and {metrics['confusion_png']}")
    return 0


def predict(config) -> int:
    texts = read_texts(config.texts, config.file, config.format, config.text_column)
    for row in _load("bert_cls.training.evaluate").predict_texts(config, texts):
        if config.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['label']}\t{max(row['probabilities']):.4f}\t{row['text']}")
    return 0


def export(config) -> int:
    report = _load("bert_cls.serving.export").export_model(config)
    print(f"exported version {report['version']} to {report['path']}")
    if "max_abs_diff" in report:
        print(f"verified in plain TensorFlow + TF Text: signatures {report['signatures']}, {report['ops']} op types "
              f"(TF Text: {', '.join(report['text_ops'])}), max |diff| {max(report['max_abs_diff'].values()):.2e}")
    return 0


def serve(config) -> int:
    _load("bert_cls.serving.server").serve_forever(config)
    return 0


def query(config) -> int:
    texts = None if config.metadata else read_texts(config.texts, config.file, config.format, config.text_column)
    with _load("bert_cls.serving.client").ServingClient(
        config.server, config.model_name, signature=config.signature, version=config.version, timeout=config.timeout,
        batch_size=config.batch_size, max_retries=config.retries, root_certificates=config.root_cert,
    ) as client:
        if config.metadata:
            print(json.dumps({"status": client.status(), **client.metadata()}, indent=2))
            return 0
        for p in client.predict(texts):
            if config.json:
                print(json.dumps(dataclasses.asdict(p), ensure_ascii=False))
            else:
                print(f"{p.label}\t{max(p.probabilities):.4f}\t{p.text}")
    return 0


def tune(train_config, tune_config) -> int:
    _load("bert_cls.tuning.tuner").tune(train_config, tune_config)
    return 0


def quickstart(config) -> int:
    _load("bert_cls.apps.quickstart").run_quickstart(config)
    return 0


def bench(config) -> int:
    _load("bert_cls.apps.bench").run_and_report(config)
    return 0
