#!/usr/bin/env python
"""Macro-F1 on imbalanced data with and without `--class-weight balanced`.

    python -m bert_cls.bench.imbalance --nsmc ../shared/nsmc/ratings_train.txt --output bench/imbalance.json
    python -m bert_cls.bench.imbalance --nsmc /tmp/nsmc-split/test.tsv --pretrained nsmc-small --learning-rate 2e-4 \
        --output bench/imbalance_nsmc_small.json

(With nsmc-small, draw the reviews from the test part of ``bert_cls/bench/nsmc_split.py``, which it never read.)

Draws 2,000 NSMC training reviews at 9:1 negative:positive and a disjoint 1,000-review test set at
the same ratio, then runs `bert-cls train` twice (same seed, checkpoint and steps), once without and
once with `--class-weight balanced`, and reports the test macro-F1 and per-class recall of each.
All-MiniLM-L6-v2 reads Korean as jamo pieces, so absolute numbers stay low (see the README); what
is compared is the minority class's recall and the macro-F1 between the two runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import bert_cls  # noqa: F401
from bert_cls.data.files import read_dataset


def write_imbalanced(nsmc: Path, work: Path, seed: int):
    data = read_dataset(nsmc)
    rng = np.random.default_rng(seed)
    negative, positive = (rng.permutation(np.flatnonzero(data.labels == c)) for c in (0, 1))
    splits = {"train": (negative[:1800], positive[:200]), "test": (negative[1800:2700], positive[200:300])}
    paths = {}
    for name, (neg, pos) in splits.items():
        rows = rng.permutation(np.concatenate([neg, pos]))
        paths[name] = work / f"nsmc_9to1_{name}.tsv"
        with open(paths[name], "w", encoding="utf-8") as handle:
            handle.write("id\tdocument\tlabel\n")
            handle.writelines(f"{i}\t{data.texts[i]}\t{data.labels[i]}\n" for i in rows)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsmc", type=Path, default=Path("../shared/nsmc/ratings_train.txt"))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bert-cls-imbalance"))
    parser.add_argument("--pretrained", default="all-MiniLM-L6-v2")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", default="5e-5")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--monitor",
        default="val_accuracy",
        choices=["val_accuracy", "val_macro_f1"],
        help="what picks the best epoch in both runs",
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    paths = write_imbalanced(args.nsmc, args.work_dir, args.seed)
    result = {
        "pretrained": args.pretrained,
        "learning_rate": float(args.learning_rate),
        "train_rows": 2000,
        "test_rows": 1000,
        "ratio": "9:1",
        "monitor": args.monitor,
        "epochs": args.epochs,
        "runs": {},
    }
    for name, extra in (("unweighted", []), ("balanced", ["--class-weight", "balanced"])):
        out = args.work_dir / name
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bert_cls",
                "train",
                "--train-file",
                str(paths["train"]),
                "--test-file",
                str(paths["test"]),
                "--label-names",
                "negative,positive",
                "--pretrained",
                args.pretrained,
                "--epochs",
                str(args.epochs),
                "--max-length",
                "64",
                "--learning-rate",
                args.learning_rate,
                "--seed",
                str(args.seed),
                "--monitor",
                args.monitor,
                "--output-dir",
                str(out),
                "--overwrite",
                "--verbose",
                "2",
                *extra,
            ],
            check=True,
        )
        test = json.loads((out / "metrics.json").read_text())["test"]
        result["runs"][name] = {
            "test_macro_f1": test["macro_f1"],
            "test_accuracy": test["accuracy"],
            "recall": {k: v["recall"] for k, v in test["per_class"].items()},
        }
        print(
            f"{name}: test macro-F1 {test['macro_f1']:.4f}, accuracy {test['accuracy']:.4f}, recall "
            + ", ".join(f"{k} {v['recall']:.3f}" for k, v in test["per_class"].items()),
            flush=True,
        )
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
