"""Length-sorted inference batches: texts of similar length share a batch, results return in input order.

A batch is padded to its longest text, so batching texts as they come wastes most of the compute
on padding (measured in issue 11: the exported MiniLM ran 105 texts/s in file order and 228 with
the same batches sorted by length, identical predictions). Sorting uses character length, which
every caller has without a vocabulary (the gRPC client too); it tracks WordPiece length closely
enough to group batches. NumPy only.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from bert_cls.errors import BertClsError


def by_length(texts: Sequence) -> np.ndarray:
    """Indices that order ``texts`` (str or bytes, or their lengths) from shortest to longest; ties keep input order."""
    lengths = (t if isinstance(t, (int, np.integer)) else len(t) for t in texts)
    return np.argsort(np.fromiter(lengths, dtype=np.int64, count=len(texts)), kind="stable")


def lengths(texts: Sequence, pairs=None) -> Sequence:
    """What to sort by: the texts, or for sentence pairs the two lengths added up."""
    return texts if pairs is None else [len(a) + len(b) for a, b in zip(texts, pairs)]


def sorted_batches(texts: Sequence, batch_size: int) -> Iterator[np.ndarray]:
    """Index arrays of at most ``batch_size`` texts of similar length; together they cover every index once."""
    order = by_length(texts)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def text_lists(texts, pairs=None):
    """(texts, second texts or None) as lists; an error unless every text has its pair."""
    texts = list(texts)
    pairs = None if pairs is None else list(pairs)
    if pairs is not None and len(pairs) != len(texts):
        raise BertClsError(f"{len(texts)} texts but {len(pairs)} second texts: give every text its pair")
    return texts, pairs
