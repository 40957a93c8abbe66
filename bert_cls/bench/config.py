"""Arguments of ``bert-cls bench`` and ``bert-cls gpu-check`` (light: no TensorFlow, so ``--help`` is fast)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg


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
