"""Evaluation on a labelled TSV file and prediction on raw texts with a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bert_cls.data import files as data_files
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.training.config import EvaluateConfig, PredictConfig
from bert_cls.training.metrics import classification_metrics
from bert_cls.training.plots import plot_confusion_matrix


# Texts sorted by length at a time when a dataset is read from its files: bounds memory, keeps most of the gain.
SORT_WINDOW = 16_384


def predict_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1):
    """(class probabilities, class ids) in the dataset's order, computed in length-sorted batches.

    An in-memory ``TextDataset`` is sorted whole; a streamed ``FileDataset`` in windows of
    ``SORT_WINDOW`` texts, so its texts are never all in memory, and its labels come from the same
    pass over its files.
    """
    if isinstance(dataset, data_files.TextDataset):
        return classifier.predict_proba(dataset.texts, batch_size, progress=bool(verbose)), dataset.labels
    outputs, labels, window = [], [], []
    for text, label in dataset.rows():
        window.append(text)
        labels.append(label)
        if len(window) == SORT_WINDOW:
            outputs.append(classifier.predict_proba(window, batch_size))
            window = []
    outputs.append(classifier.predict_proba(window, batch_size))
    return np.concatenate(outputs), np.asarray(labels, dtype=np.int64)


def evaluate_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1) -> dict:
    probabilities, labels = predict_dataset(classifier, dataset, batch_size, verbose)
    return classification_metrics(labels, probabilities.argmax(-1), classifier.config.label_names)


def evaluate_file(config: EvaluateConfig) -> dict:
    """Evaluates a trained model; writes ``eval_<file>.json`` and a confusion-matrix PNG."""
    classifier = BertClassifier.load(config.model)
    dataset = data_files.read_dataset(
        config.test_file, text_column=config.text_column, label_column=config.label_column, format=config.format,
        quoting=config.quoting, label_names=classifier.config.label_names, strict_label_names=True,
    )
    metrics = evaluate_dataset(classifier, dataset, config.batch_size)
    metrics["dropped_empty_documents"] = dataset.dropped_empty
    metrics["test_file"] = str(config.test_file)
    out = Path(config.output_dir or config.model)
    out.mkdir(parents=True, exist_ok=True)
    first = data_files.readers.expand_paths(config.test_file)[0]
    stem = Path(first.name.removesuffix(".gz")).stem
    metrics["json"] = str(out / f"eval_{stem}.json")
    metrics["confusion_png"] = str(
        plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"], out / f"eval_{stem}_confusion.png")
    )
    Path(metrics["json"]).write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return metrics


def predict_texts(config: PredictConfig, texts) -> list:
    """``[{"text", "label", "label_id", "probabilities"}]`` for each text, in order."""
    classifier = BertClassifier.load(config.model)
    probabilities = classifier.predict_proba(list(texts), config.batch_size)
    names = classifier.config.label_names
    return [
        {"text": t, "label": names[int(p.argmax())], "label_id": int(p.argmax()), "probabilities": p.round(6).tolist()}
        for t, p in zip(texts, probabilities)
    ]
