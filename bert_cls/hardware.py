"""What this machine's CPU offers, read from ``/proc/cpuinfo`` (Linux; elsewhere nothing is detected).

Light: no TensorFlow. Used to choose the training precision (``--mixed-precision auto``) and to name the CPU
beside every speed figure the bench prints.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# The flags that decide TensorFlow's and PyTorch's CPU kernels.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
# Native bfloat16 arithmetic: AVX-512 BF16 or AMX. Without it, bfloat16 is emulated and slower than float32.
BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict:
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    return _cpuinfo().get("model name", platform.processor() or platform.machine())


def cpu_flags() -> list:
    """Those of ``CPU_FLAGS`` this CPU has."""
    flags = set(_cpuinfo().get("flags", "").split())
    return [f for f in CPU_FLAGS if f in flags]


def native_bfloat16() -> str:
    """The flag that gives this CPU native bfloat16 arithmetic, or "" without one."""
    return next((f for f in BFLOAT16_FLAGS if f in cpu_flags()), "")


def describe() -> dict:
    """The CPU as every speed figure names it: model, CPUs this process may use, and the flags that decide kernels."""
    return {"model": cpu_model(), "cpus": len(os.sched_getaffinity(0)), "flags": cpu_flags()}
