"""Classification metrics (accuracy, per-class precision/recall/F1, confusion matrix)."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true, y_pred, label_names) -> dict:
    """Metrics as a JSON-ready dict; ``confusion_matrix[i][j]`` counts true ``i`` predicted ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(label_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, name in enumerate(label_names):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "num_examples": int(len(y_true)),
        "per_class": per_class,
        "label_names": list(label_names),
        "confusion_matrix": confusion.tolist(),
    }
