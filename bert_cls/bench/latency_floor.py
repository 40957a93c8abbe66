#!/usr/bin/env python
"""The floor under single-text latency: an encoder's dense-layer matmuls alone, TensorFlow against ONNX Runtime.

    python -m bert_cls.bench.latency_floor --output bench/latency_floor.json

Issue 11 asks for a single-text p50 within 1.5x of ONNX Runtime. A profile of the exported
signature at batch 1 put two thirds of its time in the encoder's dense layers, so this script
isolates them: for each layer of the checkpoint's ``BertConfig`` the four dense layers of one
text in sequence (query, key, value and attention output are hidden x hidden; the feed-forward
pair is hidden x intermediate and back), 6 x 6 = 36 matmuls for MiniLM, each one waiting for
the one before, as in the encoder. The same chain runs as one ``tf.function`` (TensorFlow's
default kernels, oneDNN on x86; float32, and bfloat16 weights) and as one ONNX graph of ``MatMul``
nodes in ONNX Runtime's CPU provider and, converted by ``tf.lite.TFLiteConverter``, in TensorFlow
Lite (XNNPACK), for texts of 1, 20, 45 and 64 tokens. Nothing else of the model runs, so the
TensorFlow row is a lower bound for the exported model's latency on this CPU. Weights are random:
only shapes matter for the time. Memory bandwidth (a NumPy copy of 256 MB) is reported too: at a
few tokens the chain streams every weight once, 4 bytes each.

Then the whole classifier on token ids (encoder and head, the pretrained weights), one review of
the bundled NSMC sample at a time: TensorFlow (a ``tf.function`` of ``encoded_model``) against the
same model converted to TensorFlow Lite, resized to each review's length as TF Serving's
``TfLiteSession`` does, with the largest probability difference between the two.

ONNX Runtime, TensorFlow Lite and TensorFlow share this process (PyTorch is not imported).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import bert_cls  # noqa: F401  (environment for TensorFlow before anything imports it)
from bert_cls import hardware
from bert_cls.data.files import read_dataset, sample_path
from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.pretrained import resolve_checkpoint

TOKENS = (1, 20, 45, 64)


def dense_shapes(bert_config) -> list:
    """(in, out) of every dense matmul one text passes through, in order."""
    hidden, inner = bert_config.hidden_size, bert_config.intermediate_size
    layer = [(hidden, hidden)] * 4 + [(hidden, inner), (inner, hidden)]
    return layer * bert_config.num_hidden_layers


def chain_flops(shapes, tokens: int) -> float:
    return float(sum(2 * tokens * k * n for k, n in shapes))


def time_call(call, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after 20 warm-up calls."""
    for _ in range(20):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def tensorflow_chain(weights, dtype):
    variables = [tf.Variable(tf.cast(w, dtype)) for w in weights]

    chain = tf.function(lambda x: _chain(x, variables))
    return lambda x: chain(tf.cast(x, dtype)).numpy()


def onnx_chain(weights):
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, previous = [], [], "x"
    for i, w in enumerate(weights):
        initializers.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"y{i}"]))
        previous = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "dense_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", weights[0].shape[0]])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["tokens", weights[-1].shape[1]])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def tflite_interpreter(concrete_function, trackable):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], trackable)
    return tf.lite.Interpreter(model_content=converter.convert(), num_threads=os.cpu_count())


def tflite_call(interpreter):
    """``call(*arrays)``: resizes the inputs when their shapes change (as TF Serving's TfLiteSession does)."""
    inputs, output = interpreter.get_input_details(), interpreter.get_output_details()[0]["index"]
    shapes = {}

    def call(*arrays):
        if [a.shape for a in arrays] != [shapes.get(d["index"]) for d in inputs]:
            for detail, array in zip(inputs, arrays):
                interpreter.resize_tensor_input(detail["index"], array.shape)
                shapes[detail["index"]] = array.shape
            interpreter.allocate_tensors()
        for detail, array in zip(inputs, arrays):
            interpreter.set_tensor(detail["index"], array)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return call


def tflite_chain(weights):
    variables = [tf.constant(w) for w in weights]
    chain = tf.function(lambda x: _chain(x, variables), input_signature=[tf.TensorSpec([None, weights[0].shape[0]])])
    return tflite_call(tflite_interpreter(chain.get_concrete_function(), tf.Module()))


def _chain(x, weights):
    # In the encoder query, key and value read the same input; chained here (in every runtime
    # alike) each matmul waits for the one before, as the other three do.
    for w in weights:
        x = tf.linalg.matmul(x, w)
    return x


