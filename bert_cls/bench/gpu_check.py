"""``bert-cls gpu-check``: what bert-cls does on each of a machine's GPUs, sized to finish in minutes.

Per card (each in its own process with ``CUDA_VISIBLE_DEVICES`` set to that card, so cards never share one):

* training examples/s and MFU at ``--max-length`` (batches padded to it, as the PyTorch reference figures in
  the README were taken) and ``--batch-size``, for MiniLM (``--pretrained``) and a BERT-base-sized encoder
  (random weights from a ``BertConfig``: 12 layers, hidden 768; no download), in float32 (TF32 on Ampere and
  newer, TensorFlow's default), ``mixed_float16`` and float32 with XLA (``--jit-compile``, how ``bert-cls train``
  runs it: tokenization in the ``tf.data`` pipeline, the step on token ids);
* inference of the exported SavedModel: texts/s at batch 64 in file order and sorted by length, single-text
  latency p50/p99 (tokenization in the graph, as TF Serving runs it).

MFU is the model's FLOPs on the computed token positions over the card's measured dense-matmul rate in the
same precision (float32 and float16 measured separately).

Without a GPU it refuses in one line. ``--dry-run`` runs the same code on the CPU with tiny configs
(2 layers, hidden 32) and a few steps, so its logic is tested in the suite; its numbers mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from transformers import BertConfig

from bert_cls.bench import epoch as bench_epoch
from bert_cls.bench.speed import LABELS, StepTimer, matmul_flops, training_flops_per_token
from bert_cls.bench.config import GpuCheckConfig
from bert_cls.bench.timing import single_text_latency
from bert_cls.data import files as data_files
from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier, ClassifierConfig
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import resolve_checkpoint
from bert_cls.serving.contract import PROBABILITIES, SERVING_SIGNATURE, TEXT_INPUT
from bert_cls.serving.export import export_classifier

CARD_ENV = "BERT_CLS_GPU_CHECK_CARD"  # set in each card's process: run here, on the one visible card
# (name, jit_compile, Keras mixed-precision policy)
MODES = (("float32", False, "float32"), ("mixed_float16", False, "mixed_float16"), ("xla", True, "float32"))
BERT_BASE = {
    "num_hidden_layers": 12,
    "hidden_size": 768,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
}
TINY = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}
WARMUP_STEPS = 3


def random_bert_config(checkpoint, sizes: dict) -> BertConfig:
    """The checkpoint's ``BertConfig`` with other sizes (and its vocabulary's size)."""
    return BertConfig.from_dict(dict(checkpoint.encoder_config().to_dict(), vocab_size=len(checkpoint.vocabulary()), **sizes))


def random_encoder_classifier(checkpoint, sizes: dict, max_length: int) -> BertClassifier:
    """A classifier on a randomly initialized encoder of the given sizes, with the checkpoint's vocabulary."""
    config = ClassifierConfig(
        bert_config=random_bert_config(checkpoint, sizes).to_dict(),
        label_names=list(LABELS),
        lower_case=checkpoint.lower_case,
        max_length=max_length,
    )
    return BertClassifier.from_config(config, checkpoint.vocabulary())


def train_speed(make_classifier, texts, config: GpuCheckConfig, mode) -> dict:
    """Examples/s of ``--steps`` steps after a warm-up, every batch padded to ``--max-length``."""
    name, jit, policy = mode
    keras.mixed_precision.set_global_policy(policy)
    try:
        classifier = make_classifier()
        tokenizer = classifier.pipeline_tokenizer(pad_to_multiple_of=config.max_length)
        steps = config.steps + WARMUP_STEPS
        picks = np.resize(np.arange(len(texts)), steps * config.batch_size)
        ds = tf.data.Dataset.from_tensor_slices(({"text": [texts[i] for i in picks]}, np.resize([0, 1], len(picks))))
        ds = ds.batch(config.batch_size).map(lambda f, y: (tokenizer(f), y)).prefetch(tf.data.AUTOTUNE)
        model = classifier.encoded_model
        model.compile(
            optimizer=keras.optimizers.AdamW(2e-5),
            jit_compile=jit,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        # Slots made now, as `train` makes them: a first step that creates variables is traced twice.
        model.optimizer.build(model.trainable_variables)
        timer = StepTimer(WARMUP_STEPS)
        model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
        seconds = timer.end - timer.start
    finally:
        keras.mixed_precision.set_global_policy("float32")
    examples_per_second = config.steps * config.batch_size / seconds
    return {
        "mode": name,
        "examples_per_second": examples_per_second,
        "tokens_per_second": examples_per_second * config.max_length,
    }


def inference_speed(classifier: BertClassifier, texts, latency_samples: int) -> dict:
    with tempfile.TemporaryDirectory() as base:
        report = export_classifier(classifier, base, model_name="gpu-check", verify=False)
        serving = tf.saved_model.load(report["path"]).signatures[SERVING_SIGNATURE]
        run = lambda batch: serving(**{TEXT_INPUT: batch})[PROBABILITIES].numpy()  # noqa: E731
        result = bench_epoch.inference_orders(run, texts)
        result["latency_ms"] = single_text_latency(lambda text: run(tf.constant(text)), texts[:latency_samples])
    return result


def check_card(config: GpuCheckConfig) -> dict:
    """Every figure for the one card this process sees (the CPU with ``--dry-run``)."""
    checkpoint = resolve_checkpoint(config.pretrained)
    texts = list(data_files.read_dataset(data_files.sample_path("train")).texts[: config.num_texts])
    gpus = tf.config.list_physical_devices("GPU")
    card = {
        "device": (
            tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name) if gpus else "CPU (dry run)"
        ),
        "tensorflow": tf.__version__,
        "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
    }
    seconds = 0.5 if config.dry_run else 3.0
    card["matmul_flops"] = {
        "float32": matmul_flops(seconds, dtype=tf.float32),
        "float16": matmul_flops(seconds, dtype=tf.float16),
    }
    sizes = TINY if config.dry_run else BERT_BASE
    # name: (a fresh classifier per mode, its BertConfig for the FLOP count without building one more)
    encoders = {
        "minilm": (lambda: BertClassifier.from_checkpoint(checkpoint, LABELS, config.max_length), checkpoint.encoder_config()),
        "bert-base": (
            lambda: random_encoder_classifier(checkpoint, sizes, config.max_length),
            random_bert_config(checkpoint, sizes),
        ),
    }
    for name, (make, bert_config) in encoders.items():
        print(f"  {name}: training in {', '.join(m[0] for m in MODES)}; inference of the export", flush=True)
        per_token = training_flops_per_token(bert_config, config.max_length)
        runs = []
        for mode in MODES:
            run = train_speed(make, texts, config, mode)
            peak = card["matmul_flops"]["float16" if mode[2] == "mixed_float16" else "float32"]
            run["mfu"] = per_token * run["tokens_per_second"] / peak
            runs.append(run)
        card[name] = {"training": runs, "inference": inference_speed(make(), texts, config.latency_samples)}
    return card


