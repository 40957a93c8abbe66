"""BERT's learning-rate schedule: linear warmup to the peak, then linear decay to zero."""

from bert_cls.modeling.keras_compat import keras, tf


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``peak * step / warmup_steps`` while warming up, then a straight line down to 0 at ``total_steps``."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * step / max(1, self.warmup_steps)
        remaining = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        return tf.where(step < self.warmup_steps, warm, self.peak * tf.maximum(0.0, remaining))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
