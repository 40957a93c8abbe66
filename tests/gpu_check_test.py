"""``bert-cls gpu-check``: its refusal without a GPU, and its whole logic on the CPU with --dry-run and tiny encoders."""

import json
import subprocess
import sys

import pytest


def test_gpu_check_refuses_in_one_line_without_a_gpu(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bert_cls", "gpu-check", "--output", str(tmp_path / "g.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("error: TensorFlow sees no GPU")
    assert "--dry-run" in run.stderr
    assert not (tmp_path / "g.json").exists()


@pytest.mark.slow
def test_gpu_check_dry_run_reports_every_encoder_and_precision(tmp_path, tiny_checkpoint):
    from bert_cls.bench.config import GpuCheckConfig
    from bert_cls.bench.gpu_check import MODES, run_gpu_check

    output = tmp_path / "gpu.json"
    config = GpuCheckConfig(
        pretrained=str(tiny_checkpoint),
        max_length=16,
        batch_size=4,
        steps=2,
        num_texts=64,
        latency_samples=3,
        dry_run=True,
        output=str(output),
    )
    result = run_gpu_check(config)
    assert json.loads(output.read_text()) == json.loads(json.dumps(result))
    (card,) = result["cards"]
    assert card["device"] == "CPU (dry run)" and card["matmul_flops"]["float32"] > 0
    for encoder in ("minilm", "bert-base"):
        runs = card[encoder]["training"]
        assert [r["mode"] for r in runs] == [m[0] for m in MODES]
        assert all(r["examples_per_second"] > 0 and 0 < r["mfu"] for r in runs)
        inference = card[encoder]["inference"]
        assert inference["texts"] == 64 and inference["max_abs_diff"] < 1e-5  # sorted == file order
        assert inference["latency_ms"]["p50"] > 0
    with pytest.raises(Exception, match="exists: pass --overwrite"):
        run_gpu_check(config)
