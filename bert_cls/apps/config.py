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
class BenchConfig(cfg.Config):
    """Arguments of ``bert-cls bench``."""

    pretrained: str = cfg.pretrained("all-MiniLM-L6-v2")
    data: str = cfg.data("sample")
    train_file: Optional[str] = arg(None, "TSV of reviews instead of --data")
    num_texts: int = arg(3000, "reviews for tokenization and inference", check=cfg.at_least(64))
    max_length: int = cfg.max_length(128, "same for both pipelines")
    batch_size: int = cfg.batch_size(32, "training batch size")
    steps: int = arg(15, "timed training steps per pipeline", check=cfg.at_least(1))
    latency_samples: int = arg(200, "single-text requests timed", check=cfg.at_least(1))
    epoch_texts: int = arg(640, "reviews in the timed whole training epoch (bert-cls and PyTorch)", check=cfg.at_least(1))
    speed_options: bool = arg(True, "also time XLA and mixed precision")
    compare_pytorch: bool = arg(True, "also run transformers on PyTorch and ONNX Runtime (when importable) in a separate process")
    output: Optional[str] = arg(None, "write the results as JSON here")
    overwrite: bool = cfg.overwrite("an existing --output")


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


@dataclasses.dataclass
class GpuCheckConfig(cfg.Config):
    """Arguments of ``bert-cls gpu-check``."""

    pretrained: str = cfg.pretrained("all-MiniLM-L6-v2")
    max_length: int = cfg.max_length(128, "every training batch is padded to this")
    batch_size: int = cfg.batch_size(32, "training batch size")
    steps: int = arg(30, "timed training steps per encoder and precision (after 3 warm-up steps)", check=cfg.at_least(1))
    num_texts: int = arg(2000, "bundled sample reviews to train and infer on", check=cfg.at_least(64))
    latency_samples: int = arg(100, "single-text requests timed", check=cfg.at_least(1))
    dry_run: bool = arg(
        False,
        "run on the CPU with tiny encoders (2 layers, hidden 32; MiniLM stays --pretrained) "
        "to check the script; the numbers mean nothing",
    )
    output: Optional[str] = arg(None, "write the results as JSON here")
    overwrite: bool = cfg.overwrite("an existing --output")
