"""Evaluation on a labelled TSV file and prediction on raw texts with a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bert_cls import data as data_lib
from bert_cls.metrics import classification_metrics


def predict_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1) -> np.ndarray:
    """Class probabilities in input order (no length bucketing, which would reorder)."""
    from bert_cls.keras_compat import tf

    ds = data_lib.make_tf_dataset(dataset, batch_size, bucket_by_length=False, with_labels=False)
    logits = classifier.text_model.predict(ds, verbose=verbose)
    return tf.nn.softmax(logits).numpy()


def evaluate_dataset(classifier, dataset, batch_size: int = 64, verbose: int = 1) -> dict:
    probabilities = predict_dataset(classifier, dataset, batch_size, verbose)
    return classification_metrics(dataset.labels, probabilities.argmax(-1), classifier.config.label_names)


def evaluate_file(model_dir, test_file, output_dir=None, batch_size: int = 64, text_column="document", label_column="label") -> dict:
    """Evaluates a trained model; writes ``eval_<file>.json`` and a confusion-matrix PNG."""
    from bert_cls.model import BertClassifier
    from bert_cls.plots import plot_confusion_matrix

    classifier = BertClassifier.load(model_dir)
    dataset = data_lib.load_tsv(
        test_file, text_column=text_column, label_column=label_column, label_names=classifier.config.label_names
    )
    if dataset.labels.max() >= classifier.config.num_labels:
        from bert_cls.errors import BertClsError

        raise BertClsError(f"{test_file} has label {dataset.labels.max()}, but the model knows {classifier.config.num_labels} classes")
    metrics = evaluate_dataset(classifier, dataset, batch_size)
    metrics["dropped_empty_documents"] = dataset.dropped_empty
    metrics["test_file"] = str(test_file)
    out = Path(output_dir or model_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(test_file).stem
    metrics["json"] = str(out / f"eval_{stem}.json")
    metrics["confusion_png"] = str(
        plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"], out / f"eval_{stem}_confusion.png")
    )
    Path(metrics["json"]).write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return metrics


def predict_texts(model_dir, texts, batch_size: int = 64) -> list:
    """``[{"text", "label", "label_id", "probabilities"}]`` for each text, in order."""
    from bert_cls.model import BertClassifier

    classifier = BertClassifier.load(model_dir)
    probabilities = classifier.predict_proba(list(texts), batch_size)
    names = classifier.config.label_names
    return [
        {"text": t, "label": names[int(p.argmax())], "label_id": int(p.argmax()), "probabilities": p.round(6).tolist()}
        for t, p in zip(texts, probabilities)
    ]
