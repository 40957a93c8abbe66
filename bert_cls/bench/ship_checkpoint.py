#!/usr/bin/env python
"""Turn a `bert-cls pretrain` output directory into the checkpoint shipped in the package.

    python -m bert_cls.bench.ship_checkpoint /tmp/pt-cont bert_cls/resources/nsmc-small --continues bert_cls/resources/nsmc-small

Keeps the encoder only (no masked-LM head, no pooler: fine-tuning starts the pooler and the classifier afresh),
with the vocabulary and tokenizer files, and checks every encoder weight equal to the run's. ``--continues DIR``
names the checkpoint the run continued (``bert-cls pretrain --pretrained DIR``): its ``history.csv`` goes first
and the run's steps are counted on from its last one, so the shipped history and curves cover both runs.
The output directory is written beside and renamed into place.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from bert_cls.modeling.keras_compat import tf  # noqa: F401  (sets up Keras 2 before transformers loads)
from bert_cls.training.callbacks import write_history_csv
from bert_cls.training.plots import plot_pretraining

FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "pretrain_metrics.json")


def read_history(path: Path) -> list:
    with open(path, newline="") as handle:
        return [{k: int(v) if k == "step" else float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def combined_history(run: Path, continues) -> list:
    rows = read_history(run / "history.csv")
    if continues is None:
        return rows
    before = read_history(Path(continues) / "history.csv")
    offset = max(r["step"] for r in before)
    return before + [{**r, "step": r["step"] + offset} for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output directory of bert-cls pretrain")
    parser.add_argument("output", type=Path, help="where the shipped checkpoint goes (replaced)")
    parser.add_argument("--continues", type=Path, help="the checkpoint the run continued, for the history")
    args = parser.parse_args()
    from transformers import TFBertForMaskedLM, TFBertModel

    history = combined_history(args.run, args.continues)  # before anything is replaced: --continues may be --output
    staging = Path(tempfile.mkdtemp(prefix=".ship-", dir=args.output.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would travel into the package
    encoder = TFBertModel.from_pretrained(str(args.run), add_pooling_layer=False)
    full = TFBertForMaskedLM.from_pretrained(str(args.run))
    run_weights = {w.name.split("/", 1)[1]: w.numpy() for w in full.bert.weights}
    for weight in encoder.bert.weights:
        np.testing.assert_array_equal(weight.numpy(), run_weights[weight.name.split("/", 1)[1]], err_msg=weight.name)
    encoder.save_pretrained(str(staging))
    for name in FILES:
        shutil.copy(args.run / name, staging / name)
    write_history_csv(history, staging / "history.csv", key="step")
    plot_pretraining(history, staging / "pretraining_curves.png")
    if (args.output / "README.md").is_file():
        shutil.copy(args.output / "README.md", staging / "README.md")  # the model card is edited by hand
    shutil.rmtree(args.output, ignore_errors=True)
    staging.rename(args.output)
    print(f"{args.output}: {len(encoder.bert.weights)} encoder weights checked equal to the run's; {len(history)} history rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
