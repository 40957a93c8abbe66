"""Reading labelled text files: NSMC-format TSV, the bundled sample and the NSMC download.

A file has a header row and tab-separated columns; by default the text is in
``document`` and the integer class in ``label`` (NSMC's ``id<TAB>document<TAB>label``).
Empty documents are dropped and counted. The bundled sample is drawn from a
rebuild of NSMC made from e9t/nsmc's public CC0 raw crawl (see ``resources/README.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bert_cls.errors import BertClsError

NSMC_URL = "https://raw.githubusercontent.com/e9t/nsmc/master/{name}"
# Git blob SHA-1s of the official files (``git hash-object``), as GitHub lists them.
NSMC_BLOB_SHA1 = {
    "ratings_train.txt": "ac0dba272895dc1d0b3dd5f11afbeaeb7abe7876",
    "ratings_test.txt": "b6cfcd8cd1557bcd9bf06617b0e429ed73e9a367",
}
NSMC_LABEL_NAMES = ("negative", "positive")
SAMPLE_FILES = {"train": "nsmc_sample_train.tsv", "test": "nsmc_sample_test.tsv"}
DEFAULT_CACHE_DIR = Path(os.environ.get("BERT_CLS_CACHE", Path.home() / ".cache" / "bert_cls"))


@dataclasses.dataclass
class TextDataset:
    """Texts with integer class ids ``0..num_labels-1`` and their names."""

    texts: list
    labels: np.ndarray
    label_names: tuple
    source: str = ""
    dropped_empty: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def subset(self, indices) -> "TextDataset":
        indices = np.asarray(indices, dtype=np.int64)
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            label_names=self.label_names,
            source=self.source,
        )


def load_tsv(
    path,
    text_column: str = "document",
    label_column: str = "label",
    label_names: Optional[Sequence[str]] = None,
) -> TextDataset:
    """Reads a header-first TSV file; labels must be integers ``0..K-1``.

    ``label_names`` names the classes in id order; without it the classes are
    named by their integer value.
    """
    path = Path(path)
    if not path.is_file():
        raise BertClsError(f"data file not found: {path} (pass an existing TSV file path)")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = handle.read().splitlines()
    except UnicodeDecodeError as exc:
        raise BertClsError(
            f"{path} is not UTF-8 text (byte {exc.start}): re-encode it, e.g. `iconv -f CP949 -t UTF-8`"
        ) from None
    if not lines:
        raise BertClsError(f"{path} is empty: it needs a header row with '{text_column}' and '{label_column}'")
    header = lines[0].split("\t")
    missing = [c for c in (text_column, label_column) if c not in header]
    if missing:
        raise BertClsError(
            f"{path} has no column {', '.join(repr(c) for c in missing)} in its header {header}: "
            "the file must be tab-separated with a header row (see --text-column/--label-column)"
        )
    text_idx, label_idx = header.index(text_column), header.index(label_column)
    texts, labels, dropped = [], [], 0
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) <= max(text_idx, label_idx):
            raise BertClsError(
                f"{path}:{line_no}: expected {len(header)} tab-separated columns, found {len(fields)}"
            )
        raw_label = fields[label_idx].strip()
        try:
            label = int(raw_label)
        except ValueError:
            raise BertClsError(
                f"{path}:{line_no}: label {raw_label!r} is not an integer class id (labels must be 0..K-1)"
            ) from None
        text = fields[text_idx].strip()
        if not text:
            dropped += 1
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise BertClsError(f"{path} has no non-empty documents")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.min() < 0:
        raise BertClsError(f"{path}: negative label {labels.min()}; labels must be 0..K-1")
    num_labels = int(labels.max()) + 1
    if label_names is not None:
        label_names = tuple(label_names)
        if len(label_names) < num_labels:
            raise BertClsError(
                f"{path} has label {num_labels - 1} but only {len(label_names)} label names were given"
            )
    else:
        label_names = tuple(str(i) for i in range(max(num_labels, 2)))
    return TextDataset(texts, labels, label_names, source=str(path), dropped_empty=dropped)


def git_blob_sha1(data: bytes) -> str:
    """The SHA-1 that git (and GitHub) give a file's contents."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download_nsmc(cache_dir=DEFAULT_CACHE_DIR, timeout: float = 60.0) -> dict:
    """Downloads and verifies NSMC's two files; returns ``{"train": path, "test": path}``."""
    cache_dir = Path(cache_dir) / "nsmc"
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, name in (("train", "ratings_train.txt"), ("test", "ratings_test.txt")):
        target = cache_dir / name
        if not (target.is_file() and git_blob_sha1(target.read_bytes()) == NSMC_BLOB_SHA1[name]):
            url = NSMC_URL.format(name=name)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    payload = response.read()
            except (urllib.error.URLError, OSError) as exc:
                raise BertClsError(
                    f"cannot download NSMC from {url} ({getattr(exc, 'reason', exc)}); offline, pass local "
                    "files with --train-file/--test-file, or use --data sample for the bundled sample"
                ) from None
            digest = git_blob_sha1(payload)
            if digest != NSMC_BLOB_SHA1[name]:
                raise BertClsError(
                    f"downloaded {name} has git blob SHA-1 {digest}, expected {NSMC_BLOB_SHA1[name]}: "
                    "the download is corrupt or the upstream file changed"
                )
            partial = target.with_suffix(".part")
            partial.write_bytes(payload)
            partial.replace(target)
        paths[split] = target
    return paths


def sample_path(split: str) -> Path:
    """Path of the bundled NSMC sample (``train``: 4,000 rows, ``test``: 1,000 rows)."""
    return Path(str(resources.files("bert_cls") / "resources" / SAMPLE_FILES[split]))


def resolve_data_files(data: Optional[str], train_file=None, test_file=None, cache_dir=DEFAULT_CACHE_DIR):
    """Maps ``--data``/``--train-file``/``--test-file`` to file paths and label names."""
    if data not in (None, "nsmc", "sample"):
        raise BertClsError(f"unknown --data {data!r}: use 'nsmc', 'sample', or --train-file PATH")
    if data is None and train_file is None:
        raise BertClsError("no training data: pass --train-file PATH, --data sample or --data nsmc")
    label_names = None
    if data == "sample":
        train_file = train_file or sample_path("train")
        test_file = test_file or sample_path("test")
        label_names = NSMC_LABEL_NAMES
    elif data == "nsmc":
        if train_file is None or test_file is None:
            downloaded = download_nsmc(cache_dir)
            train_file = train_file or downloaded["train"]
            test_file = test_file or downloaded["test"]
        label_names = NSMC_LABEL_NAMES
    return Path(train_file), (Path(test_file) if test_file else None), label_names
