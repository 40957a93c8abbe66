"""Modeling: the in-graph tokenizer, pretrained checkpoints, the classifier and its learning-rate schedule.

Every module here imports TensorFlow (through ``keras_compat``, which selects Keras 2 first).
"""