def classifier_on_ids(pretrained: str, texts, repeats: int, max_length: int = 128) -> dict:
    """p50 of one review at a time through the pretrained classifier on ids, TensorFlow vs TensorFlow Lite."""
    from bert_cls.modeling.classifier import BertClassifier

    classifier = BertClassifier.from_checkpoint(resolve_checkpoint(pretrained), ["negative", "positive"], max_length)
    names = ("input_ids", "attention_mask", "token_type_ids")
    spec = [tf.TensorSpec([1, None], tf.int32, name=n) for n in names]
    probabilities = tf.function(
        lambda *ids: tf.nn.softmax(classifier.encoded_model(dict(zip(names, ids)), training=False)), input_signature=spec
    )
    lite = tflite_interpreter(probabilities.get_concrete_function(), classifier.encoded_model)
    order = [d["name"] for d in lite.get_input_details()]
    lite_call = tflite_call(lite)
    encoded = []
    for text in texts[:repeats]:
        ids = {k: v.numpy() for k, v in classifier.tokenizer(tf.constant([text])).items()}
        encoded.append(([ids[n] for n in names], [ids[next(n for n in names if n in o)] for o in order]))
    runtimes = {"tensorflow": lambda e: probabilities(*e[0]).numpy(), "tensorflow lite": lambda e: lite_call(*e[1])}
    result = {"reviews": len(encoded), "mean_tokens": float(np.mean([e[0][1].sum() for e in encoded]))}
    for name, call in runtimes.items():
        for e in encoded[:20]:
            call(e)
        times = []
        for e in encoded:
            started = time.perf_counter()
            call(e)
            times.append(time.perf_counter() - started)
        result[f"{name} p50 ms"] = float(np.median(times) * 1000)
    result["max_probability_difference"] = float(
        max(np.abs(runtimes["tensorflow"](e) - runtimes["tensorflow lite"](e)).max() for e in encoded[:50])
    )
    print(json.dumps(result), flush=True)
    return result


def memory_bandwidth_gb_s(megabytes: int = 256) -> float:
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    seconds = time_call(lambda: np.copyto(target, source), 10)
    return 2 * source.nbytes / seconds / 1e9  # read + write


def run(pretrained: str, repeats: int) -> dict:
    bert_config = resolve_checkpoint(pretrained).bert_config()
    shapes = dense_shapes(bert_config)
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((k, n)) * 0.02).astype(np.float32) for k, n in shapes]
    runtimes = {
        "tensorflow float32": tensorflow_chain(weights, tf.float32),
        "tensorflow bfloat16 weights": tensorflow_chain(weights, tf.bfloat16),
        "onnxruntime float32": onnx_chain(weights),
        "tflite float32": tflite_chain(weights),
    }
    rows = []
    for tokens in TOKENS:
        x = rng.standard_normal((tokens, shapes[0][0])).astype(np.float32)
        row = {"tokens": tokens, "ms": {}, "gflop_per_s": {}}
        for name, call in runtimes.items():
            seconds = time_call(lambda: call(x), repeats)
            row["ms"][name] = seconds * 1000
            row["gflop_per_s"][name] = chain_flops(shapes, tokens) / seconds / 1e9
        row["tensorflow_over_onnxruntime"] = row["ms"]["tensorflow float32"] / row["ms"]["onnxruntime float32"]
        print(json.dumps(row), flush=True)
        rows.append(row)
    import onnxruntime

    return {
        "cpu": hardware.describe(),
        "pretrained": pretrained,
        "matmuls": len(shapes),
        "weight_megabytes_float32": sum(k * n for k, n in shapes) * 4 / 2**20,
        "memory_bandwidth_gb_s": memory_bandwidth_gb_s(),
        "versions": {"tensorflow": tf.__version__, "onnxruntime": onnxruntime.__version__},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "rows": rows,
        "classifier_on_ids": classifier_on_ids(pretrained, read_dataset(sample_path("test")).texts, repeats),
    }


def format_table(result: dict) -> str:
    names = list(result["rows"][0]["ms"])
    lines = [
        f"{result['matmuls']} dense matmuls of {result['pretrained']} in sequence, median ms "
        f"({result['cpu']['model']}, {' '.join(result['cpu']['flags'])})",
        "tokens | " + " | ".join(names) + " | TF/ORT",
    ]
    for row in result["rows"]:
        cells = [f"{row['ms'][n]:.2f} ({row['gflop_per_s'][n]:.0f} GFLOP/s)" for n in names]
        lines.append(f"{row['tokens']:>6} | " + " | ".join(cells) + f" | {row['tensorflow_over_onnxruntime']:.2f}x")
    lines.append(
        f"weights {result['weight_megabytes_float32']:.1f} MB in float32; "
        f"memory bandwidth {result['memory_bandwidth_gb_s']:.1f} GB/s (NumPy copy)"
    )
    whole = result["classifier_on_ids"]
    lines.append(
        f"whole classifier on ids, one review ({whole['reviews']} NSMC sample reviews, "
        f"{whole['mean_tokens']:.0f} tokens on average), p50: TensorFlow {whole['tensorflow p50 ms']:.2f} ms, "
        f"TensorFlow Lite {whole['tensorflow lite p50 ms']:.2f} ms "
        f"(max probability difference {whole['max_probability_difference']:.1e})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default="all-MiniLM-L6-v2", help="checkpoint whose BertConfig gives the shapes")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per runtime and length")
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    args = parser.parse_args()
    result = run(args.pretrained, args.repeats)
    print(format_table(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
