"""PNG plots: training curves, confusion matrices and tuning results (matplotlib, Agg)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed (or present on servers)
import matplotlib.pyplot as plt  # noqa: E402


def read_history(csv_path) -> list:
    """Rows of ``history.csv`` (epochs numbered from 1), one per epoch (a resumed run's repeat wins)."""
    by_epoch = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            by_epoch[int(row["epoch"])] = {k: float(v) for k, v in row.items() if v not in ("", None)}
    return [by_epoch[e] for e in sorted(by_epoch)]


def _curves(x, xlabel: str, panels, png_path, xticks: bool = False) -> Path:
    """Side-by-side line plots against ``x``: ``panels`` is ``[(title, [(values, style, label), ...]), ...]``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (title, series) in zip(axes, panels):
        for values, style, label in series:
            ax.plot(x, values, style, label=label)
        ax.set_xlabel(xlabel)
        if xticks:
            ax.set_xticks(x)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def plot_history(csv_path, png_path) -> Path:
    """Loss and accuracy per epoch for training and validation, as in the reference notebook."""
    rows = read_history(csv_path)
    panels = []
    for metric in ("loss", "accuracy"):
        series = []
        for prefix, style in (("", "o-"), ("val_", "s--")):
            values = [r.get(prefix + metric) for r in rows]
            if all(v is not None for v in values):
                series.append((values, style, ("validation " if prefix else "training ") + metric))
        panels.append((metric, series))
    return _curves([r["epoch"] for r in rows], "epoch", panels, png_path, xticks=True)


def plot_confusion_matrix(matrix, label_names, png_path, title="confusion matrix") -> Path:
    size = max(4, 0.8 * len(label_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(label_names)), label_names, rotation=45, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def plot_trials(trials, objective, png_path) -> Path:
    """Objective against learning rate (log x) and dropout, one point per finished trial."""
    done = [t for t in trials if t.get(objective) is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, log in ((axes[0], "learning_rate", True), (axes[1], "dropout", False)):
        ax.scatter([t[key] for t in done], [t[objective] for t in done])
        for t in done:
            ax.annotate(str(t["trial_id"]), (t[key], t[objective]), fontsize=8)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(objective)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{objective} per trial")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def plot_pretraining(rows, png_path) -> Path:
    """Loss and masked-token accuracy against the step, on the training steps and the held-out texts; for ELECTRA
    also the replaced-token accuracy beside the accuracy of answering "original" everywhere."""
    electra = "replaced_accuracy" in rows[0]
    titles = ("ELECTRA loss", "generator masked accuracy") if electra else ("masked-LM loss", "masked-LM masked accuracy")
    panels = [
        (title, [([r[metric] for r in rows], "o-", "training"), ([r["val_" + metric] for r in rows], "s--", "held out")])
        for title, metric in zip(titles, ("loss", "masked_accuracy"))
    ]
    if electra:
        panels.append(
            (
                "replaced-token accuracy",
                [
                    ([r["replaced_accuracy"] for r in rows], "o-", "training"),
                    ([r["val_replaced_accuracy"] for r in rows], "s--", "held out"),
                    ([r["val_original_share"] for r in rows], ":", "all 'original' (held out)"),
                ],
            )
        )
    return _curves([r["step"] for r in rows], "step", panels, png_path)
