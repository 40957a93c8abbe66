"""Multi-worker training with tf.distribute.MultiWorkerMirroredStrategy: two CPU workers on loopback."""

import json
import os
import subprocess
import sys

import pytest

from bert_cls.serving.process import free_port


def run_two_workers(command: list) -> list:
    """Runs ``bert-cls COMMAND`` as two workers of one cluster on loopback; returns their outputs (both exit 0)."""
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config)}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bert_cls", *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    try:
        outputs = [p.communicate(timeout=400)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p in processes:
        assert p.returncode == 0, "\n=====\n".join(o[-3000:] for o in outputs)
    return outputs


@pytest.mark.slow
def test_two_workers_train_and_the_chief_writes_a_usable_model(tmp_path, tiny_tsv, tiny_checkpoint):
    """Two training files, so each worker reads its own (the per-file sharding of streamed data)."""
    lines = tiny_tsv[0].read_text(encoding="utf-8").splitlines(keepends=True)
    half = (len(lines) + 1) // 2
    parts = [tmp_path / "part-0.tsv", tmp_path / "part-1.tsv"]
    parts[0].write_text("".join(lines[:half]), encoding="utf-8")
    parts[1].write_text(lines[0] + "".join(lines[half:]), encoding="utf-8")
    out = tmp_path / "run"
    outputs = run_two_workers(
        [
            "train",
            "--strategy",
            "multi-worker",
            "--train-file",
            str(tmp_path / "part-*.tsv"),
            "--pretrained",
            str(tiny_checkpoint),
            "--label-names",
            "negative,positive",
            "--output-dir",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--max-length",
            "16",
            "--verbose",
            "2",
        ]
    )
    # Each worker reports the global batch split across 2 replicas, one per worker.
    for output in outputs:
        assert "2 replicas in sync" in output
    chief_history = (out / "history.csv").read_text().splitlines()
    worker_history = (out / ".worker-1" / "history.csv").read_text().splitlines()
    assert len(chief_history) == len(worker_history) == 3  # header + 2 epochs on both workers
    assert (out / "metrics.json").is_file() and not (out / ".worker-1" / "metrics.json").exists()

    from bert_cls.cli import main

    assert main(["evaluate", "--model", str(out), "--test-file", str(tiny_tsv[1])]) == 0
    assert main(["export", "--model", str(out), "--export-dir", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_two_workers_pretrain_and_the_chief_writes_the_checkpoint(tmp_path, tiny_tsv):
    """bert-cls pretrain under MultiWorkerMirroredStrategy: both workers learn the same vocabulary, the chief
    writes the checkpoint, the other worker commits aside."""
    out = tmp_path / "pretrained"
    run_two_workers(
        [
            "pretrain",
            "--strategy",
            "multi-worker",
            "--train-file",
            str(tiny_tsv[0]),
            "--output-dir",
            str(out),
            "--vocab-size",
            "120",
            "--layers",
            "1",
            "--hidden-size",
            "16",
            "--heads",
            "2",
            "--max-length",
            "16",
            "--batch-size",
            "8",
            "--max-steps",
            "6",
            "--save-steps",
            "3",
            "--validation-split",
            "0.2",
            "--mixed-precision",
            "no",
            "--verbose",
            "2",
        ]
    )
    chief = json.loads((out / "pretrain_state.json").read_text())
    other = json.loads((out / ".worker-1" / "pretrain_state.json").read_text())
    assert chief["steps_done"] == other["steps_done"] == 6 and chief["finished"]
    # The loss is reduced across the workers: both record the same figures.
    assert [r["val_loss"] for r in chief["history"]] == [r["val_loss"] for r in other["history"]]
    assert (out / "tf_model.h5").is_file() and (out / "README.md").is_file()
    assert not (out / ".worker-1" / "vocab.txt").exists()
