"""Evaluation on labelled data and prediction on raw texts (or pairs) with a trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bert_cls.data import files as data_files
from bert_cls.data.columns import Columns
from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.training.config import EvaluateConfig, PredictConfig, with_model_columns
from bert_cls.training.metrics import classification_metrics, multi_label_metrics
from bert_cls.training.plots import plot_confusion_matrix


# Texts sorted by length at a time when a dataset is read from its files: bounds memory, keeps most of the gain.
SORT_WINDOW = 16_384


def predict_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1):
    """(class probabilities, labels) in the dataset's order, computed in length-sorted batches.

    An in-memory ``TextDataset`` is sorted whole; a streamed ``FileDataset`` in windows of
    ``SORT_WINDOW`` texts, so its texts are never all in memory, and its labels come from the same
    pass over its files.
    """
    if isinstance(dataset, data_files.TextDataset):
        probabilities = classifier.predict_proba(dataset.texts, batch_size, progress=bool(verbose), pairs=dataset.pairs)
        return probabilities, dataset.labels
    outputs, labels, window, pairs = [], [], [], []

    def flush():
        outputs.append(classifier.predict_proba(window, batch_size, pairs=pairs if dataset.has_pairs else None))
        window.clear()
        pairs.clear()

    for text, pair, label in dataset.rows():
        window.append(text)
        pairs.append(pair)
        labels.append(label)
        if len(window) == SORT_WINDOW:
            flush()
    flush()
    return np.concatenate(outputs), np.asarray(labels).reshape((-1, *dataset.census.stratum_labels.shape[1:]))


def dataset_metrics(classifier, probabilities, labels) -> dict:
    """``classification_metrics`` or, for a multi-label model, ``multi_label_metrics`` at its thresholds."""
    config = classifier.config
    if config.multi_label:
        return multi_label_metrics(labels, classifier.decide(probabilities), config.label_names, config.thresholds)
    return classification_metrics(labels, classifier.decide(probabilities), config.label_names)


def evaluate_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1) -> dict:
    return dataset_metrics(classifier, *predict_dataset(classifier, dataset, batch_size, verbose))


def evaluate_file(config: EvaluateConfig) -> dict:
    """Evaluates a trained model; writes ``eval_<file>.json`` and a confusion-matrix PNG. Column flags left unset
    are the ones the model was trained with."""
    config = with_model_columns(config)
    classifier = BertClassifier.load(config.model)
    classifier.check_pairs(config.text_pair_column is not None)
    if config.label_columns and not classifier.config.multi_label:
        raise BertClsError(
            "--label-columns is multi-label data, but this model was trained with one class per text: use --label-column"
        )
    dataset = data_files.read_dataset(
        config.test_file,
        columns=Columns.of(config, multi_label=classifier.config.multi_label),
        label_names=classifier.config.label_names,
        strict_label_names=True,
    )
    metrics = evaluate_dataset(classifier, dataset, config.batch_size)
    metrics["dropped_empty_documents"] = dataset.dropped_empty
    metrics["test_file"] = str(config.test_file)
    out = Path(config.output_dir or config.model)
    out.mkdir(parents=True, exist_ok=True)
    first = data_files.readers.expand_paths(config.test_file)[0]
    stem = Path(first.name.removesuffix(".gz")).stem
    metrics["json"] = str(out / f"eval_{stem}.json")
    if "confusion_matrix" in metrics:  # single-label
        metrics["confusion_png"] = str(
            plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"], out / f"eval_{stem}_confusion.png")
        )
    write_json(metrics["json"], metrics)
    return metrics


def predict_texts(config: PredictConfig, texts, pairs=None) -> list:
    """For each text (and second text), in order: ``{"text"[, "text_pair"], "label", "label_id", "probabilities"}``;
    for a multi-label model ``"labels"`` (the predicted class names) and ``"label"`` (them, comma-joined)."""
    classifier = BertClassifier.load(config.model)
    probabilities = classifier.predict_proba(list(texts), config.batch_size, pairs=pairs)
    names, decided = classifier.config.label_names, classifier.decide(probabilities)
    rows = []
    for i, (text, p) in enumerate(zip(texts, probabilities)):
        row = {"text": text} if pairs is None else {"text": text, "text_pair": pairs[i]}
        if classifier.config.multi_label:
            labels = [n for n, on in zip(names, decided[i]) if on]
            row.update(label=",".join(labels), labels=labels)
        else:
            row.update(label=names[int(decided[i])], label_id=int(decided[i]))
        rows.append({**row, "probabilities": p.round(6).tolist()})
    return rows
