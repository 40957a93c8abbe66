"""Configs of ``bert-cls train``, ``evaluate`` and ``predict`` (light: no TensorFlow, so ``--help`` is fast)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg
from bert_cls.errors import BertClsError

MONITORS = ("val_accuracy", "val_macro_f1", "val_micro_f1")
RUN_CONFIG = "run_config.json"
METRICS_JSON = "metrics.json"


def _step_range(value):
    if value is None:
        return None
    parts = str(value).split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or not 0 < int(parts[0]) <= int(parts[1]):
        return "must be two step numbers A,B with 1 <= A <= B"
    return None


def check_names(option: str, value: Optional[str]) -> None:
    """Comma-separated class names: each non-empty and each once (a repeated name would merge two classes'
    figures in metrics.json)."""
    if not value:
        return
    names = [n.strip() for n in value.split(",")]
    if "" in names:
        raise BertClsError(f"{option} {value!r} has an empty name: give every class a name")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BertClsError(f"{option} names {', '.join(repeated)} more than once: each class needs its own name")


@dataclasses.dataclass
class TrainConfig(cfg.Config):
    """Arguments of ``bert-cls train`` (and of each tuning trial); the CLI flags are generated from these fields."""

    output_dir: str = arg(help="directory for the model, history, plots and metrics")
    data: Optional[str] = cfg.data(None)
    train_file: Optional[str] = cfg.train_file()
    validation_file: Optional[str] = arg(None, "validation data (same columns); replaces --validation-split")
    test_file: Optional[str] = arg(None, "test data evaluated after training (default: from --data)")
    format: Optional[str] = cfg.data_format()
    quoting: str = cfg.quoting()
    text_column: str = cfg.text_column()
    text_pair_column: Optional[str] = cfg.text_pair_column()
    label_column: str = cfg.label_column()
    label_names: Optional[str] = arg(
        None, "comma-separated class names in id order (NSMC: negative,positive); for string labels, fixes their order"
    )
    multi_label: bool = cfg.multi_label()
    label_separator: str = cfg.label_separator()
    label_columns: Optional[str] = cfg.label_columns()
    tune_thresholds: bool = arg(
        False,
        "with --multi-label: per class, the decision threshold (0.05..0.95) that "
        "maximizes validation micro-F1 (macro-F1 with --monitor val_macro_f1) instead of 0.5; "
        "stored with the model and the export",
    )
    pretrained: Optional[str] = cfg.pretrained("bert-base-multilingual-cased")
    epochs: int = cfg.epochs(3)
    batch_size: int = cfg.batch_size(32, "global batch size")
    max_length: int = cfg.max_length()
    learning_rate: float = cfg.learning_rate(5e-5)
    dropout: float = arg(0.1, "dropout rate before the classification layer", check=cfg.in_unit_interval)
    weight_decay: float = cfg.weight_decay()
    warmup_ratio: float = cfg.warmup_ratio(0.1)
    validation_split: float = arg(
        0.1, "fraction of the training file held out (stratified) for validation", check=cfg.fraction_open
    )
    max_train_samples: Optional[int] = cfg.max_train_samples(None)
    patience: int = arg(2, "early stopping: epochs without gain in --monitor", check=cfg.at_least(1))
    monitor: Optional[str] = arg(
        None,
        "what early stopping, the best checkpoint and the tuner's default objective "
        "follow: val_accuracy (the default), val_macro_f1 (imbalanced classes) or val_micro_f1 "
        "(the default with --multi-label; there val_accuracy is subset accuracy)",
        choices=list(MONITORS),
    )
    class_weight: Optional[str] = arg(
        None,
        "weight the loss per class: 'balanced' (n / (classes x n_class), from the "
        "training rows) or explicit 'name=weight,...' (unnamed classes weigh 1)",
    )
    max_steps: Optional[int] = arg(
        None, "stop each epoch after this many training steps (quick runs, benchmarks)", check=cfg.at_least(1)
    )
    seed: int = arg(42, "seed for the split, shuffling and initialization")
    bucket_by_length: bool = arg(
        True, "batch examples of similar token length together, as transformers' group_by_length (less padding)"
    )
    mixed_precision: str = cfg.mixed_precision()
    jit_compile: bool = arg(False, "compile the training step with XLA")
    strategy: str = arg(
        "default",
        "tf.distribute: 'default', 'mirrored' (all local GPUs) or 'multi-worker' (TF_CONFIG)",
        choices=["default", "mirrored", "multi-worker"],
    )
    cache_dir: Optional[str] = arg(None, "cache for downloads (NSMC, Hugging Face checkpoints)")
    verbose: int = arg(
        1, "Keras verbosity: 0 silent, 1 progress bar (one line per epoch when output is not a terminal), 2 one line per epoch"
    )
    profile_steps: Optional[str] = arg(
        None,
        "trace training steps A..B (e.g. 10,20) with the TensorFlow profiler into --output-dir/logs (TensorBoard's Profile tab)",
        check=_step_range,
    )
    overwrite: bool = cfg.overwrite("whatever --output-dir holds")

    def __post_init__(self):
        super().__post_init__()
        if self.label_columns:
            self.multi_label = True  # one 0/1 column per class is multi-label data
        if self.monitor is None:
            self.monitor = "val_micro_f1" if self.multi_label else "val_accuracy"
        if self.monitor == "val_micro_f1" and not self.multi_label:
            raise BertClsError("--monitor val_micro_f1 is for --multi-label (with one class per text it equals val_accuracy)")
        if self.multi_label and self.class_weight:
            raise BertClsError("--class-weight weighs single-label classes: drop it with --multi-label")
        if self.tune_thresholds and not self.multi_label:
            raise BertClsError("--tune-thresholds sets multi-label decision thresholds: add --multi-label or drop it")
        for option, value in (("--label-names", self.label_names), ("--label-columns", self.label_columns)):
            check_names(option, value)

    def fingerprint(self) -> dict:
        """What must match for a rerun to resume this run instead of conflicting with it."""
        skip = {"verbose", "cache_dir", "output_dir", "overwrite", "profile_steps"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    @classmethod
    def completed_fingerprint(cls, previous: dict, current: dict) -> dict:
        """A fingerprint written by an older bert-cls, with the fields of ``current`` it did not have at their
        defaults (what that version did), so its interrupted runs and searches still resume."""
        defaults = dataclasses.asdict(cls(output_dir=""))  # as resolved (--monitor's default is val_accuracy there)
        return {**{k: defaults[k] for k in current if k not in previous and k in defaults}, **previous}

    def profile_range(self):
        """``--profile-steps`` as Keras' ``profile_batch`` (0: off)."""
        return tuple(int(p) for p in self.profile_steps.split(",")) if self.profile_steps else 0

    def parsed_label_names(self):
        return [n.strip() for n in self.label_names.split(",")] if self.label_names else None


