"""``bert-cls example-data``: small sentence-pair and multi-label datasets built from the bundled NSMC sample,
so both task kinds have a runnable example offline (README).

* ``pairs``: two reviews per row (``review_a``, ``review_b``), label ``same`` when both have the same
  sentiment, else ``different``; drawn with a seed, half of each.
* ``multi-label``: each review with ``tags``: its sentiment plus ``laughs`` (ㅋ/ㅎ runs), ``acting``
  (연기/배우/연출) and ``story`` (스토리/내용/전개/결말) by keyword. The keyword tags are made up for the
  demonstration: they show the file format and the training path, not a real annotation.

Written with the standard library's ``csv`` module, as UTF-8 CSV that ``bert-cls train`` reads.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

from bert_cls.apps.config import ExampleDataConfig
from bert_cls.data.files import NSMC_LABEL_NAMES, read_dataset, sample_path
from bert_cls.errors import BertClsError

KEYWORD_TAGS = {
    "laughs": re.compile(r"[ㅋㅎ]{2,}"),
    "acting": re.compile(r"연기|배우|연출"),
    "story": re.compile(r"스토리|내용|전개|결말"),
}
SPLITS = ("train", "test")


def pair_rows(texts, labels, n: int, seed: int) -> list:
    """``n`` rows (a, b, same|different), half of each, from reviews with sentiment ``labels``."""
    rng = random.Random(seed)
    by_class = {c: [t for t, y in zip(texts, labels) if y == c] for c in set(labels)}
    rows = []
    for k in range(n):
        if k % 2 == 0:
            pool = by_class[rng.choice(sorted(by_class))]
            rows.append((rng.choice(pool), rng.choice(pool), "same"))
        else:
            neg, pos = (by_class[c] for c in sorted(by_class))
            a, b = rng.choice(neg), rng.choice(pos)
            rows.append((a, b, "different") if rng.random() < 0.5 else (b, a, "different"))
    rng.shuffle(rows)
    return rows


def multi_label_rows(texts, labels) -> list:
    """(review, tags): its sentiment name and the keyword tags it matches, comma-separated."""
    rows = []
    for text, label in zip(texts, labels):
        tags = [NSMC_LABEL_NAMES[label]] + [tag for tag, pattern in KEYWORD_TAGS.items() if pattern.search(text)]
        rows.append((text, ",".join(tags)))
    return rows


def write_example_data(config: ExampleDataConfig) -> dict:
    """Writes ``train.csv`` and ``test.csv`` for ``config.task`` under ``config.output_dir``; returns their paths."""
    out = Path(config.output_dir)
    targets = {split: out / f"{split}.csv" for split in SPLITS}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not config.overwrite:
        raise BertClsError(f"{', '.join(existing)} exists: pass --overwrite or another --output-dir")
    out.mkdir(parents=True, exist_ok=True)
    for split, path in targets.items():
        data = read_dataset(sample_path(split), label_names=NSMC_LABEL_NAMES)
        labels = data.labels.tolist()
        if config.task == "pairs":
            header = ("review_a", "review_b", "label")
            rows = pair_rows(data.texts, labels, len(data) if split == "train" else len(data) // 2, config.seed)
        else:
            header, rows = ("document", "tags"), multi_label_rows(data.texts, labels)
        partial = path.with_suffix(".csv.part")
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        partial.replace(path)
    return {split: str(path) for split, path in targets.items()}
