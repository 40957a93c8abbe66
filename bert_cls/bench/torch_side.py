"""The PyTorch (and ONNX Runtime) side of ``bert-cls bench``, run in its own process.

TensorFlow and PyTorch in one process crash, so ``bert-cls bench`` starts this module with
``python -m bert_cls.bench.torch_side``, writes a JSON request to its stdin and reads a JSON result from its
stdout. It never imports TensorFlow (``USE_TF=0`` before transformers loads).

What it measures is what a user of Hugging Face transformers on PyTorch would run instead, on the same
checkpoint and texts as bert-cls's side of the bench:

* each in float32 and under bfloat16 autocast (PyTorch's best setting on CPUs with native bfloat16);
* a whole training epoch after a warm-up epoch: fast tokenizer (texts tokenized once up front, as
  ``datasets.map`` does), padding per batch (``DataCollatorWithPadding``), batches grouped by token length
  with transformers' own ``LengthGroupedSampler`` (``Trainer(group_by_length=True)``), ``torch.optim.AdamW``;
* inference at batch 64, tokenization included, in file order and sorted by length;
* single-text latency p50/p99, tokenization included;
* with ``onnxruntime`` and ``onnx`` importable: the same model exported with ``torch.onnx.export`` and run by
  ONNX Runtime's CPU provider (batch 64 sorted, single-text latency), in float32 and quantized to int8 with
  ``onnxruntime.quantization.quantize_dynamic`` (ONNX Runtime's recipe for encoders on a CPU).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

# Before transformers loads: never TensorFlow here; PyTorch even if the parent (bert_cls) said USE_TORCH=0.
os.environ.update(USE_TF="0", USE_TORCH="1")

import numpy as np  # noqa: E402

from bert_cls.bench.timing import single_text_latency  # noqa: E402
from bert_cls.data import ordering  # noqa: E402


def _batches(order, batch_size):
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _autocast(bfloat16: bool):
    """PyTorch's bfloat16 autocast on the CPU (what ``Trainer(bf16=True)`` uses there), or nothing."""
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext()


def train_epoch(model, tokenizer, texts, labels, batch_size: int, max_length: int, seed: int, bfloat16=False) -> dict:
    """Examples/s of a whole epoch after a warm-up epoch, as ``Trainer(group_by_length=True)`` batches it
    (``bfloat16``: under bfloat16 autocast, as ``Trainer(bf16=True)`` trains on a CPU)."""
    import torch
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    encoded = [tokenizer(t, truncation=True, max_length=max_length) for t in texts]
    for item, label in zip(encoded, labels):
        item["labels"] = int(label)
    lengths = [len(item["input_ids"]) for item in encoded]
    collate = DataCollatorWithPadding(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    model.train()
    seconds = []
    for epoch in range(2):
        generator = torch.Generator().manual_seed(seed + epoch)
        sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
        started = time.perf_counter()
        order = list(sampler)
        computed = 0
        for indices in _batches(order, batch_size):
            batch = collate([encoded[i] for i in indices])
            computed += batch["input_ids"].numel()
            with _autocast(bfloat16):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        seconds.append(time.perf_counter() - started)
    return {
        "examples_per_second": len(texts) / seconds[1],
        "epoch_seconds": seconds[1],
        "warmup_epoch_seconds": seconds[0],
        "useful_token_share": sum(lengths) / computed,
    }


def _throughput(predict, texts, batch_size: int, sort: bool) -> float:
    # The same length-sorted batches bert-cls's side runs (ordering is NumPy only: no TensorFlow here).
    batches = list(ordering.sorted_batches(texts, batch_size)) if sort else _batches(range(len(texts)), batch_size)
    predict([texts[i] for i in batches[0]])  # warm-up
    started = time.perf_counter()
    for indices in batches:
        predict([texts[i] for i in indices])
    return len(texts) / (time.perf_counter() - started)


def inference(model, tokenizer, texts, latency_texts, max_length: int, bfloat16: bool = False) -> dict:
    import torch

    model.eval()

    def predict(batch):
        with torch.inference_mode(), _autocast(bfloat16):
            inputs = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            return torch.softmax(model(**inputs).logits.float(), -1).numpy()

    return {
        "batch64_file_order_texts_per_second": _throughput(predict, texts, 64, sort=False),
        "batch64_sorted_texts_per_second": _throughput(predict, texts, 64, sort=True),
        "latency_ms": single_text_latency(predict, latency_texts),
    }


def onnx_runtime(model, tokenizer, texts, latency_texts, max_length: int) -> dict:
    """The same model through ONNX Runtime's CPU provider; {} with the reason when it is not installed."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime
    except ImportError as error:
        return {"skipped": f"onnxruntime or onnx is not importable ({error}): pip install onnxruntime onnx"}
    import torch

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tokenizer(["example text"], return_tensors="pt")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.onnx")
        model.eval()
        torch.onnx.export(
            model,
            tuple(example[k] for k in names),
            path,
            input_names=names,
            output_names=["logits"],
            dynamic_axes={k: {0: "batch", 1: "sequence"} for k in names},
            opset_version=17,
            dynamo=False,
        )
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        # ONNX Runtime's own int8 recipe for transformer encoders on a CPU: dynamic quantization of the weights.
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = os.path.join(directory, "model.int8.onnx")
        quantize_dynamic(path, int8_path, weight_type=QuantType.QInt8)
        int8_session = onnxruntime.InferenceSession(int8_path, providers=["CPUExecutionProvider"])

    def predictor(runner):
        def predict(batch):
            inputs = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="np")
            logits = runner.run(None, {k: inputs[k].astype(np.int64) for k in names})[0]
            exp = np.exp(logits - logits.max(-1, keepdims=True))
            return exp / exp.sum(-1, keepdims=True)

        return predict

    result = {"version": onnxruntime.__version__}
    for key, runner in (("float32", session), ("int8_dynamic", int8_session)):
        predict = predictor(runner)
        result[key] = {
            "batch64_sorted_texts_per_second": _throughput(predict, texts, 64, sort=True),
            "latency_ms": single_text_latency(predict, latency_texts),
        }
    # the float32 figures also at the top level, where bench reports have always read them
    return {**result, **result["float32"]}


def run(request: dict) -> dict:
    import torch
    import transformers
    from transformers import BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(request["seed"])
    checkpoint, max_length = request["checkpoint"], request["max_length"]
    tokenizer = BertTokenizerFast(os.path.join(checkpoint, "vocab.txt"), do_lower_case=request["lower_case"])
    transformers.logging.set_verbosity_error()  # "newly initialized: classifier": a fresh head, as ours
    model = BertForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    result = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads()}
    epoch = (request["train_texts"], request["train_labels"], request["batch_size"], max_length, request["seed"])
    result["training"] = train_epoch(model, tokenizer, *epoch)
    result["training_bfloat16"] = train_epoch(model, tokenizer, *epoch, bfloat16=True)
    result["inference"] = inference(model, tokenizer, request["texts"], request["latency_texts"], max_length)
    result["inference_bfloat16"] = inference(
        model, tokenizer, request["texts"], request["latency_texts"], max_length, bfloat16=True
    )
    result["onnx_runtime"] = onnx_runtime(model, tokenizer, request["texts"], request["latency_texts"], max_length)
    return result


def main() -> int:
    request = json.load(sys.stdin)
    json.dump(run(request), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
