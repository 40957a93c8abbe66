"""``bert-cls bench``: its PyTorch/ONNX Runtime side in a separate process, and its table from a committed result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MAKE_TORCH_CHECKPOINT = """
import os, sys
os.environ.update(USE_TF="0", USE_TORCH="1")
import torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
config = BertConfig(vocab_size=int(sys.argv[2]), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=64)
BertModel(config).save_pretrained(sys.argv[1])
"""


@pytest.mark.slow
def test_pytorch_side_runs_in_its_own_process_on_a_tiny_checkpoint(tmp_path, vocab):
    pytest.importorskip("torch", reason="the PyTorch side needs PyTorch: pip install -e '.[minilm,bench]'")
    from bert_cls.bench import epoch as bench_epoch

    vocabulary = vocab()
    (tmp_path / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("USE_TORCH", "USE_TF")}
    subprocess.run(
        [sys.executable, "-c", MAKE_TORCH_CHECKPOINT, str(tmp_path), str(len(vocabulary))], env=env, check=True, timeout=300
    )
    words = ["good movie", "bad", "the movie was good " * 5, "정말 재밌다", "abc " * 12]
    texts = [words[i % 5] + f" {i}" for i in range(70)]
    result = bench_epoch.run_torch_side(
        {
            "checkpoint": str(tmp_path),
            "lower_case": True,
            "max_length": 16,
            "batch_size": 4,
            "seed": 0,
            "train_texts": texts[:24],
            "train_labels": [i % 2 for i in range(24)],
            "texts": texts,
            "latency_texts": texts[:5],
        }
    )
    training = result["training"]
    assert training["examples_per_second"] > 0 and 0 < training["useful_token_share"] <= 1
    inference = result["inference"]
    assert inference["batch64_file_order_texts_per_second"] > 0 and inference["batch64_sorted_texts_per_second"] > 0
    assert inference["latency_ms"]["p99"] >= inference["latency_ms"]["p50"] > 0
    onnx = result["onnx_runtime"]
    try:
        import onnx as _onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        assert "pip install onnxruntime onnx" in onnx["skipped"]
    else:
        assert onnx["latency_ms"]["p50"] > 0 and onnx["batch64_sorted_texts_per_second"] > 0


def test_pytorch_side_failure_is_one_line(tmp_path):
    from bert_cls.bench import epoch as bench_epoch
    from bert_cls.errors import BertClsError

    with pytest.raises(BertClsError, match="the PyTorch side of the bench failed: .*"):
        bench_epoch.run_torch_side({"checkpoint": str(tmp_path / "missing")})


def test_table_of_the_committed_result_states_the_cpu_and_the_ratios():
    from bert_cls.bench.speed import format_table

    result = json.loads((ROOT / "bench" / "minilm_2core_cpu.json").read_text())
    table = format_table(result)
    assert result["machine"]["cpu_model"] in table.splitlines()[2]
    ours = result["epoch"]["token_length"]["examples_per_second"]
    torch_side = result["pytorch"]["training"]["examples_per_second"]
    epoch_rows = [line for line in table.splitlines() if line.startswith("training epoch") and "PyTorch" in line]
    assert epoch_rows and epoch_rows[0].rstrip().endswith(f"{ours / torch_side:.2f}x")
    skipped = dict(result, pytorch={"skipped": "torch not installed"})
    assert "torch not installed" in format_table(skipped)


def _latency_floor():
    from bert_cls.bench import latency_floor

    return latency_floor


def test_latency_floor_runs_the_same_chain_in_tensorflow_onnx_runtime_and_tflite():
    pytest.importorskip("onnxruntime")  # the bench and test extras install it
    import numpy as np
    from transformers import BertConfig

    floor = _latency_floor()
    shapes = floor.dense_shapes(BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2))
    assert shapes == ([(32, 32)] * 4 + [(32, 64), (64, 32)]) * 2
    assert floor.chain_flops(shapes, 3) == 2 * 3 * (4 * 32 * 32 + 2 * 32 * 64) * 2
    rng = np.random.default_rng(1)
    weights = [(rng.standard_normal(s) * 0.2).astype(np.float32) for s in shapes]
    x = rng.standard_normal((5, 32)).astype(np.float32)
    expected = x
    for w in weights:
        expected = expected @ w
    import tensorflow as tf

    np.testing.assert_allclose(floor.tensorflow_chain(weights, tf.float32)(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(floor.onnx_chain(weights)(x), expected, rtol=1e-4, atol=1e-5)
    lite = floor.tflite_chain(weights)
    np.testing.assert_allclose(lite(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lite(x[:2]), expected[:2], rtol=1e-4, atol=1e-5)  # resized to another length


def test_latency_floor_table_of_the_committed_result():
    floor = _latency_floor()
    result = json.loads((ROOT / "bench" / "latency_floor.json").read_text())
    table = floor.format_table(result)
    assert result["cpu"]["model"] in table
    assert [row["tokens"] for row in result["rows"]] == list(floor.TOKENS)
    for row in result["rows"]:
        assert f"{row['tensorflow_over_onnxruntime']:.2f}x" in table


def test_latency_floor_classifier_on_ids_agrees_between_tensorflow_and_tflite(tiny_checkpoint):
    result = _latency_floor().classifier_on_ids(
        str(tiny_checkpoint), ["good movie", "최악이고 지루한 영화 " * 3, "a", "the plot was thin"] * 6, repeats=24, max_length=32
    )
    assert result["reviews"] == 24 and result["mean_tokens"] > 3
    assert result["max_probability_difference"] < 1e-5
    assert result["tensorflow p50 ms"] > 0 and result["tensorflow lite p50 ms"] > 0


def test_pretraining_curve_plots_each_objective_against_its_budget(tmp_path):
    from bert_cls.bench.pretrain_nsmc import chosen_runs, plot_curve, pretraining_record

    run = tmp_path / "electra-1h"
    run.mkdir()
    (run / "pretrain_metrics.json").write_text(json.dumps({"steps": 6300, "pretraining_seconds": 3600.0, "cpu": "x"}))
    record = pretraining_record(str(run), 1.0)
    assert record == {"budget_hours": 1.0, "objective": "mlm", "steps": 6300, "pretraining_seconds": 3600.0, "cpu": "x"}

    def entry(objective, hours, accuracy, validation=0.8):
        pretraining = {"budget_hours": hours, "objective": objective}
        return {"train_reviews": 20000, "test_accuracy": accuracy, "validation_accuracy": validation, "pretraining": pretraining}

    # Of one budget's learning rates, the one best on validation, whatever its test accuracy
    rates = [entry("electra", 1, 0.80, 0.81), entry("electra", 1, 0.82, 0.84), entry("electra", 1, 0.83, 0.83)]
    assert chosen_runs(rates + [entry("mlm", 1, 0.7)]) == [rates[1], entry("mlm", 1, 0.7)]
    results = {"tfidf_20000": {"test_accuracy": 0.845}, "a": entry("mlm", 1, 0.83), "b": entry("electra", 1, 0.85)}
    png = plot_curve(results, tmp_path / "curve.png")
    assert png.stat().st_size > 5000
    with pytest.raises(SystemExit, match="no fine-tuning result with a pretraining budget"):
        plot_curve({"tfidf_20000": {"test_accuracy": 0.845}}, tmp_path / "none.png")
