"""The export's precision: float32, or bfloat16 where the CPU computes it natively and it is faster.

A bfloat16 export stores bfloat16 weights and computes in bfloat16 (the signatures stay as in float32: strings
or ids in, float32 probabilities out). Its serving functions are **frozen**: the weights are constants of the
graph, not variables. That is what lets TensorFlow's oneDNN fused matmuls reorder each weight once into the
blocked layout of the AMX kernels and keep it; with a variable weight they use a generic GEMM at about half the
speed (measured: MiniLM, batch 64 x 62 tokens, 208 ms with variables, 109 ms frozen, on a 2-core Xeon with AMX).
A frozen SavedModel has no ``variables/`` to restore and loads in TensorFlow Serving like any other.

``--precision auto`` (the default of ``bert-cls export``) decides on the model itself: on a CPU without native
bfloat16 (AVX-512 BF16 or AMX, ``bert_cls.hardware``) it is float32 without trying; elsewhere both precisions run
the held-out texts kept from training, and bfloat16 is chosen only if it is faster and its labels agree with
float32's on at least :data:`MIN_AGREEMENT` of them. ``--precision bfloat16`` skips the timing but not the
agreement check: below it the export falls back to float32 with one line saying why. The choice, both timings,
the agreement and the largest probability difference go into the export's ``assets.extra`` metadata.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np

from bert_cls import hardware
from bert_cls.data import ordering
from bert_cls.errors import warn
from bert_cls.modeling.keras_compat import keras, tf

MIN_AGREEMENT = 0.995
CHECK_BATCH = 64


@dataclasses.dataclass
class PrecisionChoice:
    """What the export computes in, and the measurements behind it (JSON-ready)."""

    precision: str
    requested: str
    reason: str
    texts_checked: int = 0
    label_agreement: Optional[float] = None
    max_probability_difference: Optional[float] = None
    float32_texts_per_second: Optional[float] = None
    bfloat16_texts_per_second: Optional[float] = None
    cpu: str = dataclasses.field(default_factory=hardware.cpu_model)


def to_bfloat16(classifier):
    """A copy of ``classifier`` whose variables are bfloat16 and which computes in bfloat16."""
    from bert_cls.modeling.classifier import BertClassifier

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("bfloat16")
    try:
        copy = BertClassifier.from_config(classifier.config, classifier.tokenizer_resource)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    source, target = classifier.text_model.weights, copy.text_model.weights
    if [w.name for w in source] != [w.name for w in target]:
        raise RuntimeError("the bfloat16 copy's weights do not line up with the float32 model's")
    for variable, value in zip(target, source):
        variable.assign(tf.cast(value, variable.dtype))
    return copy


def freeze(function, input_signature):
    """``function`` (returning a dict of tensors) traced for ``input_signature`` with its variables turned into
    constants, as a ``tf.function`` returning the same dict."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = function.get_concrete_function(*input_signature)
    frozen = convert_variables_to_constants_v2(concrete)
    names = sorted(concrete.structured_outputs)  # a dict's tf.nest order: the frozen function's flat outputs

    def call(*args):
        outputs = frozen(*args)
        return dict(outputs) if isinstance(outputs, dict) else dict(zip(names, outputs))

    return tf.function(call, input_signature=input_signature)


def sorted_probabilities(function, texts, pairs=None) -> tuple:
    """(probabilities in input order, texts/s) of a serving function (texts[, pairs] positionally, a dict with
    ``probabilities`` back) over length-sorted batches of :data:`CHECK_BATCH`, the first batch run once untimed."""
    out = None
    batches = list(ordering.sorted_batches(ordering.lengths(texts, pairs), CHECK_BATCH))
    function(*_batch_inputs(texts, pairs, batches[0]))  # traced and warmed outside the timing
    started = time.perf_counter()
    for indices in batches:
        probabilities = function(*_batch_inputs(texts, pairs, indices))["probabilities"].numpy()
        if out is None:
            out = np.zeros((len(texts), probabilities.shape[1]), np.float32)
        out[indices] = probabilities
    return out, len(texts) / (time.perf_counter() - started)


def _batch_inputs(texts, pairs, indices) -> list:
    inputs = [tf.constant([texts[i] for i in indices], tf.string)]
    if pairs is not None:
        inputs.append(tf.constant([pairs[i] for i in indices], tf.string))
    return inputs


def compare(float32_fn, bfloat16_fn, texts, pairs, multi_label: bool, decide) -> dict:
    """Both serving functions on the same texts: label agreement, largest probability difference, texts/s."""
    p32, speed32 = sorted_probabilities(float32_fn, texts, pairs)
    p16, speed16 = sorted_probabilities(bfloat16_fn, texts, pairs)
    same = decide(p32) == decide(p16)
    agreement = float(same.all(axis=-1).mean() if multi_label else same.mean())
    return {
        "texts_checked": len(texts),
        "label_agreement": agreement,
        "max_probability_difference": float(np.abs(p32 - p16).max()),
        "float32_texts_per_second": speed32,
        "bfloat16_texts_per_second": speed16,
    }


def choose(requested: str, measure) -> PrecisionChoice:
    """The export's precision for ``requested`` (one of ``bert_cls.config.EXPORT_PRECISIONS``). ``measure()`` runs
    :func:`compare` on the model and is called only where bfloat16 is a candidate."""
    if requested == "float32":
        return PrecisionChoice("float32", requested, "--precision float32")
    native = hardware.native_bfloat16()
    if requested == "auto" and not native:
        return PrecisionChoice("float32", requested, "this CPU has no native bfloat16 (AVX-512 BF16 or AMX)")
    if requested == "bfloat16" and not native:
        warn("this CPU has no native bfloat16 (AVX-512 BF16 or AMX): the bfloat16 export will run emulated and slowly here")
    figures = measure()
    agreement, faster = figures["label_agreement"], figures["bfloat16_texts_per_second"] > figures["float32_texts_per_second"]
    if agreement < MIN_AGREEMENT:
        reason = (
            f"bfloat16 labels agree with float32 on only {agreement:.2%} of {figures['texts_checked']} held-out texts "
            f"(at least {MIN_AGREEMENT:.1%} needed): exporting float32"
        )
        warn(reason)
        return PrecisionChoice("float32", requested, reason, **figures)
    if requested == "auto" and not faster:
        return PrecisionChoice("float32", requested, f"bfloat16 was not faster on this CPU ({native}) for this model", **figures)
    why = "--precision bfloat16" if requested == "bfloat16" else f"this CPU has {native} and bfloat16 was faster"
    return PrecisionChoice("bfloat16", requested, why, **figures)
