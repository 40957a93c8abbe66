#!/usr/bin/env python
"""Retune: Keras Tuner search over learning rate and dropout, best model exported for TF Serving.

Same flags as ``bert-cls tune`` (run with --help). Example, offline on the bundled sample:

    python tuning/tune.py --data sample --pretrained all-MiniLM-L6-v2 --max-train-samples 1000 \
        --epochs 1 --max-trials 4 --tuning-dir runs/tuning --export-dir runs/export
"""

import sys

from bert_cls.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
