"""Per-layer dropout generators: one trace for every epoch, draws set by (seed, epoch), nothing added to weights."""

import numpy as np
import pytest

from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.training import dropout_seeds
from bert_cls.training.callbacks import EpochSeed


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(16)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.5)(hidden)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 8)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")


def test_three_epochs_trace_the_training_step_as_often_as_one():
    counts = []
    for epochs in (1, 3):
        model = _model()
        model.fit(*_data(), epochs=epochs, batch_size=8, shuffle=False, verbose=0, callbacks=[EpochSeed(7)])
        counts.append(model.train_function.experimental_get_tracing_count())
    assert counts[1] == counts[0]  # before per-layer generators: one more trace per epoch


def test_an_epoch_resumed_in_a_new_fit_draws_what_the_uninterrupted_run_drew():
    x, y = _data()
    straight = _model()
    straight.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[EpochSeed(7)])
    resumed = _model()
    resumed.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[EpochSeed(7)])
    weights = resumed.get_weights()
    resumed = _model()  # a new process's model, given the committed weights of epoch 1
    resumed.set_weights(weights)
    resumed.fit(x, y, epochs=3, initial_epoch=1, batch_size=8, shuffle=False, verbose=0, callbacks=[EpochSeed(7)])
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = _model()
    other.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[EpochSeed(8)])
    assert not np.array_equal(other.get_weights()[0], straight.get_weights()[0])  # the seed reaches the masks


def test_generators_stay_out_of_weights_and_checkpoints_and_are_installed_once(tmp_path):
    model = _model()
    names = [w.name for w in model.weights]
    dropouts, legacy = dropout_seeds.prepare(model)
    assert len(dropouts) == 2 and not legacy
    assert all(dropout_seeds.uses_generator(layer) for layer in dropouts)
    assert [w.name for w in model.weights] == names
    generators = [layer._random_generator for layer in dropouts]
    assert [layer._random_generator for layer in dropout_seeds.prepare(model)[0]] == generators
    saved = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    assert not any("random_generator" in name for name, _ in tf.train.list_variables(saved))


@pytest.mark.parametrize("epoch", [0, 3])
def test_a_reset_sets_the_same_draws_for_the_same_seed_and_epoch(epoch):
    model = _model()
    dropouts, _ = dropout_seeds.prepare(model)
    layer = dropouts[0]
    ones = tf.ones((4, 16))
    dropout_seeds.reset(dropouts, 5, epoch)
    first = layer(ones, training=True).numpy()
    dropout_seeds.reset(dropouts, 5, epoch)
    np.testing.assert_array_equal(layer(ones, training=True).numpy(), first)
    dropout_seeds.reset(dropouts, 5, epoch + 1)
    assert not np.array_equal(layer(ones, training=True).numpy(), first)
