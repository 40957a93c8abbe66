"""Parity of each encoder family against transformers, on the tiny checkpoints the family tests make.

Per family: how many of the 5,000 bundled reviews plus the hard strings (single texts at max length 16 and 128,
1,500 pairs at 24 and 61) get ids other than the checkpoint's transformers tokenizer's (``use_fast=False``), and of
those how many are ties between equally scored SentencePiece segmentations; and for ``bert-cls import`` of a
``*ForSequenceClassification`` checkpoint, the largest probability difference between its export (TF 2 loader)
and transformers' TensorFlow classifier on the same texts, in one batch of mixed lengths and one text at a time.
Writes ``bench/families_parity.json``.

    python -m bert_cls.bench.families_parity
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
sys.path.insert(0, str(ROOT / "tests"))  # the tiny-checkpoint factory and reference helpers the family tests use

import numpy as np  # noqa: E402
from families_test import IMPORTS, _expected, _ids, _reference_probabilities, _tie  # noqa: E402
from family_checkpoints import FAMILIES, HARD_STRINGS, make_checkpoint, sample_texts  # noqa: E402

TEXTS = [
    "good movie",
    "정말 재밌게 봤어요. 배우들 연기가 최고!",
    "",
    "지루하다 " * 20,
    "1,500원 ＡＢＣ 😀",
    "ㅋㅋㅋㅋㅋㅋ 진짜..... 최악.......",
]


def tokenizer_parity(checkpoint: Path) -> dict:
    from transformers import AutoTokenizer

    from bert_cls import load_tokenizer

    reference = AutoTokenizer.from_pretrained(str(checkpoint), use_fast=False)
    texts = sample_texts() + HARD_STRINGS
    first, second = texts[:1500], texts[1500:3000][::-1]
    counts = {"compared": 0, "differing": 0, "ties": 0}
    for these, pairs, lengths in ((texts, None, (16, 128)), (first, second, (24, 61))):
        for max_length in lengths:
            layer = load_tokenizer(str(checkpoint), max_length=max_length)
            got = _ids(layer, these, pairs)
            expected = _expected(reference, these, pairs, max_length, layer.token_type_ids)
            for a, b in zip(got, expected):
                counts["compared"] += 1
                if a != b:
                    counts["ties" if _tie(reference, a, b) else "differing"] += 1
    return counts


def import_parity(model_type: str, work: Path) -> dict:
    from bert_cls.cli import main
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.keras_compat import tf
    from bert_cls.serving.export import export_classifier

    labels, multi_label = IMPORTS[model_type]
    checkpoint = make_checkpoint(work / "hf", model_type, classifier_labels=labels, multi_label=multi_label)
    main(["import", str(checkpoint), "--output-dir", str(work / "run"), "--max-length", "64"])
    export_classifier(BertClassifier.load(work / "run"), work / "base", model_name="parity")
    serve = tf.saved_model.load(str(work / "base" / "1")).signatures["serving_default"]
    expected = _reference_probabilities(checkpoint, TEXTS, multi_label)
    batch = serve(text=tf.constant(TEXTS))["probabilities"].numpy()
    single = np.concatenate([serve(text=tf.constant([t]))["probabilities"].numpy() for t in TEXTS])
    return {
        "labels": len(labels),
        "multi_label": multi_label,
        "max_abs_diff_batch": float(np.abs(batch - expected).max()),
        "max_abs_diff_one_at_a_time": float(np.abs(single - expected).max()),
    }


def main() -> int:
    results = {}
    for model_type in FAMILIES:
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            results[model_type] = {
                "tokenizer": tokenizer_parity(make_checkpoint(work / "encoder", model_type)),
                "import": import_parity(model_type, work),
            }
        print(model_type, results[model_type], flush=True)
    (ROOT / "bench" / "families_parity.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
