"""Stratified validation splits and samples (NumPy only: the same split every time for a seed)."""

from __future__ import annotations

import numpy as np

from bert_cls.errors import BertClsError


def allocate(class_counts, total: int) -> np.ndarray:
    """How many rows of each class to choose so that exactly ``total`` are chosen, in proportion to the class
    sizes (largest remainders), and, where ``total`` allows it, at least one and not all of every class with two
    or more rows (so each such class is on both sides of a split). Deterministic: ties go to the lower class id."""
    counts = np.asarray(class_counts, dtype=np.int64)
    size = int(counts.sum())
    if not 0 <= total <= size:
        raise BertClsError(f"cannot choose {total} of {size} rows")
    quota = counts * (total / size) if size else counts.astype(float)
    low = np.where(counts >= 2, 1, 0)
    high = np.where(counts >= 2, counts - 1, counts)
    if low.sum() > total:  # more classes than rows to choose: the largest classes get them
        low = np.zeros_like(counts)
    if high.sum() < total:
        high = counts
    chosen = np.clip(np.floor(quota).astype(np.int64), low, high)
    while chosen.sum() < total:
        room = np.where(chosen < high, quota - chosen, -np.inf)
        chosen[int(np.argmax(room))] += 1
    while chosen.sum() > total:
        excess = np.where(chosen > low, quota - chosen, np.inf)
        chosen[int(np.argmin(excess))] -= 1
    return chosen


def choose_per_class(class_counts, total: int, seed: int):
    """(masks, rng): per class, a boolean array over its rows in order, True for the rows chosen, ``total`` in
    all (``allocate``). Needs only the counts, so the streamed datasets (``stream.py``) choose the same rows as
    ``stratified_split`` does in memory."""
    rng = np.random.default_rng(seed)
    masks = []
    for n, k in zip(class_counts, allocate(class_counts, total)):  # classes in id order
        mask = np.zeros(n, dtype=bool)
        if n:
            ranks = np.arange(n)
            rng.shuffle(ranks)
            mask[ranks[:k]] = True
        masks.append(mask)
    return masks, rng


def validation_rows(rows: int, fraction: float) -> int:
    """Rows a ``fraction`` split holds out: the nearest whole number, and at least one row on each side."""
    if not 0.0 < fraction < 1.0:
        raise BertClsError(f"--validation-split must be between 0 and 1, got {fraction}")
    return min(max(int(round(rows * fraction)), 1), rows - 1) if rows >= 2 else 0


def stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Index arrays (train, validation) with ``fraction`` of every class in validation."""
    labels = np.asarray(labels)
    masks, rng = choose_per_class(np.bincount(labels) if len(labels) else [], validation_rows(len(labels), fraction), seed)
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
    labels = np.asarray(labels)
    masks, _ = choose_per_class(np.bincount(labels), len(labels) - n, seed)  # the rows left out
    keep = np.concatenate([np.flatnonzero(labels == label)[~mask] for label, mask in enumerate(masks)])
    return np.sort(keep)
