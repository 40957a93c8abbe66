#!/usr/bin/env python
"""Export a trained model for TensorFlow Serving: same flags as ``bert-cls export`` (run with --help).

python export/export_model.py --model runs/nsmc --export-dir /srv/models/nsmc --model-name nsmc
"""

import sys

from bert_cls.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
