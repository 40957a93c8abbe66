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
from bert_cls import config as cfg
from bert_cls.data import readers  # light: the standard library (pyarrow only when a Parquet file is read)
from bert_cls.data.preflight import check_data_files
from bert_cls.errors import BertClsError
from bert_cls.training.config import with_model_columns

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
        rows = readers.read_rows(readers.expand_paths(file), format, [text_column])
        texts += ["" if values[0] is None else str(values[0]) for _, _, values in rows]
    elif file:
        path = Path(file)
        if not path.is_file():
            raise BertClsError(f"--file {path} not found")
        texts += path.read_text(encoding="utf-8-sig").splitlines()
    if not texts:
        raise BertClsError("no texts: pass them as arguments, with --file PATH, or --file - for stdin")
    return texts


def read_inputs(config):
    """(texts, second texts or None) of ``predict``/``query``: positional texts, ``--pair A B`` and ``--file``
    (its ``--text-column`` and, for pairs, ``--text-pair-column``)."""
    pair_column = config.text_pair_column
    if not (config.pair or pair_column):
        return read_texts(config.texts, config.file, config.format, config.text_column), None
    if config.texts:
        raise BertClsError("give pairs as --pair TEXT TEXT_PAIR (or --file with --text-pair-column), not single texts too")
    pairs = [tuple(p) for p in config.pair or []]
    if pair_column:
        if not config.file or config.file == "-":
            raise BertClsError("--text-pair-column reads a data file: pass --file PATH (.tsv/.csv/.jsonl/.parquet)")
        rows = readers.read_rows(readers.expand_paths(config.file), config.format, [config.text_column, pair_column])
        pairs += [tuple("" if v is None else str(v) for v in values) for _, _, values in rows]
    elif config.file:
        raise BertClsError("--file with --pair: name the file's second-text column with --text-pair-column")
    if not pairs:
        raise BertClsError(f"{config.file} holds no rows")
    return [a for a, _ in pairs], [b for _, b in pairs]


def _show(row: dict) -> str:
    """One line of predict/query output: label(s) ("-" for a multi-label text with none), top probability, text[, second text]."""
    parts = [row["label"] or "-", f"{max(row['probabilities']):.4f}", row["text"]]
    return "\t".join(parts + ([row["text_pair"]] if row.get("text_pair") is not None else []))


def train(config) -> int:
    check_data_files(config)  # seconds before TensorFlow's import would let a bad file fail
    result = _load("bert_cls.training.run").train(config)
    validation = result.metrics["validation"]
    summary = {"validation_accuracy": validation["accuracy"]}
    if "micro_f1" in validation:
        summary["validation_micro_f1"] = validation["micro_f1"]
    if "test" in result.metrics:
        summary["test_accuracy"] = result.metrics["test"]["accuracy"]
    summary["examples_per_second"] = result.metrics["examples_per_second"]
    print(json.dumps(summary))
    print(f"model, history.csv, training_curves.png and metrics.json are in {result.output_dir}")
    return 0


def pretrain(config) -> int:
    metrics = _load("bert_cls.pretraining.run").pretrain(config)
    if not metrics.get("finished", True):
        print(f"stopped after step {metrics['steps']} of {metrics['total_steps']}; rerun the same command to continue")
        return 0
    keys = ("steps", "val_loss", "val_masked_accuracy", "val_replaced_accuracy", "val_original_share", "pretraining_seconds")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}))
    print(
        f"checkpoint (config.json, vocab.txt, tf_model.h5, README.md), history.csv and pretraining_curves.png are in "
        f"{config.output_dir}; fine-tune it with bert-cls train --pretrained {config.output_dir}"
    )
    return 0


def evaluate(config) -> int:
    cfg.require("--model", config.model, cfg.trained_model)  # these answer before TensorFlow loads
    readers.expand_paths(config.test_file)
    metrics = _load("bert_cls.training.evaluate").evaluate_file(config)
    micro = f"  micro_f1 {metrics['micro_f1']:.4f}" if "micro_f1" in metrics else ""
    accuracy = "subset_accuracy" if micro else "accuracy"
    print(f"{accuracy} {metrics['accuracy']:.4f}{micro}  macro_f1 {metrics['macro_f1']:.4f}  examples {metrics['num_examples']}")
    for name, m in metrics["per_class"].items():
        print(f"  {name:>12}: precision {m['precision']:.4f} recall {m['recall']:.4f} f1 {m['f1']:.4f} support {m['support']}")
    print(f"wrote {metrics['json']}" + (f" and {metrics['confusion_png']}" if "confusion_png" in metrics else ""))
    return 0


