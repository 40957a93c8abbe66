"""``bert-cls bench``: this package's pipeline against the reference notebook's, on one machine, in one process.

Measured on the same checkpoint and the same NSMC reviews:

* tokenization: one ``encode_plus`` per review in a Python loop (notebook) vs the in-graph batched tokenizer;
* training: pre-tokenized, padded to ``max_length``, subclassed model (notebook) vs in-graph tokenization with
  per-batch padding and length bucketing, at the same max length and batch size, plus the speed options
  (XLA, mixed precision) on top of ours;
* inference of the exported SavedModel: batch-64 throughput and single-text latency p50/p99, in process and
  through the local gRPC server;
* the machine's dense matmul FLOP/s, and each training figure as a fraction of it (MFU);
* peak resident memory of this process (training) and of the server;
* against transformers on PyTorch and ONNX Runtime (``epoch``, ``torch_side``): a whole training epoch,
  inference in file order and sorted, single-text latency; the CPU's model and flags with every figure.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from transformers import BertTokenizer

from bert_cls import hardware
from bert_cls.bench import epoch as bench_epoch, op_profile
from bert_cls.bench.config import BenchConfig
from bert_cls.bench.timing import single_text_latency
from bert_cls.data import files as data_files
from bert_cls.data import pipeline
from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint
from bert_cls.modeling.tokenizer import XLA_PAD_MULTIPLE, BertTokenizerLayer
from bert_cls.serving.client import ServingClient
from bert_cls.serving.contract import PROBABILITIES, SERVING_SIGNATURE, TEXT_INPUT
from bert_cls.serving.export import export_classifier
from bert_cls.serving.process import ServerProcess

LABELS = ("negative", "positive")  # the head is never trained here: speed only


def matmul_flops(seconds: float = 3.0, n: int = 2048, dtype=None) -> float:
    """Sustained dense matmul FLOP/s (2n^3 per product), float32 unless ``dtype``."""
    a = tf.random.normal([n, n], dtype=dtype or tf.float32)
    b = tf.random.normal([n, n], dtype=dtype or tf.float32)
    step = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    step(a, b).numpy()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step(a, b).numpy()
        count += 1
    return 2.0 * n**3 * count / (time.perf_counter() - started)


def training_flops_per_token(bert_config, avg_seq_len: float) -> float:
    """Forward+backward FLOPs per token: 6 x non-embedding parameters + attention scores (12·L·H·S)."""
    h, layers, inter = bert_config.hidden_size, bert_config.num_hidden_layers, bert_config.intermediate_size
    params_per_layer = 4 * h * h + 2 * h * inter
    return 6.0 * layers * params_per_layer + 12.0 * layers * h * avg_seq_len


def bench_tokenization(checkpoint, texts, max_length: int) -> dict:
    reference = BertTokenizer(str(checkpoint.vocab_file), do_lower_case=checkpoint.lower_case)
    started = time.perf_counter()
    for text in texts:
        reference.encode_plus(text, max_length=max_length, padding="max_length", truncation=True)
    notebook = len(texts) / (time.perf_counter() - started)

    layer = BertTokenizerLayer(checkpoint.vocabulary(), checkpoint.lower_case, max_length)
    tokenize = tf.function(layer.call)
    batches = [tf.constant(texts[i : i + 1024]) for i in range(0, len(texts), 1024)]
    tokenize(batches[0])
    started = time.perf_counter()
    for batch in batches:
        tokenize(batch)["input_ids"].numpy()
    ours = len(texts) / (time.perf_counter() - started)
    return {"notebook_texts_per_second": notebook, "ours_texts_per_second": ours, "speedup": ours / notebook}


class StepTimer(keras.callbacks.Callback):
    """Wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, warmup_steps: int):
        super().__init__()
        self.warmup_steps = warmup_steps

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.warmup_steps - 1:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


class NotebookModel(keras.Model):
    """The reference notebook's subclassed model: BERT's pooled output, dropout, dense."""

    def __init__(self, bert):
        super().__init__()
        self.bert, self.dropout = bert, keras.layers.Dropout(0.1)
        self.classifier = keras.layers.Dense(2)

    def call(self, inputs, training=False):
        pooled = self.bert(inputs, training=training).pooler_output
        return self.classifier(self.dropout(pooled, training=training))


