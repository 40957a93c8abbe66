"""``MultiLabelF1``: a Keras metric for multi-label training (``--monitor val_micro_f1``, the default there),
and ``SubsetAccuracy`` (a row counts when every class is right)."""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf


class MultiLabelF1(keras.metrics.Metric):
    """Micro- or macro-averaged F1 of multi-label predictions at probability 0.5 (logit 0).

    Accumulates per-class true positives, predicted and actual positives over the epoch; agrees with
    ``bert_cls.training.metrics.multi_label_metrics`` at the default thresholds.
    """

    def __init__(self, num_classes: int, average: str = "micro", name=None, **kwargs):
        super().__init__(name=name or f"{average}_f1", **kwargs)
        self.num_classes, self.average = num_classes, average
        self.counts = self.add_weight(name="counts", shape=(3, num_classes), initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = tf.cast(tf.cast(y_pred, tf.float32) > 0.0, tf.float64)  # logits: sigmoid > 0.5
        actual = tf.cast(tf.reshape(y_true, tf.shape(predicted)) > 0.5, tf.float64)
        self.counts.assign_add(
            tf.stack([tf.reduce_sum(predicted * actual, 0), tf.reduce_sum(predicted, 0), tf.reduce_sum(actual, 0)])
        )

    def result(self):
        tp, predicted, actual = self.counts[0], self.counts[1], self.counts[2]
        if self.average == "micro":
            tp, predicted, actual = (tf.reduce_sum(x, keepdims=True) for x in (tp, predicted, actual))
        precision, recall = tf.math.divide_no_nan(tp, predicted), tf.math.divide_no_nan(tp, actual)
        f1 = tf.math.divide_no_nan(2 * precision * recall, precision + recall)
        return tf.cast(tf.reduce_mean(f1), tf.float32)

    def reset_state(self):
        self.counts.assign(tf.zeros_like(self.counts))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "average": self.average}


class SubsetAccuracy(keras.metrics.MeanMetricWrapper):
    """Share of rows whose every class is predicted right (at logit 0)."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(_all_right, name=name, **kwargs)


def _all_right(y_true, y_pred):
    predicted = tf.cast(y_pred, tf.float32) > 0.0
    actual = tf.reshape(y_true, tf.shape(predicted)) > 0.5
    return tf.cast(tf.reduce_all(tf.equal(predicted, actual), axis=-1), tf.float32)
