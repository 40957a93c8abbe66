#!/usr/bin/env python
"""Resident memory of `bert-cls serve` before and after large requests (issue 11, item 4).

    python -m bert_cls.bench.serving_memory --output bench/serving_memory.json
    PYTHONPATH=/path/to/older/checkout python -m bert_cls.bench.serving_memory   # the same on another version's server

Exports all-MiniLM-L6-v2 (fresh 2-class head), starts `bert-cls serve` (gRPC) and reads the server's
VmRSS from /proc: idle after start-up, after one 5,000-review request (the NSMC sample reviews, repeated),
and after one request of about 30 MiB (3,000 texts of 10 KiB, each truncated to 128 tokens in the graph).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bert_cls  # noqa: F401
from bert_cls.data.files import read_dataset, sample_path
from bert_cls.serving.client import ServingClient
from bert_cls.serving.process import ServerProcess
from serving_latency import export_minilm  # bench/ is on sys.path when this runs as a script


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    reviews = read_dataset(sample_path("test")).texts
    work = export_minilm("serving-memory-")
    five_thousand = (reviews * 5)[:5000]
    long_texts = [
        (reviews[k % len(reviews)] + " ") * (10240 // (len(reviews[k % len(reviews)].encode()) + 1) + 1) for k in range(3000)
    ]
    long_texts = [t.encode()[:10240].decode(errors="ignore") for t in long_texts]
    result = {
        "request_mib": {
            "5000_reviews": sum(len(t.encode()) for t in five_thousand) / 2**20,
            "30_mib": sum(len(t.encode()) for t in long_texts) / 2**20,
        }
    }
    with ServerProcess(work / "export", "nsmc", log_file=work / "server.log") as server:
        pid = server.process.pid
        time.sleep(2)
        result["idle_mb"] = rss_mb(pid)
        with ServingClient(server.address, "nsmc", batch_size=100_000, timeout=3600) as client:
            started = time.perf_counter()
            client.predict(five_thousand)
            result["5000_reviews_seconds"] = time.perf_counter() - started
            result["after_5000_reviews_mb"] = rss_mb(pid)
            started = time.perf_counter()
            client.predict(long_texts)
            result["30_mib_seconds"] = time.perf_counter() - started
            result["after_30_mib_mb"] = rss_mb(pid)
    result["ratio_after_30_mib_to_idle"] = result["after_30_mib_mb"] / result["idle_mb"]
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
