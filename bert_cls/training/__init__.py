"""Training: configs (``config``), the three-step run (``run``), its callbacks and committed state,
evaluation, metrics and plots. This ``__init__`` stays empty so light modules can import ``state``
and ``config`` without TensorFlow."""