def predict(config) -> int:
    config = with_model_columns(config)
    texts, pairs = read_inputs(config)
    cfg.require("--model", config.model, cfg.trained_model)
    for row in _load("bert_cls.training.evaluate").predict_texts(config, texts, pairs):
        print(json.dumps(row, ensure_ascii=False) if config.json else _show(row))
    return 0


def import_model(config) -> int:
    report = _load("bert_cls.modeling.importer").import_classifier(config)
    print(
        f"imported {report['model_type']} classifier {report['checkpoint']} ({len(report['labels'])} labels: "
        f"{', '.join(report['labels'])}; {'multi-label' if report['multi_label'] else 'single-label'}; "
        f"{report['tokenizer']} tokenizer) to {config.output_dir}; logits match transformers' within "
        f"{report['max_abs_logit_diff']:.1e}"
    )
    return 0


def export(config) -> int:
    cfg.require("--model", config.model, cfg.trained_model)
    cfg.require("--export-dir", config.export_dir, cfg.not_a_file)
    report = _load("bert_cls.serving.export").export_model(config)
    print(f"exported version {report['version']} to {report['path']}")
    print(_precision_line(report["precision"]))
    if "max_abs_diff" in report:
        print(
            f"verified in plain TensorFlow + TF Text: signatures {report['signatures']}, {report['ops']} op types "
            f"(TF Text: {', '.join(report['text_ops'])}), max |diff| {max(report['max_abs_diff'].values()):.2e}"
        )
    return 0


def _precision_line(choice: dict) -> str:
    line = f"precision: {choice['precision']} ({choice['reason']})"
    if choice.get("texts_checked"):
        line += (
            f"; on {choice['texts_checked']} held-out texts bfloat16 labels agree with float32 on "
            f"{choice['label_agreement']:.2%}, probabilities within {choice['max_probability_difference']:.3f}, "
            f"{choice['bfloat16_texts_per_second']:.0f} vs {choice['float32_texts_per_second']:.0f} texts/s"
        )
    return line


def serve(config) -> int:
    if config.model_base_path:
        cfg.require("--model-base-path", config.model_base_path, cfg.EXPORT_BASE)
    _load("bert_cls.serving.server").serve_forever(config)
    return 0


def query(config) -> int:
    texts, pairs = (None, None) if config.metadata else read_inputs(config)
    common = dict(
        signature=config.signature,
        version=config.version,
        timeout=config.timeout,
        batch_size=config.batch_size,
        max_retries=config.retries,
    )
    if config.rest:
        client = _load("bert_cls.serving.rest_client").RestClient(
            config.server or "localhost:8501", config.model_name, verify=config.root_cert or True, **common
        )
    else:
        client = _load("bert_cls.serving.client").ServingClient(
            config.server or "localhost:8500", config.model_name, root_certificates=config.root_cert, **common
        )
    with client:
        if config.metadata:
            print(json.dumps({"status": client.status(), **client.metadata()}, indent=2))
            return 0
        for p in client.predict(texts, pairs):
            row = {k: v for k, v in dataclasses.asdict(p).items() if v is not None}
            print(json.dumps(row, ensure_ascii=False) if config.json else _show(row))
    return 0


def tune(train_config, tune_config) -> int:
    check_data_files(train_config)
    _load("bert_cls.tuning.tuner").tune(train_config, tune_config)
    return 0


def quickstart(config) -> int:
    _load("bert_cls.apps.quickstart").run_quickstart(config)
    return 0


def example_data(config) -> int:
    paths = _load("bert_cls.apps.example_data").write_example_data(config)
    print(f"wrote {paths['train']} and {paths['test']}")
    return 0


def bench(config) -> int:
    _load("bert_cls.bench.speed").run_and_report(config)
    return 0


def gpu_check(config) -> int:
    _load("bert_cls.bench.gpu_check").run_gpu_check(config)
    return 0