def _time_fit(model, dataset, steps: int, warmup_steps: int = 2):
    """Seconds for ``steps`` training steps after ``warmup_steps`` (graph tracing excluded)."""
    timer = StepTimer(warmup_steps)
    model.fit(dataset.take(steps + warmup_steps), epochs=1, verbose=0, callbacks=[timer])
    return timer.end - timer.start


def bench_training(checkpoint, dataset, max_length: int, batch_size: int, steps: int, options) -> dict:
    n = (steps + 2) * batch_size
    sample = dataset.subset(np.arange(min(n, len(dataset))))
    texts = list(sample.texts)
    ids = BertTokenizerLayer(checkpoint.vocabulary(), checkpoint.lower_case, max_length)(tf.constant(texts))
    real_tokens_per_example = float(ids["attention_mask"].numpy().sum(1).mean())
    results = {
        "real_tokens_per_example": real_tokens_per_example,
        "batch_size": batch_size,
        "max_length": max_length,
        "steps": steps,
    }
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # The notebook's way: everything padded to max_length up front, a subclassed model.
    encoder = load_encoder(checkpoint)
    padded = {k: np.pad(v.numpy(), ((0, 0), (0, max_length - v.shape[1]))) for k, v in ids.items()}
    notebook_ds = tf.data.Dataset.from_tensor_slices((padded, sample.labels)).batch(batch_size).repeat()
    notebook = NotebookModel(encoder)
    notebook.compile(optimizer=keras.optimizers.Adam(2e-6), loss=loss)
    seconds = _time_fit(notebook, notebook_ds, steps)
    results["notebook"] = {
        "examples_per_second": steps * batch_size / seconds,
        "real_tokens_per_second": steps * batch_size * real_tokens_per_example / seconds,
    }

    for name, jit, policy in options:
        keras.mixed_precision.set_global_policy(policy)
        classifier = BertClassifier.from_checkpoint(checkpoint, LABELS, max_length)
        # repeat before bucketing: every timed batch holds batch_size reviews, as the notebook's do.
        ours_ds = pipeline.make_tf_dataset(
            sample, batch_size, shuffle=True, seed=0, repeat=True, token_lengths=classifier.pipeline_tokenizer().token_lengths
        )
        model = classifier.text_model
        if jit:  # as `bert-cls train --jit-compile` does it
            model = classifier.encoded_model
            ours_ds = pipeline.tokenize_in_pipeline(ours_ds, classifier.pipeline_tokenizer(XLA_PAD_MULTIPLE))
        model.compile(optimizer=keras.optimizers.Adam(2e-6), loss=loss, jit_compile=jit)
        seconds = _time_fit(model, ours_ds, steps)
        results[name] = {
            "examples_per_second": steps * batch_size / seconds,
            "real_tokens_per_second": steps * batch_size * real_tokens_per_example / seconds,
        }
        keras.mixed_precision.set_global_policy("float32")
    results["speedup"] = results["ours"]["examples_per_second"] / results["notebook"]["examples_per_second"]
    return results


