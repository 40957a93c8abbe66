"""Stratified validation splits and samples (NumPy only: the same split every time for a seed)."""

from __future__ import annotations

import numpy as np

from bert_cls.errors import BertClsError


def choose_per_class(class_counts, fraction: float, seed: int):
    """(masks, rng): per class, a boolean array over its rows in order, True for the ``fraction`` chosen
    (at least one and not all of a class with two or more rows). Needs only the counts, so the
    streamed datasets (``stream.py``) choose the same rows as ``stratified_split`` does in memory."""
    if not 0.0 < fraction < 1.0:
        raise BertClsError(f"--validation-split must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    masks = []
    for n in class_counts:  # classes in id order; absent classes draw nothing, as np.unique skips them
        mask = np.zeros(n, dtype=bool)
        if n:
            ranks = np.arange(n)
            rng.shuffle(ranks)
            n_val = int(round(n * fraction))
            if n > 1:
                n_val = min(max(n_val, 1), n - 1)
            mask[ranks[:n_val]] = True
        masks.append(mask)
    return masks, rng


def stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Index arrays (train, validation) with ``fraction`` of every class in validation."""
    labels = np.asarray(labels)
    masks, rng = choose_per_class(np.bincount(labels) if len(labels) else [], fraction, seed)
    train_idx, val_idx = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for label, mask in enumerate(masks):
        idx = np.flatnonzero(labels == label)
        val_idx.append(idx[mask])
        train_idx.append(idx[~mask])
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
