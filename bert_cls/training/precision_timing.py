"""``--mixed-precision auto`` on a CPU: time a training step in both precisions on the model itself, keep the faster.

Whether bfloat16 pays on a CPU depends on the CPU and on the model: on a 2-core Xeon with AMX a MiniLM epoch ran
1.52x faster in ``mixed_bfloat16`` than in float32, while before the encoder's graph was fused
(``bert_cls.modeling.fused_graph``) the same CPU ran it 0.77x as fast, and an AMD EPYC with AVX-512 BF16 but no AMX
1.20x. A fixed rule picked the slower one on one of them, so the choice is measured: the encoder (random weights
of the checkpoint's configuration, the same fused layers) runs a forward and backward pass on a batch of
``batch_size`` x :data:`PROBE_LENGTH` tokens in each precision, and the faster one is used. CPUs without native
bfloat16 (AVX-512 BF16 or AMX) are float32 without a timing. The timings are cached per CPU, TensorFlow version
and model shape (``$XDG_CACHE_HOME/bert-cls/mixed_precision.json``), so later runs on the machine decide at once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bert_cls import hardware
from bert_cls.json_files import write_json
from bert_cls.modeling.keras_compat import keras, tf

PROBE_LENGTH = 64
PROBE_STEPS = 3
CANDIDATES = ("float32", "mixed_bfloat16")


def cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "bert-cls" / "mixed_precision.json"


def cache_key(family, encoder_config, batch_size: int) -> str:
    shape = "x".join(str(getattr(encoder_config, name, "")) for name in ("num_hidden_layers", "hidden_size", "intermediate_size"))
    flags = ",".join(hardware.cpu_flags())
    return f"{hardware.cpu_model()}|{flags}|tf {tf.__version__}|{family.model_type} {shape}|batch {batch_size}"


def step_seconds(family, encoder_config, batch_size: int, policy: str) -> float:
    """Median seconds of a forward and backward pass of a fresh encoder under ``policy``."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        encoder = family.build_encoder(encoder_config)
        ids = tf.random.stateless_uniform(
            [batch_size, PROBE_LENGTH], seed=[0, 1], minval=5, maxval=encoder_config.vocab_size, dtype=tf.int32
        )

        @tf.function
        def step(ids):
            with tf.GradientTape() as tape:
                hidden = encoder(input_ids=ids, training=True).last_hidden_state
                loss = tf.reduce_mean(tf.cast(hidden, tf.float32) ** 2)
            gradients = tape.gradient(loss, encoder.trainable_variables)
            computed = [g.values if isinstance(g, tf.IndexedSlices) else g for g in gradients if g is not None]
            with tf.control_dependencies(computed):  # the step ends when every gradient is computed
                return tf.identity(loss)

        step(ids).numpy()  # trace and warm up
        seconds = []
        for _ in range(PROBE_STEPS):
            started = time.perf_counter()
            step(ids).numpy()
            seconds.append(time.perf_counter() - started)
        return sorted(seconds)[len(seconds) // 2]
    finally:
        keras.mixed_precision.set_global_policy(previous)


def measured_choice(family, encoder_config, batch_size: int) -> dict:
    """``{"choice", "seconds": {policy: step seconds}, "cached"}`` for this CPU and model, timing on a cache miss."""
    key, path = cache_key(family, encoder_config, batch_size), cache_file()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    seconds = cache.get(key) if isinstance(cache, dict) else None
    cached = isinstance(seconds, dict) and set(seconds) == set(CANDIDATES)
    if not cached:
        seconds = {policy: step_seconds(family, encoder_config, batch_size, policy) for policy in CANDIDATES}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {**(cache if isinstance(cache, dict) else {}), key: seconds})
        except OSError:
            pass  # a read-only home: decide again next time
    return {"choice": min(CANDIDATES, key=lambda p: seconds[p]), "seconds": seconds, "cached": cached}