def _card_processes(count: int, config: GpuCheckConfig) -> list:
    """Runs ``check_card`` once per card, each in a process that sees only that card."""
    cards = []
    for index in range(count):
        with tempfile.TemporaryDirectory() as directory:
            out = Path(directory) / "card.json"
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=str(index), **{CARD_ENV: str(out)})
            args = [
                sys.executable,
                "-m",
                "bert_cls",
                "gpu-check",
                "--pretrained",
                config.pretrained,
                "--max-length",
                str(config.max_length),
                "--batch-size",
                str(config.batch_size),
                "--steps",
                str(config.steps),
                "--num-texts",
                str(config.num_texts),
                "--latency-samples",
                str(config.latency_samples),
            ]
            print(f"card {index}:", flush=True)
            if subprocess.run(args, env=env).returncode != 0:
                raise BertClsError(f"the check of GPU {index} failed (its output is above)")
            cards.append(json.loads(out.read_text()))
    return cards


def format_card(index: int, card: dict) -> str:
    lines = [
        f"GPU {index}: {card['device']} (TensorFlow {card['tensorflow']}, TF32 "
        f"{'on' if card['tf32'] else 'off'}; matmul {card['matmul_flops']['float32'] / 1e12:.1f} TFLOP/s "
        f"float32, {card['matmul_flops']['float16'] / 1e12:.1f} float16)"
    ]
    for name in ("minilm", "bert-base"):
        training = ", ".join(f"{r['mode']} {r['examples_per_second']:.0f}/s (MFU {r['mfu']:.0%})" for r in card[name]["training"])
        inf = card[name]["inference"]
        lines.append(f"  {name}: training {training}")
        lines.append(
            f"  {name}: inference batch 64 {inf['file_order_texts_per_second']:.0f} texts/s in file order, "
            f"{inf['sorted_texts_per_second']:.0f} sorted; one text p50 {inf['latency_ms']['p50']:.1f} ms, "
            f"p99 {inf['latency_ms']['p99']:.1f} ms"
        )
    return "\n".join(lines)


def run_gpu_check(config: GpuCheckConfig) -> dict:
    """``bert-cls gpu-check``: refuses without a GPU (unless ``--dry-run``), prints a summary per card, writes
    ``--output``."""
    output = Path(config.output) if config.output else None
    if output and output.exists() and not config.overwrite:
        raise BertClsError(f"--output {output} exists: pass --overwrite or another path")
    if os.environ.get(CARD_ENV):  # one card's process, started below
        Path(os.environ[CARD_ENV]).write_text(json.dumps(check_card(config)))
        return {}
    if config.dry_run:
        print("dry run: tiny configs on the CPU; the numbers mean nothing", flush=True)
        cards = [check_card(config)]
    else:
        count = len(tf.config.list_physical_devices("GPU"))
        if not count:
            raise BertClsError(
                "TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty): run this on "
                "a machine with an NVIDIA GPU and TensorFlow's CUDA build (pip install 'tensorflow[and-cuda]'), "
                "or pass --dry-run to check the script on the CPU"
            )
        cards = _card_processes(count, config)
    result = {
        "dry_run": config.dry_run,
        "max_length": config.max_length,
        "batch_size": config.batch_size,
        "steps": config.steps,
        "cards": cards,
    }
    print("\n".join(format_card(i, card) for i, card in enumerate(cards)))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_json(output, result)
        print(f"wrote {output}")
    return result
