"""Configs of ``bert-cls quickstart`` and ``bert-cls bench`` (light: no TensorFlow)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg


@dataclasses.dataclass
class QuickstartConfig(cfg.Config):
    """Arguments of ``bert-cls quickstart``."""

    output_dir: str = arg("bert-cls-quickstart", "where everything goes")
    pretrained: str = arg(
        "nsmc-small",
        "the checkpoint to fine-tune: nsmc-small (small Korean BERT shipped with "
        "bert-cls), all-MiniLM-L6-v2 (English: reads Korean as jamo pieces) or any --pretrained value",
    )
    epochs: int = cfg.epochs(2)
    max_train_samples: int = cfg.max_train_samples(2000)
    max_length: int = cfg.max_length(128)
    learning_rate: Optional[float] = arg(
        None,
        "peak learning rate of AdamW (default: the one measured best for the "
        "checkpoint on this sample: 1e-4 for nsmc-small, 5e-5 otherwise)",
        check=cfg.positive,
    )
    overwrite: bool = cfg.overwrite("a previous quickstart in --output-dir")


@dataclasses.dataclass
class ExampleDataConfig(cfg.Config):
    """Arguments of ``bert-cls example-data``."""

    task: str = arg(
        help="pairs (two reviews: same or different sentiment) or multi-label (sentiment + keyword tags)",
        choices=["pairs", "multi-label"],
    )
    output_dir: str = arg("bert-cls-example-data", "where train.csv and test.csv go")
    seed: int = arg(0, "seed for drawing the pairs")
    overwrite: bool = cfg.overwrite("train.csv/test.csv in --output-dir")
