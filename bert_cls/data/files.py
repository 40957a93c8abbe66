"""Labelled datasets from files (any format ``readers`` reads), the bundled NSMC sample and the NSMC download.

By default the text is in ``document`` and the class in ``label`` (NSMC's
``id<TAB>document<TAB>label``). ``Columns`` also describes the other task shapes: a second text
(sentence pairs) and multi-label classes (delimiter-separated names in one column, or one 0/1
column per class). Empty documents are dropped and counted.

Each row's labels become a *key*: the class for single-label data, the sorted set of names for
multi-label data. Keys are what a counting pass tallies and what validation splits stratify on
(for multi-label data, each distinct label set is a stratum). The bundled sample is drawn from a
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

from bert_cls.data import readers
from bert_cls.data.columns import LABEL_SET_JOIN, Columns
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
    """Texts (and second segments, for pairs) with class ids ``0..num_labels-1`` (``[N]``) or, for
    multi-label data, 0/1 indicators (``float32 [N, num_labels]``), and the class names."""

    texts: list
    labels: np.ndarray
    label_names: tuple
    source: str = ""
    dropped_empty: int = 0
    pairs: Optional[list] = None

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
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
        )

    @property
    def multi_label(self) -> bool:
        return self.labels.ndim == 2


def _is_int(key: str) -> bool:
    return key.lstrip("-").isdigit()


@dataclasses.dataclass
class LabelTally:
    """What a counting pass keeps of the labels: each distinct value, where it first occurred, how often."""

    first_seen: dict = dataclasses.field(default_factory=dict)  # key -> (path, line)
    counts: dict = dataclasses.field(default_factory=dict)  # key -> rows

    def add(self, key: str, path, line) -> None:
        if key not in self.counts:
            self.first_seen[key] = (path, line)
            self.counts[key] = 0
        self.counts[key] += 1

    def label_map(self, label_names=None, strict: bool = False, source: str = ""):
        """(``{key: id}``, names): integers keep their values; names map in sorted order or ``label_names``'s."""
        ints = [k for k in self.counts if _is_int(k)]
        names_seen = [k for k in self.counts if not _is_int(k)]
        if ints and names_seen:
            (p1, l1), (p2, l2) = self.first_seen[ints[0]], self.first_seen[names_seen[0]]
            raise BertClsError(
                f"{source} mixes integer and string labels ({p1}:{l1} has {ints[0]!r}, "
                f"{p2}:{l2} has {names_seen[0]!r}): use one kind throughout"
            )
        if ints:
            ids = {k: int(k) for k in ints}
            low, high = min(ids, key=ids.get), max(ids, key=ids.get)
            if ids[low] < 0:
                path, line = self.first_seen[low]
                raise BertClsError(f"{path}:{line}: negative label {ids[low]}; integer labels must be 0..K-1")
            if label_names is not None and len(label_names) <= ids[high]:
                path, line = self.first_seen[high]
                raise BertClsError(
                    f"{path}:{line}: label {ids[high]}, but only {len(label_names)} label names are known "
                    f"({', '.join(label_names)})"
                )
            names = tuple(label_names) if label_names is not None else tuple(str(i) for i in range(max(ids[high] + 1, 2)))
            return ids, names
        names = tuple(label_names) if label_names is not None else tuple(sorted(names_seen))
        index = {name: i for i, name in enumerate(names)}
        for key in names_seen:
            if key not in index:
                path, line = self.first_seen[key]
                known = "the training data" if strict else "--label-names"
                raise BertClsError(f"{path}:{line}: label {key!r} is not one of {known}'s classes ({', '.join(names)})")
        return {k: index[k] for k in names_seen}, names

    def label_set_map(self, label_names=None, strict: bool = False, source: str = ""):
        """Multi-label: (``{key: stratum}`` with label sets in sorted order, class names, indicators ``[S, K]``).

        Class names come from ``label_names`` (or ``--label-columns``) in their order, else all names seen, sorted.
        """
        keys = sorted(self.counts)
        seen = sorted({n for k in keys for n in k.split(LABEL_SET_JOIN) if n})
        names = tuple(label_names) if label_names else tuple(seen)
        if not names:
            raise BertClsError(f"{source}: no row has a label: multi-label data needs at least one class")
        index = {name: i for i, name in enumerate(names)}
        indicators = np.zeros((len(keys), len(names)), dtype=np.float32)
        for s, key in enumerate(keys):
            for name in filter(None, key.split(LABEL_SET_JOIN)):
                if name not in index:
                    path, line = self.first_seen[key]
                    known = "the training data" if strict else "--label-names"
                    raise BertClsError(f"{path}:{line}: label {name!r} is not one of {known}'s classes ({', '.join(names)})")
                indicators[s, index[name]] = 1.0
        return {k: s for s, k in enumerate(keys)}, names, indicators


def label_map(columns: Columns, tally: "LabelTally", label_names=None, strict: bool = False, source: str = ""):
    """(``{key: stratum}``, class names, labels of each stratum: class ids ``[S]`` or indicators ``[S, K]``)."""
    if not columns.is_multi_label:
        ids, names = tally.label_map(label_names, strict, source)
        return ids, names, np.arange(len(names), dtype=np.int64)
    return tally.label_set_map(label_names or columns.label_columns, strict, source)


def iter_labelled(files, columns: Columns):
    """``(path, line, text, pair, label_key)`` for every row; ``None`` text for an empty one, ``None`` pair without pairs."""
    for path, line, values in readers.read_rows(files, columns.format, columns.names, columns.quoting):
        yield (path, line, *columns.parse(path, line, values))


def read_dataset(
    paths,
    text_column: str = "document",
    label_column: str = "label",
    label_names: Optional[Sequence[str]] = None,
    format: Optional[str] = None,
    quoting: str = "auto",
    strict_label_names: bool = False,
    columns: Optional[Columns] = None,
) -> TextDataset:
    """Texts and labels from one or more files (TSV, CSV, JSON Lines, Parquet; ``.gz`` too), in memory.

    ``paths``: a path, a glob, several comma-separated, or a list. Labels are integers ``0..K-1`` or
    names; names map to ids in sorted order unless ``label_names`` fixes it. ``strict_label_names``
    (validation and test data) says the names come from the training data, for the error message.
    ``columns`` (pairs, multi-label) replaces ``text_column``/``label_column``/``format``/``quoting``.
    Empty texts are dropped and counted in ``dropped_empty``. Training streams its files instead
    (``bert_cls.data.stream``).
    """
    columns = columns or Columns(text_column, label_column, format, quoting)
    files = readers.expand_paths(paths)
    source = ",".join(str(p) for p in files)
    texts, pairs, keys, tally, dropped = [], [], [], LabelTally(), 0
    for path, line, text, pair, key in iter_labelled(files, columns):
        if text is None:
            dropped += 1
            continue
        texts.append(text)
        pairs.append(pair)
        keys.append(key)
        tally.add(key, path, line)
    if not texts:
        raise BertClsError(f"{source} has no non-empty documents")
    ids, names, stratum_labels = label_map(columns, tally, label_names, strict_label_names, source)
    labels = stratum_labels[np.asarray([ids[k] for k in keys], dtype=np.int64)]
    return TextDataset(texts, labels, names, source=source, dropped_empty=dropped, pairs=pairs if columns.pair_column else None)


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
    return str(train_file), (str(test_file) if test_file else None), label_names