MODEL_COLUMN = "{what} (default: the one the model was trained with, from its run_config.json; else {usual})"
# The column flags of evaluate and predict, and their defaults where the model's run_config.json names none.
COLUMN_DEFAULTS = {
    "text_column": "document",
    "text_pair_column": None,
    "label_column": "label",
    "label_separator": ",",
    "label_columns": None,
}


def with_model_columns(config):
    """``config`` with each column flag left unset taken from the model's training run (``run_config.json``), so
    ``evaluate`` and ``predict --file`` read the columns the model was trained on without being told again.
    ``predict`` with texts on the command line takes no pair column from the run (``--pair`` gives pairs)."""
    path = Path(config.model) / RUN_CONFIG
    run = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    values = {}
    for name, default in COLUMN_DEFAULTS.items():
        if not hasattr(config, name) or getattr(config, name) is not None:
            continue
        if name == "text_pair_column" and not getattr(config, "test_file", None) and not getattr(config, "file", None):
            continue
        values[name] = run.get(name, default)
    return dataclasses.replace(config, **values) if values else config


@dataclasses.dataclass
class EvaluateConfig(cfg.Config):
    """Arguments of ``bert-cls evaluate``."""

    model: str = cfg.model_dir()
    test_file: str = arg(help="labelled data (same columns as training; any format train reads)")
    format: Optional[str] = cfg.data_format()
    quoting: str = cfg.quoting()
    output_dir: Optional[str] = arg(None, "where to write eval_<file>.json and the PNG (default: --model)")
    batch_size: int = cfg.batch_size(64, "inference batch size")
    text_column: Optional[str] = arg(None, MODEL_COLUMN.format(what="column holding the text", usual="document"))
    text_pair_column: Optional[str] = arg(
        None, MODEL_COLUMN.format(what="column holding the second text of a pair", usual="none")
    )
    label_column: Optional[str] = arg(None, MODEL_COLUMN.format(what="column holding the class", usual="label"))
    label_separator: Optional[str] = arg(
        None, MODEL_COLUMN.format(what="multi-label data: what separates the class names in --label-column", usual="','")
    )
    label_columns: Optional[str] = arg(
        None, MODEL_COLUMN.format(what="multi-label data as one 0/1 column per class (comma-separated)", usual="none")
    )


@dataclasses.dataclass
class PredictConfig(cfg.Config):
    """Arguments of ``bert-cls predict``."""

    model: str = cfg.model_dir()
    texts: list = cfg.texts()
    file: Optional[str] = cfg.text_file()
    format: Optional[str] = cfg.data_format()
    text_column: Optional[str] = arg(None, MODEL_COLUMN.format(what="--file: column holding the text", usual="document"))
    text_pair_column: Optional[str] = arg(
        None, MODEL_COLUMN.format(what="--file: column holding the second text, for a sentence-pair model", usual="none")
    )
    pair: Optional[list] = cfg.pair()
    batch_size: int = cfg.batch_size(64, "inference batch size")
    json: bool = cfg.json_lines()


@dataclasses.dataclass
class ImportConfig(cfg.Config):
    """Arguments of ``bert-cls import``."""

    output_dir: str = arg(help="where to write the run directory that evaluate, predict and export read")
    checkpoint: list = arg(
        help="a fine-tuned *ForSequenceClassification checkpoint: a Hugging Face id or a directory",
        positional=True,
        default_factory=list,
    )
    max_length: int = cfg.max_length(128)
    text_pair: bool = arg(
        False, "the classifier reads pairs of texts (NLI, paraphrase): predict, evaluate and the export take text and text_pair"
    )
    overwrite: bool = cfg.overwrite("an existing --output-dir")
    cache_dir: Optional[str] = arg(None, "cache for Hugging Face downloads")

    def __post_init__(self):
        super().__post_init__()
        if len(self.checkpoint) != 1:
            raise BertClsError(
                f"bert-cls import takes one checkpoint, got {len(self.checkpoint)}: bert-cls import CHECKPOINT --output-dir RUN"
            )
