#!/usr/bin/env python
"""What pretraining is worth on NSMC: a checkpoint fine-tuned on N reviews against TF-IDF + logistic regression.

    python -m bert_cls.bench.nsmc_split --output-dir /tmp/nsmc-split
    python -m bert_cls.bench.pretrain_nsmc tfidf --split /tmp/nsmc-split --train-size 20000 135000
    python -m bert_cls.bench.pretrain_nsmc finetune --split /tmp/nsmc-split --pretrained nsmc-small --train-size 20000
    python -m bert_cls.bench.pretrain_nsmc sample --pretrained nsmc-small --learning-rates 5e-5 1e-4 2e-4
    python -m bert_cls.bench.pretrain_nsmc finetune --split /tmp/nsmc-split --pretrained runs/electra-1h \
        --budget-hours 1 --train-size 20000 135000 --output bench/pretrain_curve.json
    python -m bert_cls.bench.pretrain_nsmc plot --output bench/pretrain_curve.json   # bench/pretrain_curve.png

``sample`` fine-tunes as the quickstart does (2,000 reviews of the bundled sample, 2 epochs, max length 128) at each
learning rate and scores the bundled 1,000-review test sample, which the shipped checkpoint never read.

Every figure is accuracy on the split's 15,000 test reviews (``bert_cls/bench/nsmc_split.py``), which the shipped checkpoint
never read. ``finetune`` runs ``bert-cls train`` on the first N training reviews (2 epochs, max length 64, the
recipe's defaults otherwise: 10% of the N held out for picking the epoch); TF-IDF (character 1-4-grams, sublinear
tf) + logistic regression (C=4) is fitted on all N. Results are merged into ``--output`` (JSON), one entry per run,
with the CPU named.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bert_cls import hardware

ROOT = Path(__file__).resolve().parents[2]  # the repository


def read_split(path: Path, limit=None) -> tuple:
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        _, text, label = line.split("\t")
        texts.append(text)
        labels.append(int(label))
        if limit and len(texts) >= limit:
            break
    return texts, labels


def first_rows(split: Path, n: int) -> Path:
    lines = (split / "train.tsv").read_text(encoding="utf-8").splitlines()
    path = split / f"train{n}.tsv"
    path.write_text("\n".join(lines[: n + 1]) + "\n", encoding="utf-8")
    return path


def tfidf(split: Path, n: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = read_split(split / "train.tsv", n)
    test_texts, test_labels = read_split(split / "test.tsv")
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True)
    model = LogisticRegression(C=4, max_iter=2000).fit(vectorizer.fit_transform(texts), labels)
    predicted = model.predict(vectorizer.transform(test_texts))
    accuracy = sum(int(p == y) for p, y in zip(predicted, test_labels)) / len(test_labels)
    return {
        "method": "tfidf_char1-4_logreg_C4",
        "train_reviews": len(texts),
        "test_reviews": len(test_labels),
        "test_accuracy": accuracy,
        "seconds": time.perf_counter() - started,
    }


def random_init(pretrained: str, work: Path) -> str:
    """The checkpoint's architecture and vocabulary with fresh random weights: what pretraining starts from."""
    import shutil

    from bert_cls.modeling.keras_compat import keras
    from bert_cls.modeling.pretrained import resolve_checkpoint
    from transformers import TFBertModel

    checkpoint = resolve_checkpoint(pretrained)
    out = work / f"{checkpoint.path.name}-random-init"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(checkpoint.path / name, out / name)
    keras.utils.set_random_seed(0)
    model = TFBertModel(checkpoint.bert_config())
    model(model.dummy_inputs)
    model.save_pretrained(str(out))
    return str(out)


def pretraining_record(pretrained: str, budget_hours) -> dict:
    """What a checkpoint's pretraining was: its ``pretrain_metrics.json`` (objective, steps, time, CPU) where it has
    one, and the budget in hours of the 2-core machine it was sized for (``--budget-hours``)."""
    metrics_file = Path(pretrained) / "pretrain_metrics.json"
    record = {"budget_hours": budget_hours}
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        record.update({key: metrics.get(key) for key in ("objective", "steps", "pretraining_seconds", "cpu")})
        record["objective"] = record["objective"] or "mlm"  # runs from before --objective are masked LM
    return record


def finetune(split: Path, n: int, pretrained: str, work: Path, extra: list, budget_hours=None) -> dict:
    out = work / f"{Path(pretrained).name}-{n}"
    command = [
        sys.executable,
        "-m",
        "bert_cls",
        "train",
        "--train-file",
        str(first_rows(split, n)),
        "--test-file",
        str(split / "test.tsv"),
        "--label-names",
        "negative,positive",
        "--pretrained",
        pretrained,
        "--epochs",
        "2",
        "--max-length",
        "64",
        "--output-dir",
        str(out),
        "--overwrite",
        "--verbose",
        "2",
        *extra,
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "method": "bert-cls train",
        "pretrained": pretrained,
        "pretraining": pretraining_record(pretrained, budget_hours),
        "cpu": hardware.cpu_model(),
        "train_reviews": n,
        "flags": extra,
        "test_reviews": metrics["test"]["num_examples"],
        "test_accuracy": metrics["test"]["accuracy"],
        "validation_accuracy": metrics["validation"]["accuracy"],
        "wall_seconds": time.perf_counter() - started,
    }


