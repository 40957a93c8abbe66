"""Tuning: ``config`` (light, the ``bert-cls tune`` flags) and ``tuner`` (Keras Tuner search and export of the best)."""
