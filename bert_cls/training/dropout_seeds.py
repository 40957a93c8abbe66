"""Dropout whose draws are a function of (run seed, epoch, layer), with the training step traced once.

Why: an exact resume needs a resumed epoch to draw the dropout masks the uninterrupted run drew. Keras 2's
``Dropout`` uses TensorFlow's legacy stateful random ops by default, whose position lives in the kernels of the
traced step and in no checkpoint: the only way to restart them from a known seed is to set the global seed and
trace the training step again, one whole trace and graph optimization per epoch (1.8 s of a 2-layer model's
epoch on a 2-core CPU, most of a small run's time).

Instead, :func:`prepare` gives each Keras ``Dropout`` layer its own ``tf.random.Generator`` (tf_keras'
``"stateful"`` ``RandomGenerator``: the same stateless dropout kernel, seeded from the generator), and
:func:`reset` sets every generator from (seed, epoch, layer index) at an epoch's start. The traced step reads
the generators' state variables, so one trace serves every epoch. The generators stay out of ``layer.weights``
and checkpoints, as tf_keras keeps its own: their state at an epoch's start is derived, never restored.

A model with layers that draw through TensorFlow's legacy ops directly (DeBERTa-v2's ``StableDropout`` samples a
Bernoulli distribution) cannot be reset this way; :func:`prepare` reports it, and the caller falls back to the
global seed and a retrace per epoch (``bert_cls.training.callbacks.EpochSeed``).
"""

from __future__ import annotations

import numpy as np

from bert_cls.modeling.fused_graph import sublayers
from bert_cls.modeling.keras_compat import keras, tf

# Layers that draw random numbers with TensorFlow's legacy stateful ops, outside any Keras generator.
LEGACY_RANDOM_LAYERS = ("TFDebertaV2StableDropout", "TFDebertaStableDropout")


def derived_seed(*numbers: int) -> int:
    """A non-negative 63-bit seed that is a function of ``numbers`` only (NumPy's ``SeedSequence`` mixing)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0] >> 1)


def layer_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one dropout layer's draws in one epoch."""
    return derived_seed(seed, epoch, index)


def prepare(model) -> tuple:
    """Gives each ``Dropout`` under ``model`` a generator of its own (once); returns (those layers, whether other
    layers draw through legacy random ops). Call it where the model's variables are created (a distribution
    strategy's scope): the generators' state variables are created here."""
    layers = sublayers(model)
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    for index, layer in enumerate(dropouts):
        if uses_generator(layer):  # prepared by an earlier fit: its traced step reads this generator
            continue
        # tf_keras' RandomGenerator (not exported): the class of the layer's own generator
        generator = type(layer._random_generator)(seed=layer_seed(0, 0, index), rng_type="stateful")
        generator._maybe_init()  # the state variable now, in the caller's scope, not inside a trace
        # object.__setattr__: Keras' attribute tracking would put the generator's state into the weights and
        # checkpoints; tf_keras keeps its own generators untracked for the same reason.
        object.__setattr__(layer, "_random_generator", generator)
    legacy = any(type(layer).__name__ in LEGACY_RANDOM_LAYERS for layer in layers)
    return dropouts, legacy


def reset(dropouts: list, seed: int, epoch: int) -> None:
    """Sets every dropout layer's generator to its (seed, epoch, layer index) state."""
    for index, layer in enumerate(dropouts):
        layer._random_generator._generator.reset_from_seed(layer_seed(seed, epoch, index))


def uses_generator(layer) -> bool:
    """Whether ``layer``'s draws come from a ``tf.random.Generator`` (for tests and checks)."""
    generator = getattr(layer, "_random_generator", None)
    return isinstance(getattr(generator, "_generator", None), tf.random.Generator)