def bench_inference(checkpoint, texts, max_length: int, latency_samples: int) -> dict:
    classifier = BertClassifier.from_checkpoint(checkpoint, LABELS, max_length)
    results = {}
    with tempfile.TemporaryDirectory() as base:
        report = export_classifier(classifier, base, model_name="bench")
        results["export_parity_max_abs_diff"] = max(report["max_abs_diff"].values())
        serving = tf.saved_model.load(report["path"]).signatures[SERVING_SIGNATURE]
        # Batch 64 in file order is measured once, by inference_orders (beside the same batches sorted).
        results["batch64_orders"] = bench_epoch.inference_orders(
            lambda batch: serving(**{TEXT_INPUT: batch})[PROBABILITIES].numpy(), texts[:2000]
        )
        # Throughput by batch size, to choose TF Serving's max_batch_size (export/batching_parameters.txt).
        results["examples_per_second_by_batch_size"] = {}
        for size in (1, 8, 16, 32, 64, 128):
            chunk = [tf.constant(texts[i : i + size]) for i in range(0, min(len(texts), 1280) - size + 1, size)][:40]
            serving(**{TEXT_INPUT: chunk[0]})
            started = time.perf_counter()
            for batch in chunk:
                serving(**{TEXT_INPUT: batch})[PROBABILITIES].numpy()
            results["examples_per_second_by_batch_size"][size] = size * len(chunk) / (time.perf_counter() - started)
        results["latency_ms"] = single_text_latency(
            lambda text: serving(**{TEXT_INPUT: tf.constant(text)})[PROBABILITIES].numpy(), texts[:latency_samples]
        )
        results["op_shares"] = {"float32": _op_shares(report["path"], texts)}
        results["bfloat16"] = _bfloat16_export(classifier, base, texts, latency_samples)
        results["op_shares"]["bfloat16"] = results["bfloat16"].pop("op_shares")
        with ServerProcess(base, "bench") as server, ServingClient(server.address, "bench", batch_size=64) as client:
            client.predict(texts[:64])
            results["grpc_latency_ms"] = single_text_latency(client.predict, texts[:latency_samples])
            grpc_texts = texts[: 64 * min(20, len(texts) // 64)]
            started = time.perf_counter()
            client.predict(grpc_texts)
            results["grpc_batch64_examples_per_second"] = len(grpc_texts) / (time.perf_counter() - started)
            results["server_peak_rss_mb"] = _peak_rss_mb(server.process.pid)
    return results


def _op_shares(export_dir, texts) -> dict:
    """Op-type shares of kernel time in one traced batch of 64 mid-length texts (TF Serving's session path)."""
    batch = sorted(texts[:2000], key=len)[1000:1064]
    profile = op_profile.profile_export(export_dir, {TEXT_INPUT: batch})
    return {"texts": len(batch), "traced_seconds": profile.wall_seconds, "shares": profile.shares()}


def _bfloat16_export(classifier, base, texts, latency_samples: int) -> dict:
    """The same classifier exported in bfloat16 (``export --precision bfloat16``): batch 64 sorted, one text."""
    report = export_classifier(classifier, base, model_name="bench", precision="bfloat16", check_texts=(texts[:500], None))
    serving = tf.saved_model.load(report["path"]).signatures[SERVING_SIGNATURE]
    orders = bench_epoch.inference_orders(lambda batch: serving(**{TEXT_INPUT: batch})[PROBABILITIES].numpy(), texts[:2000])
    latency = single_text_latency(
        lambda text: serving(**{TEXT_INPUT: tf.constant(text)})[PROBABILITIES].numpy(), texts[:latency_samples]
    )
    return {
        "precision_check": report["precision"],
        "batch64_orders": orders,
        "latency_ms": latency,
        "op_shares": _op_shares(report["path"], texts),
    }


def _peak_rss_mb(pid=None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_info() -> dict:
    """The CPU's model name and the flags that decide TensorFlow's and PyTorch's kernels."""
    return {"model": hardware.cpu_model(), "flags": hardware.cpu_flags()}


def compare_training(checkpoint, dataset, config: BenchConfig) -> dict:
    """A whole epoch of ``--epoch-texts`` reviews: bert-cls grouped by token length, with its former character
    buckets, and (in its own process) transformers on PyTorch."""
    sample = dataset.subset(np.arange(min(config.epoch_texts, len(dataset))))
    result = {"texts": len(sample), "batch_size": config.batch_size, "max_length": config.max_length}
    for grouping in ("token_length", "characters"):
        result[grouping] = bench_epoch.epoch_speed(checkpoint, sample, LABELS, config.max_length, config.batch_size, grouping)
    result["mixed_bfloat16"] = bench_epoch.epoch_speed(
        checkpoint, sample, LABELS, config.max_length, config.batch_size, "token_length", policy="mixed_bfloat16"
    )
    return result


def compare_pytorch(checkpoint, dataset, config: BenchConfig) -> dict:
    """The PyTorch and ONNX Runtime figures, or why there are none."""
    why_not = bench_epoch.torch_available() if config.compare_pytorch else "--no-compare-pytorch"
    if why_not:
        return {"skipped": why_not}
    sample = dataset.subset(np.arange(min(config.epoch_texts, len(dataset))))
    return bench_epoch.run_torch_side(
        {
            "checkpoint": str(checkpoint.path),
            "lower_case": checkpoint.lower_case,
            "max_length": config.max_length,
            "batch_size": config.batch_size,
            "seed": 0,
            "train_texts": list(sample.texts),
            "train_labels": [int(y) for y in sample.labels],
            "texts": list(dataset.texts[:2000]),
            "latency_texts": list(dataset.texts[: config.latency_samples]),
        }
    )


def run_bench(config: BenchConfig) -> dict:
    checkpoint = resolve_checkpoint(config.pretrained)
    train_file, _, names = data_files.resolve_data_files(config.data, config.train_file, None)
    dataset = data_files.read_dataset(train_file, label_names=names)
    if config.num_texts > len(dataset):
        raise BertClsError(f"--num-texts {config.num_texts} exceeds the {len(dataset)} reviews in {train_file}")
    dataset = dataset.subset(np.random.default_rng(0).permutation(len(dataset))[: config.num_texts])
    gpus = tf.config.list_physical_devices("GPU")
    cpu = cpu_info()
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_count": os.cpu_count(),
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
    }
    print(
        f"benchmarking {checkpoint.name} on {len(dataset)} reviews from {train_file} ({machine['cpu_count']} CPUs: "
        f"{cpu['model']}, {' '.join(cpu['flags']) or 'no AVX2'}; {len(gpus)} GPUs)",
        flush=True,
    )
    result = {"machine": machine, "checkpoint": str(config.pretrained)}
    print("[1/6] dense matmul FLOP/s", flush=True)
    result["matmul_flops"] = matmul_flops()
    print("[2/6] tokenization", flush=True)
    result["tokenization"] = bench_tokenization(checkpoint, dataset.texts, config.max_length)
    print("[3/6] training steps", flush=True)
    options = [("ours", False, "float32")]
    if config.speed_options:
        options += [("ours_xla", True, "float32"), ("ours_mixed_bfloat16", False, "mixed_bfloat16")]
        if gpus:
            options.append(("ours_mixed_float16", False, "mixed_float16"))
    training = bench_training(checkpoint, dataset, config.max_length, config.batch_size, config.steps, options)
    per_token = training_flops_per_token(checkpoint.encoder_config(), training["real_tokens_per_example"])
    for key in ["notebook"] + [name for name, _, _ in options]:
        # MFU counts real tokens: padding work the notebook does is wasted, so it lowers its MFU.
        training[key]["mfu"] = per_token * training[key]["real_tokens_per_second"] / result["matmul_flops"]
    training["mfu"] = training["ours"]["mfu"]
    training["peak_rss_mb"] = _peak_rss_mb()
    result["training"] = training
    print(f"[4/6] a whole training epoch of {config.epoch_texts} reviews after a warm-up epoch", flush=True)
    result["epoch"] = compare_training(checkpoint, dataset, config)
    print("[5/6] inference of the exported SavedModel, in process and through gRPC", flush=True)
    result["inference"] = bench_inference(checkpoint, dataset.texts, config.max_length, config.latency_samples)
    classifier = BertClassifier.from_checkpoint(checkpoint, LABELS, config.max_length)
    result["inference"]["predict_proba"] = bench_epoch.predict_proba_orders(classifier, list(dataset.texts))
    print("[6/6] transformers on PyTorch and ONNX Runtime, in a separate process", flush=True)
    result["pytorch"] = compare_pytorch(checkpoint, dataset, config)
    return result


def _ratio(ours, other, higher_is_better=True) -> str:
    return f"{(ours / other if higher_is_better else other / ours):.2f}x" if ours and other else ""


def _pytorch_rows(result: dict) -> list:
    """Rows against transformers on PyTorch and ONNX Runtime (ratio > 1: bert-cls is faster)."""
    torch_side, epoch, inf = result.get("pytorch", {}), result["epoch"], result["inference"]
    if "skipped" in torch_side or not torch_side:
        return [("PyTorch comparison", "skipped", "", torch_side.get("skipped", "not run"))]
    pt, ort = torch_side["inference"], torch_side["onnx_runtime"]
    ours = epoch["token_length"]
    rows = [
        (
            f"training epoch, {epoch['texts']} reviews (examples/s)",
            f"PyTorch {torch_side['training']['examples_per_second']:.1f}",
            f"{ours['examples_per_second']:.1f}",
            _ratio(ours["examples_per_second"], torch_side["training"]["examples_per_second"]),
        ),
        (
            "  useful token share of that epoch",
            f"PyTorch {torch_side['training']['useful_token_share']:.0%}",
            f"{ours['useful_token_share']:.0%}",
            "",
        ),
        (
            "inference batch 64, file order (texts/s)",
            f"PyTorch {pt['batch64_file_order_texts_per_second']:.0f}",
            f"{inf['batch64_orders']['file_order_texts_per_second']:.0f}",
            _ratio(inf["batch64_orders"]["file_order_texts_per_second"], pt["batch64_file_order_texts_per_second"]),
        ),
        (
            "inference batch 64, sorted (texts/s)",
            f"PyTorch {pt['batch64_sorted_texts_per_second']:.0f}",
            f"{inf['batch64_orders']['sorted_texts_per_second']:.0f}",
            _ratio(inf["batch64_orders"]["sorted_texts_per_second"], pt["batch64_sorted_texts_per_second"]),
        ),
        (
            "single-text latency p50 (ms)",
            f"PyTorch {pt['latency_ms']['p50']:.1f}",
            f"{inf['latency_ms']['p50']:.1f}",
            _ratio(inf["latency_ms"]["p50"], pt["latency_ms"]["p50"], higher_is_better=False),
        ),
    ]
    if "skipped" in ort:
        return rows + [("ONNX Runtime", "skipped", "", ort["skipped"])]
    return rows + [
        (
            "inference batch 64, sorted (texts/s)",
            f"ONNX RT {ort['batch64_sorted_texts_per_second']:.0f}",
            f"{inf['batch64_orders']['sorted_texts_per_second']:.0f}",
            _ratio(inf["batch64_orders"]["sorted_texts_per_second"], ort["batch64_sorted_texts_per_second"]),
        ),
        (
            "single-text latency p50 (ms)",
            f"ONNX RT {ort['latency_ms']['p50']:.1f}",
            f"{inf['latency_ms']['p50']:.1f}",
            _ratio(inf["latency_ms"]["p50"], ort["latency_ms"]["p50"], higher_is_better=False),
        ),
    ]


def _peer_row(measure: str, peer: str, theirs: float, ours: float, digits: int, higher_is_better: bool = True) -> tuple:
    """A table row: measure, the peer's figure, bert-cls's, and the ratio (above 1: bert-cls is faster)."""
    return (measure, f"{peer} {theirs:.{digits}f}", f"{ours:.{digits}f}", _ratio(ours, theirs, higher_is_better))


def _best_setting_rows(result: dict) -> list:
    """Each side at its best setting: bert-cls's mixed_bfloat16 epoch and bfloat16 export against PyTorch's
    bfloat16 autocast and ONNX Runtime's dynamic int8 (ratio > 1: bert-cls is faster)."""
    torch_side, epoch, inf = result.get("pytorch", {}), result["epoch"], result["inference"]
    if "training_bfloat16" not in torch_side or "bfloat16" not in inf or "mixed_bfloat16" not in epoch:
        return []
    sorted64 = inf["bfloat16"]["batch64_orders"]["sorted_texts_per_second"]
    p50 = inf["bfloat16"]["latency_ms"]["p50"]
    peers = [("PyTorch bf16", torch_side["inference_bfloat16"])]
    int8 = torch_side.get("onnx_runtime", {}).get("int8_dynamic")
    if int8:
        peers.append(("ONNX RT int8", int8))
    rows = [
        _peer_row(
            "training epoch, mixed_bfloat16 (examples/s)",
            "PyTorch bf16",
            torch_side["training_bfloat16"]["examples_per_second"],
            epoch["mixed_bfloat16"]["examples_per_second"],
            1,
        )
    ]
    for peer, figures in peers:
        rows += [
            _peer_row(
                "inference batch 64 sorted, bfloat16 (texts/s)", peer, figures["batch64_sorted_texts_per_second"], sorted64, 0
            ),
            _peer_row("single-text latency p50, bfloat16 (ms)", peer, figures["latency_ms"]["p50"], p50, 1, False),
        ]
    return rows


def _training_rows(result: dict) -> list:
    tok, tr, machine = result["tokenization"], result["training"], result["machine"]
    rows = [
        ("CPU", "", machine.get("cpu_model", ""), " ".join(machine.get("cpu_flags", []))),
        (
            "tokenization (texts/s)",
            f"notebook {tok['notebook_texts_per_second']:.0f}",
            f"{tok['ours_texts_per_second']:.0f}",
            f"{tok['speedup']:.1f}x",
        ),
        (
            "training steps (examples/s)",
            f"notebook {tr['notebook']['examples_per_second']:.1f}",
            f"{tr['ours']['examples_per_second']:.1f}",
            f"{tr['speedup']:.2f}x",
        ),
        ("training MFU", f"notebook {tr['notebook']['mfu']:.1%}", f"{tr['ours']['mfu']:.1%}", ""),
    ]
    for name in (n for n in tr if n.startswith("ours_")):
        speed = tr[name]["examples_per_second"]
        ratio = f"{speed / tr['ours']['examples_per_second']:.2f}x vs float32"
        rows.append((f"training steps, {name[5:]} (examples/s)", "", f"{speed:.1f}", ratio))
    return rows


def _epoch_and_batch_rows(result: dict) -> list:
    epoch, inf = result["epoch"], result["inference"]
    before, after, orders, proba = epoch["characters"], epoch["token_length"], inf["batch64_orders"], inf["predict_proba"]
    return [
        (
            f"training epoch, {epoch['texts']} reviews (examples/s)",
            f"char buckets {before['examples_per_second']:.1f}",
            f"{after['examples_per_second']:.1f}",
            _ratio(after["examples_per_second"], before["examples_per_second"]),
        ),
        (
            "  useful token share of that epoch",
            f"char buckets {before['useful_token_share']:.0%}",
            f"{after['useful_token_share']:.0%}",
            "",
        ),
        (
            "inference batch 64 (texts/s)",
            f"file order {orders['file_order_texts_per_second']:.0f}",
            f"{orders['sorted_texts_per_second']:.0f}",
            f"{orders['speedup']:.2f}x sorted",
        ),
        (
            f"predict_proba / evaluate, {proba['texts']} reviews (s)",
            f"file order {proba['file_order_seconds']:.1f}",
            f"{proba['sorted_seconds']:.1f}",
            f"{proba['speedup']:.2f}x sorted",
        ),
    ]


def _serving_rows(result: dict) -> list:
    inf, tr = result["inference"], result["training"]
    local, grpc_ms, by_batch = inf["latency_ms"], inf["grpc_latency_ms"], inf["examples_per_second_by_batch_size"]
    return [
        ("single-text latency p50/p99 (ms)", "", f"{local['p50']:.1f} / {local['p99']:.1f}", "in process"),
        ("single-text latency p50/p99 (ms)", "", f"{grpc_ms['p50']:.1f} / {grpc_ms['p99']:.1f}", "through gRPC"),
        (
            "inference texts/s at batch " + "/".join(map(str, by_batch)),
            "",
            "/".join(f"{v:.0f}" for v in by_batch.values()),
            "",
        ),
        ("peak RSS training / server (MB)", "", f"{tr['peak_rss_mb']:.0f} / {inf['server_peak_rss_mb']:.0f}", ""),
        ("matmul (GFLOP/s)", "", f"{result['matmul_flops'] / 1e9:.0f}", ""),
    ]


def format_table(result: dict) -> str:
    """One table: each row a measure, the reference it is compared with (the notebook's pipeline, transformers on
    PyTorch, ONNX Runtime), bert-cls, and the ratio (above 1: bert-cls is faster)."""
    rows = _training_rows(result) + _epoch_and_batch_rows(result) + _pytorch_rows(result) + _best_setting_rows(result)
    rows += _serving_rows(result)
    header = ("measure", "reference", "bert-cls", "ratio")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def run_and_report(config: BenchConfig) -> dict:
    """``bert-cls bench``: runs, prints the table and writes ``--output``."""
    output = Path(config.output) if config.output else None
    if output and output.exists() and not config.overwrite:
        raise BertClsError(f"--output {output} exists: pass --overwrite or another path")
    result = run_bench(config)
    print(format_table(result))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_json(output, result)
        print(f"wrote {output}")
    return result
