"""Every benchmark of bert-cls in one place: the ``bert-cls bench`` command (``speed``: the table against
transformers on PyTorch and ONNX Runtime, with ``epoch``, ``torch_side``, ``op_profile`` and ``timing``),
``bert-cls gpu-check`` (``gpu_check``), and the measurement scripts whose results are committed under the
repository's ``bench/`` directory, each run as ``python -m bert_cls.bench.NAME`` (``bench/README.md`` lists them).

Importing this package imports nothing heavy: the commands' configs (``config``) are read before TensorFlow loads.
"""
