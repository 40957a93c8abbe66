"""Classification metrics: single-label (accuracy, per-class precision/recall/F1, confusion matrix) and
multi-label (micro/macro-F1, subset accuracy, per-class), and per-class decision thresholds."""

from __future__ import annotations

import numpy as np


def _prf(tp, predicted, actual):
    precision = np.divide(tp, predicted, out=np.zeros_like(tp, dtype=float), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp, dtype=float), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return precision, recall, f1


def classification_metrics(y_true, y_pred, label_names) -> dict:
    """Metrics as a JSON-ready dict; ``confusion_matrix[i][j]`` counts true ``i`` predicted ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(label_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    actual = confusion.sum(1)
    precision, recall, f1 = _prf(np.diag(confusion), confusion.sum(0), actual)
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(actual[i])}
        for i, name in enumerate(label_names)
    }
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "num_examples": int(len(y_true)),
        "per_class": per_class,
        "label_names": list(label_names),
        "confusion_matrix": confusion.tolist(),
    }


def multi_label_metrics(y_true, y_pred, label_names, thresholds=None) -> dict:
    """Multi-label metrics from 0/1 arrays ``[N, K]``: micro- and macro-F1, subset accuracy (every class of a
    row right), Hamming accuracy, per-class precision/recall/F1/support, as scikit-learn defines them."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1, len(label_names))
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1, len(label_names))
    tp = (y_true & y_pred).sum(0)
    predicted, actual = y_pred.sum(0), y_true.sum(0)
    precision, recall, f1 = _prf(tp, predicted, actual)
    _, _, micro = _prf(np.array([tp.sum()]), np.array([predicted.sum()]), np.array([actual.sum()]))
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(actual[i])}
        for i, name in enumerate(label_names)
    }
    return {
        "accuracy": float((y_true == y_pred).all(1).mean()) if len(y_true) else 0.0,  # subset accuracy
        "micro_f1": float(micro[0]),
        "macro_f1": float(f1.mean()),
        "hamming_accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "num_examples": int(len(y_true)),
        "per_class": per_class,
        "label_names": list(label_names),
        "thresholds": None if thresholds is None else [float(t) for t in thresholds],
    }


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _counts(y_true, predicted):
    """(tp, predicted positives, actual positives) per threshold row of ``predicted`` ``[thresholds, rows]``."""
    return (predicted & y_true).sum(1), predicted.sum(1), np.full(len(predicted), y_true.sum())


def tune_thresholds(y_true, probabilities, average: str = "micro", sweeps: int = 2) -> list:
    """Per-class decision thresholds on ``THRESHOLD_GRID`` that maximize F1 on these rows.

    ``average="macro"``: each class's own F1 (macro-F1 is their mean, so this maximizes it).
    ``average="micro"``: micro-F1, by coordinate ascent from 0.5: one class at a time, the others fixed, so
    validation micro-F1 never ends below its value at 0.5 (per-class F1 thresholds can lower it: a rare class
    the model cannot separate gets a low threshold and floods the pooled counts with false positives).
    Ties go to the current threshold (0.5 at first), then to the one closest to 0.5.
    """
    y_true = np.asarray(y_true) > 0.5
    probabilities = np.asarray(probabilities)
    grid = THRESHOLD_GRID[np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="stable")]
    # per class and grid point: (tp, predicted, actual)
    table = [_counts(y_true[:, k], probabilities[:, k][None, :] >= grid[:, None]) for k in range(y_true.shape[1])]
    if average == "macro":
        return [float(grid[int(np.argmax(_prf(*counts)[2]))]) for counts in table]
    chosen = [int(np.flatnonzero(grid == 0.5)[0])] * len(table)
    for _ in range(sweeps):
        for k, (tp, predicted, actual) in enumerate(table):
            others = [sum(table[j][m][chosen[j]] for j in range(len(table)) if j != k) for m in range(3)]
            _, _, f1 = _prf(tp + others[0], predicted + others[1], actual + others[2])
            best = int(np.argmax(f1))
            if f1[best] > f1[chosen[k]] + 1e-12:
                chosen[k] = best
    return [float(grid[i]) for i in chosen]
