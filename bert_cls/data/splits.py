"""Stratified validation splits and samples (NumPy only: the same split every time for a seed)."""

from __future__ import annotations

import numpy as np

from bert_cls.errors import BertClsError


def stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Index arrays (train, validation) with ``fraction`` of every class in validation."""
    if not 0.0 < fraction < 1.0:
        raise BertClsError(f"--validation-split must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction))
        if len(idx) > 1:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train_idx, val_idx = np.concatenate(train_idx), np.concatenate(val_idx)
    rng.shuffle(train_idx)
    rng.shuffle(val_idx)
    return train_idx, val_idx


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices with the class balance of ``labels`` (all of them when ``n >= len``)."""
    if n >= len(labels):
        return np.arange(len(labels))
    keep, _ = stratified_split(labels, 1.0 - n / len(labels), seed)
    return np.sort(keep)
