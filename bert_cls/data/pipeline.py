"""``tf.data`` pipelines of raw-string batches, and tokenization moved into the pipeline.

No Python loop touches a text: the strings go from a tensor slice to the in-graph
tokenizer (in the model, or in the pipeline with XLA and on GPUs).
"""

from __future__ import annotations

import numpy as np

from bert_cls.data.files import TextDataset
from bert_cls.modeling.keras_compat import tf


def tokenize_in_pipeline(ds, tokenizer):
    """Moves tokenization from the model into the ``tf.data`` graph (still no Python loop).

    Used with XLA, which cannot compile string ops into the training step, and on GPUs,
    where string ops inside the step would run on the host mid-step.
    """
    return ds.map(lambda features, *label: (tokenizer(features), *label), num_parallel_calls=tf.data.AUTOTUNE)


SHUFFLE_BUFFER = 100_000
# Batches per mega-batch in token-length grouping, as transformers' LengthGroupedSampler (megabatch_mult=50).
MEGA_BATCHES = 50


def group_by_token_length(
    ds, batch_size: int, token_lengths, seed: int = 0, shuffle_batches: bool = True, reshuffle: bool = True
):
    """Batches of similar WordPiece length: take ``MEGA_BATCHES`` batches' worth of (shuffled) examples, sort them
    by token length, cut them into batches, and shuffle the batches (unless ``shuffle_batches`` is False: for
    evaluation, whose metrics are sums over examples and do not depend on the order).

    What ``Trainer(group_by_length=True)`` does, in the ``tf.data`` graph. Every mega-batch but the last holds a
    whole number of batches, so an epoch has at most one partial batch, and an epoch smaller than a mega-batch is
    sorted whole (a small epoch wastes no more padding than a large one). ``token_lengths`` maps a batch of
    features to ``[batch]`` lengths (``BertTokenizerLayer.token_lengths``).
    """

    def sort(features, *label):
        order = tf.argsort(token_lengths(features), stable=True)
        return tf.nest.map_structure(lambda t: tf.gather(t, order), (features, *label))

    ds = ds.batch(batch_size * MEGA_BATCHES).map(sort, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.batch(batch_size)
    return ds.shuffle(MEGA_BATCHES, seed=seed, reshuffle_each_iteration=reshuffle) if shuffle_batches else ds


def useful_token_share(ds, token_lengths) -> float:
    """Of the token positions a pass over ``ds`` (batches of features) computes, the share that are real tokens:
    each batch is padded to its longest sequence."""
    real = computed = 0
    for batch in ds:
        features = batch[0] if isinstance(batch, tuple) else batch
        lengths = token_lengths(features).numpy()
        real += int(lengths.sum())
        computed += int(lengths.max()) * len(lengths) if len(lengths) else 0
    return real / computed if computed else 1.0


def make_tf_dataset(
    dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    token_lengths=None,
    with_labels: bool = True,
    repeat: bool = False,
    shard=None,
    reshuffle: bool = True,
):
    """A ``tf.data`` pipeline of raw-string batches (``{"text"[, "text_pair"]}`` and, optionally, labels).

    ``dataset`` is a ``TextDataset`` (in memory) or a ``stream.FileDataset`` (read from its files
    on each pass; ``shard=(workers, index)`` reads every workers-th file). Shuffling uses a buffer
    of at most ``SHUFFLE_BUFFER`` texts, so memory does not grow with the file. Given
    ``token_lengths`` (``BertTokenizerLayer.token_lengths``), examples of similar WordPiece length are
    batched together (``group_by_token_length``), so the in-graph tokenizer pads each batch only a little;
    without ``shuffle`` the batches come in length order (evaluation). ``reshuffle=False`` gives every pass the
    order of the first (training builds one pipeline per epoch, each with its own seed).
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
        ds = ds.shuffle(min(len(dataset), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=reshuffle)
    if repeat:
        ds = ds.repeat()
    if token_lengths is not None:
        ds = group_by_token_length(ds, batch_size, token_lengths, seed, shuffle_batches=shuffle, reshuffle=reshuffle)
    else:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
