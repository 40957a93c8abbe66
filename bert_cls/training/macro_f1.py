"""``MacroF1``: a Keras metric for ``--monitor val_macro_f1`` (early stopping and the best checkpoint on
imbalanced classes, where accuracy rewards predicting the majority class)."""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf


class MacroF1(keras.metrics.Metric):
    """Unweighted mean of the per-class F1 scores over ``num_classes``, from logits or probabilities.

    Accumulates a confusion matrix over the epoch; a class with no true and no predicted example
    scores 0, as in ``bert_cls.training.metrics.classification_metrics`` (the two agree).
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.confusion = self.add_weight(
            name="confusion", shape=(num_classes, num_classes), initializer="zeros", dtype=tf.float64
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = tf.argmax(y_pred, axis=-1)
        actual = tf.cast(tf.reshape(y_true, [-1]), tf.int64)
        self.confusion.assign_add(tf.math.confusion_matrix(actual, predicted, self.num_classes, dtype=tf.float64))

    def result(self):
        tp = tf.linalg.diag_part(self.confusion)
        predicted, actual = tf.reduce_sum(self.confusion, 0), tf.reduce_sum(self.confusion, 1)
        precision = tf.math.divide_no_nan(tp, predicted)
        recall = tf.math.divide_no_nan(tp, actual)
        f1 = tf.math.divide_no_nan(2 * precision * recall, precision + recall)
        return tf.cast(tf.reduce_mean(f1), tf.float32)

    def reset_state(self):
        self.confusion.assign(tf.zeros_like(self.confusion))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
