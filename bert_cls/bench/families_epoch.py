"""Whole-epoch training speed of each encoder family against BERT of the same size.

Tiny random checkpoints of every family (hidden 32, 2 layers, made by ``tests/family_checkpoints.py`` as the
family tests make them: vocabularies and SentencePiece models trained on the bundled sample) fine-tuned for one
epoch on the bundled 4,000-review NSMC sample with ``bert-cls train``'s training (batch 32, max length 64). The
figure is what a user waits for: the wall time of ``train`` (loading, tracing, the epoch, validation), and the
epoch's own examples/s from the run's history; the ratio is against BERT in the same process, same data. Writes
``bench/families_epoch.json`` with the CPU named. A first BERT run warms the process up and is not counted.

    python -m bert_cls.bench.families_epoch [--families bert,electra,...] [--work-dir /tmp/bert-cls-families]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
sys.path.insert(0, str(ROOT / "tests"))  # the tiny-checkpoint factory the family tests use

from family_checkpoints import FAMILIES, make_checkpoint  # noqa: E402

from bert_cls import hardware  # noqa: E402


def one_epoch(model_type: str, work: Path) -> dict:
    from bert_cls.training.config import TrainConfig
    from bert_cls.training.run import train

    checkpoint = make_checkpoint(work / f"{model_type}-checkpoint", model_type)
    output = work / f"{model_type}-run"
    shutil.rmtree(output, ignore_errors=True)
    config = TrainConfig(
        output_dir=str(output),
        data="sample",
        pretrained=str(checkpoint),
        epochs=1,
        batch_size=32,
        max_length=64,
        learning_rate=1e-3,
        verbose=0,
        seed=0,
    )
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    epoch = result.history[0]
    return {
        "wall_seconds": round(wall, 1),
        "epoch_examples_per_second": round(float(epoch["examples_per_second"]), 1),
        "validation_accuracy": float(epoch["val_accuracy"]),
        "train_examples": result.metrics["train_examples"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated model types")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bert-cls-families"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "families_epoch.json")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    families = args.families.split(",")
    if "bert" not in families:
        families.insert(0, "bert")
    results = {
        "cpu": hardware.describe(),
        "recipe": "one epoch, bundled 4,000-review sample (10% validation), batch 32, max length 64, hidden 32, 2 layers",
    }
    one_epoch("bert", args.work_dir)  # warm-up: the process's one-time costs fall on no family's figure
    for model_type in families:
        results[model_type] = one_epoch(model_type, args.work_dir)
        print(model_type, results[model_type], flush=True)
    for model_type in families:
        for key in ("wall_seconds", "epoch_examples_per_second"):
            results[model_type][f"{key}_vs_bert"] = round(results[model_type][key] / results["bert"][key], 2)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
