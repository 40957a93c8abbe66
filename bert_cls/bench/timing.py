"""Latency helpers shared by both sides of the bench and by ``gpu-check``; NumPy only.

``torch_side`` runs in a process that must never import TensorFlow, so nothing here imports it.
"""

from __future__ import annotations

import time

import numpy as np


def percentiles(samples_s) -> dict:
    """p50, p99 and mean in milliseconds of durations given in seconds."""
    ms = np.asarray(samples_s) * 1000.0
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def single_text_latency(predict, texts, warmup: int = 5) -> dict:
    """``percentiles`` of ``predict([text])`` for each text, after ``warmup`` untimed calls."""
    for text in texts[:warmup]:
        predict([text])
    samples = []
    for text in texts:
        started = time.perf_counter()
        predict([text])
        samples.append(time.perf_counter() - started)
    return percentiles(samples)