def sample(pretrained: str, learning_rate: str, work: Path) -> dict:
    out = work / f"{Path(pretrained).name}-sample-{learning_rate}"
    command = [
        sys.executable,
        "-m",
        "bert_cls",
        "train",
        "--data",
        "sample",
        "--max-train-samples",
        "2000",
        "--pretrained",
        pretrained,
        "--epochs",
        "2",
        "--learning-rate",
        learning_rate,
        "--output-dir",
        str(out),
        "--overwrite",
        "--verbose",
        "2",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "method": "bert-cls train --data sample (the quickstart's data and recipe)",
        "pretrained": pretrained,
        "learning_rate": float(learning_rate),
        "train_reviews": metrics["train_examples"],
        "test_reviews": metrics["test"]["num_examples"],
        "test_accuracy": metrics["test"]["accuracy"],
        "validation_accuracy": metrics["validation"]["accuracy"],
        "wall_seconds": time.perf_counter() - started,
    }


def chosen_runs(runs: list) -> list:
    """Of the runs of one checkpoint budget, objective and number of reviews at several fine-tuning learning rates,
    the one with the best validation accuracy (its own held-out 10%): the rate is chosen without the test reviews."""
    best = {}
    for run in runs:
        key = (run["pretraining"]["objective"], run["pretraining"]["budget_hours"], run["train_reviews"])
        if key not in best or run["validation_accuracy"] > best[key]["validation_accuracy"]:
            best[key] = run
    return list(best.values())


def plot_curve(results: dict, png: Path) -> Path:
    """Test accuracy against the pretraining budget, one panel per number of fine-tuning reviews, a line per
    objective (at each budget the learning rate with the best validation accuracy), TF-IDF on the same reviews as
    a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)

    runs = chosen_runs([r for r in results.values() if isinstance(r, dict) and (r.get("pretraining") or {}).get("budget_hours")])
    sizes = sorted({r["train_reviews"] for r in runs})
    if not sizes:
        raise SystemExit("no fine-tuning result with a pretraining budget (finetune --budget-hours) to plot")
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for objective in sorted({r["pretraining"]["objective"] for r in runs}):
            points = sorted(
                (r["pretraining"]["budget_hours"], 100 * r["test_accuracy"])
                for r in runs
                if r["train_reviews"] == size and r["pretraining"]["objective"] == objective
            )
            if points:
                ax.plot(*zip(*points), "o-", label=objective)
        baseline = results.get(f"tfidf_{size}")
        if baseline:
            ax.axhline(100 * baseline["test_accuracy"], linestyle="--", color="gray", label="TF-IDF + logistic regression")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())  # 1, 2, 4, 8 rather than powers of 2
        ax.set_xlabel("pretraining budget (hours of the 2-core machine)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"fine-tuned on {size:,} reviews")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def main() -> int:
    # allow_abbrev=False: flags meant for `bert-cls train` (--learning-rate) must not be read as --learning-rates
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("what", choices=["tfidf", "finetune", "sample", "plot"])
    parser.add_argument(
        "--budget-hours", type=float, help="finetune: the pretraining budget the checkpoint was sized for (the curve's x)"
    )
    parser.add_argument("--split", type=Path, default=Path("/tmp/nsmc-split"))
    parser.add_argument("--train-size", type=int, nargs="+", default=[20000])
    parser.add_argument("--learning-rates", nargs="+", default=["5e-5"], help="sample: the rates to try")
    parser.add_argument("--pretrained", default="nsmc-small")
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="fine-tune the checkpoint's architecture and vocabulary from random weights (no pretraining)",
    )
    parser.add_argument("--name", help="key of the result (default: from the method and size)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bert-cls-pretrain-bench"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench/pretrain_nsmc.json")
    args, extra = parser.parse_known_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.output.read_text()) if args.output.is_file() else {}
    if args.what == "plot":
        print(plot_curve(results, args.output.with_suffix(".png")))
        return 0
    results["cpu"] = {"model": hardware.cpu_model(), "bfloat16": hardware.native_bfloat16() or "none"}
    pretrained = random_init(args.pretrained, args.work_dir) if args.random_init else args.pretrained
    if args.what == "sample":
        for rate in args.learning_rates:
            key = args.name or f"sample_{Path(pretrained).name}_lr{rate}"
            results[key] = sample(pretrained, rate, args.work_dir)
            print(key, json.dumps(results[key]), flush=True)
            args.output.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    for n in args.train_size:
        if args.what == "tfidf":
            result, key = tfidf(args.split, n), f"tfidf_{n}"
        else:
            result = finetune(args.split, n, pretrained, args.work_dir, extra, args.budget_hours)
            key = f"{Path(pretrained).name}_{n}"
        key = args.name or key
        results[key] = result
        print(key, json.dumps(result), flush=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
