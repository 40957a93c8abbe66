"""``tf.data`` pipelines of raw-string batches, and tokenization moved into the pipeline.

No Python loop touches a text: the strings go from a tensor slice to the in-graph
tokenizer (in the model, or in the pipeline with XLA and on GPUs).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bert_cls.data.files import TextDataset
from bert_cls.modeling.keras_compat import tf

DEFAULT_BUCKET_BOUNDARIES = (16, 32, 48, 64, 96, 128, 192, 256, 384)


def tokenize_in_pipeline(ds, tokenizer):
    """Moves tokenization from the model into the ``tf.data`` graph (still no Python loop).

    Used with XLA, which cannot compile string ops into the training step, and on GPUs,
    where string ops inside the step would run on the host mid-step.
    """
    return ds.map(lambda features, *label: (tokenizer(features), *label), num_parallel_calls=tf.data.AUTOTUNE)


SHUFFLE_BUFFER = 100_000


def make_tf_dataset(
    dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    bucket_by_length: bool = True,
    with_labels: bool = True,
    bucket_boundaries: Sequence[int] = DEFAULT_BUCKET_BOUNDARIES,
    repeat: bool = False,
    shard=None,
):
    """A ``tf.data`` pipeline of raw-string batches (``{"text"[, "text_pair"]}`` and, optionally, labels).

    ``dataset`` is a ``TextDataset`` (in memory) or a ``stream.FileDataset`` (read from its files
    on each pass; ``shard=(workers, index)`` reads every workers-th file). Shuffling uses a buffer
    of at most ``SHUFFLE_BUFFER`` texts, so memory does not grow with the file. With
    ``bucket_by_length``, reviews of similar character length are batched together, so the
    in-graph tokenizer pads each batch only to its own longest review (pair). Bucketing reorders
    examples, so it is only used for training.
    """
    if isinstance(dataset, TextDataset):
        features = {"text": np.asarray(dataset.texts, dtype=object)}
        if dataset.pairs is not None:
            features["text_pair"] = np.asarray(dataset.pairs, dtype=object)
        ds = tf.data.Dataset.from_tensor_slices((features, dataset.labels))
    else:
        ds = dataset.elements(shard)
    if not with_labels:
        ds = ds.map(lambda features, label: features)
    if shuffle:
        ds = ds.shuffle(min(len(dataset), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if bucket_by_length:
        boundaries = list(bucket_boundaries)
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda features, *label: sum(
                tf.strings.length(text, unit="UTF8_CHAR") for text in features.values()),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        )
    else:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
