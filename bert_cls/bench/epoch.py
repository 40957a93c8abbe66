"""The parts of ``bert-cls bench`` that compare with what a user would run instead, on the same texts.

* a whole training epoch after a warm-up epoch (what a user waits for, partial batches included), with
  batches grouped by WordPiece length (``data.pipeline.group_by_token_length``, the default) and with the
  character buckets bert-cls used before, and the share of computed token positions that are real tokens;
* inference at batch 64 in file order and sorted by length (identical predictions checked), and
  ``BertClassifier.predict_proba`` (what ``evaluate`` and ``predict --file`` run) sorted vs file order;
* the PyTorch (and ONNX Runtime) side, run by ``torch_side`` in a separate process: TensorFlow and PyTorch
  in one process crash.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from bert_cls.data import ordering, pipeline
from bert_cls.errors import BertClsError
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.training.adamw import AdamW
from bert_cls.training.run import fused_update

# The character-length buckets of bert-cls 0.1's training pipeline, kept here to measure the change.
CHARACTER_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384)
TORCH_TIMEOUT_S = 1800


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def character_buckets(ds, batch_size: int):
    """Batches as bert-cls 0.1 made them: buckets of similar character length."""
    return ds.bucket_by_sequence_length(
        element_length_func=lambda features, label: tf.strings.length(features["text"], unit="UTF8_CHAR"),
        bucket_boundaries=list(CHARACTER_BUCKETS),
        bucket_batch_sizes=[batch_size] * (len(CHARACTER_BUCKETS) + 1),
    )


def epoch_speed(
    checkpoint, sample, label_names, max_length: int, batch_size: int, grouping: str, policy: str = "float32"
) -> dict:
    """Examples/s of the second of two epochs over ``sample`` (the first traces and warms up), and the
    epoch's useful-token share. ``grouping``: "token_length" (now) or "characters" (before); ``policy``: the
    Keras mixed-precision policy (``float32`` or ``mixed_bfloat16``)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        return _epoch_speed(checkpoint, sample, label_names, max_length, batch_size, grouping)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _epoch_speed(checkpoint, sample, label_names, max_length: int, batch_size: int, grouping: str) -> dict:
    classifier = BertClassifier.from_checkpoint(checkpoint, label_names, max_length)
    token_lengths = classifier.pipeline_tokenizer().token_lengths
    if grouping == "token_length":
        ds = pipeline.make_tf_dataset(sample, batch_size, shuffle=True, seed=0, token_lengths=token_lengths)
    else:
        ds = pipeline.make_tf_dataset(sample, batch_size, shuffle=True, seed=0)  # batched as they come
        ds = character_buckets(ds.unbatch(), batch_size).prefetch(tf.data.AUTOTUNE)
    model = classifier.text_model
    model.compile(
        optimizer=fused_update(AdamW(2e-5, weight_decay=0.01), model.count_params()),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.optimizer.build(model.trainable_variables)  # as `train` does: the step is traced once, not twice
    timer = EpochTimer()
    model.fit(ds, epochs=2, verbose=0, callbacks=[timer])
    return {
        "examples_per_second": len(sample) / timer.seconds[1],
        "epoch_seconds": timer.seconds[1],
        "warmup_epoch_seconds": timer.seconds[0],
        "useful_token_share": pipeline.useful_token_share(ds, token_lengths),
    }


def _timed_batches(serving, texts, batches) -> tuple:
    """(texts/s, probabilities in input order) of the serving function over index ``batches``."""
    out = [None] * len(texts)
    serving(tf.constant([texts[i] for i in batches[0]]))  # warm-up
    started = time.perf_counter()
    for indices in batches:
        probabilities = serving(tf.constant([texts[i] for i in indices]))
        for i, row in zip(indices, probabilities):
            out[i] = row
    return len(texts) / (time.perf_counter() - started), np.stack(out)


def inference_orders(serving, texts, batch_size: int = 64) -> dict:
    """Texts/s at ``batch_size`` in file order and with the same texts sorted by length; the largest
    difference between the two sets of probabilities (0 up to float round-off: padding is masked)."""
    file_order = [np.arange(i, min(i + batch_size, len(texts))) for i in range(0, len(texts), batch_size)]
    in_order, p_order = _timed_batches(serving, texts, file_order)
    by_length, p_sorted = _timed_batches(serving, texts, list(ordering.sorted_batches(texts, batch_size)))
    return {
        "texts": len(texts),
        "file_order_texts_per_second": in_order,
        "sorted_texts_per_second": by_length,
        "speedup": by_length / in_order,
        "max_abs_diff": float(np.abs(p_order - p_sorted).max()),
    }


def predict_proba_orders(classifier: BertClassifier, texts, batch_size: int = 64) -> dict:
    """Wall time of ``predict_proba`` (what ``evaluate`` and ``predict --file`` run: length-sorted batches)
    against the same batches in file order, as before."""
    classifier.predict_proba(texts[:batch_size])  # traces the function once for both
    started = time.perf_counter()
    sorted_p = classifier.predict_proba(texts, batch_size)
    after = time.perf_counter() - started
    started = time.perf_counter()
    before_p = np.concatenate(
        [classifier._probabilities(tf.constant(texts[i : i + batch_size])).numpy() for i in range(0, len(texts), batch_size)]
    )
    before = time.perf_counter() - started
    return {
        "texts": len(texts),
        "file_order_seconds": before,
        "sorted_seconds": after,
        "speedup": before / after,
        "max_abs_diff": float(np.abs(before_p - sorted_p).max()),
    }


def torch_available() -> str:
    """ "" when the PyTorch side can run, else why not."""
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    return f"{', '.join(missing)} not installed (pip install -e '.[minilm]')" if missing else ""


def run_torch_side(request: dict) -> dict:
    """Runs ``torch_side`` in a fresh interpreter (never PyTorch beside TensorFlow) and returns its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("USE_TORCH", "USE_TF")}
    process = subprocess.run(
        [sys.executable, "-m", "bert_cls.bench.torch_side"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=TORCH_TIMEOUT_S,
    )
    if process.returncode != 0:
        last = (process.stderr.strip().splitlines() or ["no output"])[-1]
        raise BertClsError(f"the PyTorch side of the bench failed: {last}")
    return json.loads(process.stdout)
