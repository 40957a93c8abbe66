#!/usr/bin/env python
"""Latency and throughput of `bert-cls serve` over gRPC and REST (issue 10).

    python -m bert_cls.bench.serving_latency --output bench/serving_latency.json

Exports all-MiniLM-L6-v2 with a fresh 2-class head (weights do not change the timing), starts
`bert-cls serve` with gRPC and REST, and measures with NSMC sample reviews, after 50 warm-up calls:
single-text latency (p50/p99 of --requests sequential calls, one review each) through the gRPC client,
the REST client and raw HTTP (requests.post, no bert-cls code), and throughput with --clients concurrent
clients sending single reviews for --seconds. Server and clients share the machine's cores, as a
sidecar client would; the CPU is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

import bert_cls  # noqa: F401
from bert_cls import hardware
from bert_cls.data.files import read_dataset, sample_path
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.modeling.pretrained import resolve_checkpoint
from bert_cls.serving.client import ServingClient
from bert_cls.serving.export import export_classifier
from bert_cls.serving.process import ServerProcess
from bert_cls.serving.rest_client import RestClient


def export_minilm(prefix: str) -> Path:
    """A fresh directory with ``export/1``: all-MiniLM-L6-v2 with a new 2-class head, served as "nsmc"."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    classifier = BertClassifier.from_checkpoint(resolve_checkpoint("all-MiniLM-L6-v2"), ["negative", "positive"])
    export_classifier(classifier, work / "export", model_name="nsmc", verify=False)
    return work


def latencies(call, texts, n) -> dict:
    for text in texts[:50]:
        call(text)
    times = []
    for k in range(n):
        started = time.perf_counter()
        call(texts[k % len(texts)])
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": float(np.mean(times)),
        "requests": n,
    }


def throughput(make_call, texts, clients: int, seconds: float) -> dict:
    counts, errors, stop = [0] * clients, [0] * clients, threading.Event()

    def worker(k):
        call = make_call()
        i = k
        while not stop.is_set():
            try:
                call(texts[i % len(texts)])
                counts[k] += 1
            except Exception:
                errors[k] += 1
            i += clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return {
        "requests_per_second": sum(counts) / seconds,
        "requests": sum(counts),
        "errors": sum(errors),
        "clients": clients,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    texts = read_dataset(sample_path("test")).texts
    work = export_minilm("serving-bench-")
    results = {"cpu": hardware.describe(), "model": "all-MiniLM-L6-v2, max length 128, single reviews of the NSMC sample"}
    with ServerProcess(work / "export", "nsmc", rest=True, log_file=work / "server.log") as server:
        grpc_client = ServingClient(server.address, "nsmc", timeout=60)
        rest_client = RestClient(server.rest_url, "nsmc", timeout=60)
        session = requests.Session()
        url = f"{server.rest_url}/v1/models/nsmc:predict"

        def raw(text):
            response = session.post(url, json={"instances": [text]}, timeout=60)
            response.raise_for_status()

        results["latency"] = {
            "grpc_client": latencies(lambda t: grpc_client.predict([t]), texts, args.requests),
            "rest_client": latencies(lambda t: rest_client.predict([t]), texts, args.requests),
            "rest_raw_http": latencies(raw, texts, args.requests),
        }
        print(json.dumps(results["latency"], indent=2), flush=True)

        def grpc_maker():
            client = ServingClient(server.address, "nsmc", timeout=60)
            return lambda t: client.predict([t])

        def rest_maker():
            client = RestClient(server.rest_url, "nsmc", timeout=60)
            return lambda t: client.predict([t])

        results["throughput"] = {
            "grpc": throughput(grpc_maker, texts, args.clients, args.seconds),
            "rest": throughput(rest_maker, texts, args.clients, args.seconds),
        }
        print(json.dumps(results["throughput"], indent=2), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
