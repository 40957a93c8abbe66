"""A float32 and a bfloat16 export of the same fine-tuned model, on reviews neither training nor the export's own
check has read: label agreement, accuracy of each, largest probability difference, texts/s.

``nsmc-small`` is fine-tuned on 2,000 reviews of ``ratings_train.txt`` (the quickstart's recipe: 2 epochs, max
length 128, learning rate 1e-4), exported with ``--precision float32`` and ``--precision bfloat16``, and both
SavedModels (loaded as ``tf.saved_model.load`` loads them) classify 2,000 other reviews of the file, in
length-sorted batches of 64. Writes ``bench/precision_agreement.json``.

    python -m bert_cls.bench.precision_agreement [--nsmc ../shared/nsmc/ratings_train.txt]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the repository
SEED = 20261207
TRAIN, HELD_OUT = 2000, 2000


def write_tsv(path: Path, header: str, rows) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def classify(export_path: str, texts) -> tuple:
    """(probabilities in input order, texts/s) of an export's serving_default over length-sorted batches."""
    import tensorflow as tf

    from bert_cls.serving.precision import sorted_probabilities

    serving = tf.saved_model.load(export_path).signatures["serving_default"]
    return sorted_probabilities(lambda batch: serving(text=batch), texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsmc", default=str(ROOT.parent / "shared/nsmc/ratings_train.txt"))
    parser.add_argument("--output", default=str(ROOT / "bench/precision_agreement.json"))
    args = parser.parse_args()

    from bert_cls import hardware
    from bert_cls.json_files import write_json
    from bert_cls.modeling.classifier import BertClassifier, read_check_texts
    from bert_cls.serving.export import export_classifier
    from bert_cls.training.config import TrainConfig
    from bert_cls.training.run import train

    lines = Path(args.nsmc).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [r for r in lines[1:] if len(r.split("\t")) == 3 and r.split("\t")[1].strip()]
    random.Random(SEED).shuffle(rows)
    train_rows, held_out = rows[:TRAIN], rows[TRAIN : TRAIN + HELD_OUT]
    texts = [r.split("\t")[1] for r in held_out]
    labels = np.array([int(r.split("\t")[2]) for r in held_out])
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        config = TrainConfig(
            output_dir=str(work / "run"),
            train_file=str(write_tsv(work / "train.tsv", header, train_rows)),
            pretrained="nsmc-small",
            epochs=2,
            max_length=128,
            learning_rate=1e-4,
            batch_size=32,
            verbose=0,
            label_names="0,1",
        )
        result = train(config)
        classifier = BertClassifier.load(config.output_dir)
        check = read_check_texts(config.output_dir)
        exports = {}
        for precision in ("float32", "bfloat16"):
            report = export_classifier(classifier, work / precision, precision=precision, check_texts=check)
            probabilities, speed = classify(report["path"], texts)
            exports[precision] = {
                "probabilities": probabilities,
                "accuracy": float((probabilities.argmax(-1) == labels).mean()),
                "texts_per_second": speed,
                "export_check": report["precision"],
            }
    p32, p16 = exports["float32"]["probabilities"], exports["bfloat16"]["probabilities"]
    result_json = {
        "cpu": hardware.describe(),
        "checkpoint": "nsmc-small",
        "train_reviews": TRAIN,
        "held_out_reviews": HELD_OUT,
        "validation_accuracy": result.metrics["validation"]["accuracy"],
        "label_agreement": float((p32.argmax(-1) == p16.argmax(-1)).mean()),
        "max_probability_difference": float(np.abs(p32 - p16).max()),
        **{precision: {k: v for k, v in figures.items() if k != "probabilities"} for precision, figures in exports.items()},
    }
    result_json["accuracy_difference_points"] = 100 * (result_json["bfloat16"]["accuracy"] - result_json["float32"]["accuracy"])
    write_json(Path(args.output), result_json)
    print(
        f"labels agree on {result_json['label_agreement']:.2%} of {HELD_OUT} held-out reviews; accuracy float32 "
        f"{result_json['float32']['accuracy']:.4f}, bfloat16 {result_json['bfloat16']['accuracy']:.4f}; "
        f"max |p32 - p16| {result_json['max_probability_difference']:.4f}; wrote {args.output}"
    )


if __name__ == "__main__":
    main()
