"""Data: reading labelled files (``files``), validation splits (``splits``), ``tf.data`` pipelines (``pipeline``)."""
