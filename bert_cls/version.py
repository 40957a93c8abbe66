"""The package version, defined once: ``setup.py`` reads this file's text, ``bert_cls.__version__`` and
``bert-cls --version`` import it."""

__version__ = "0.1.0"
