"""Training data streamed from its files, for datasets larger than memory.

One counting pass (``count_files``) keeps only counts: rows per file and class, the label values
and where each first occurred, empty texts. From the counts alone, ``FileDataset.split`` picks
the validation rows and ``sample`` the ``--max-train-samples`` rows, stratified and seeded: the
same rows the in-memory ``splits.stratified_split``/``stratified_sample`` pick for the same seed,
because those choose by a per-class shuffle of ranks, and the counts give the ranks. What is
kept per row is one byte (its role: left out, train, validation) per class rank, never a text.
Each epoch reads the files again through a ``tf.data`` generator: memory does not grow with
the file.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from bert_cls.data import readers, splits
from bert_cls.data.columns import Columns
from bert_cls.data.files import LabelTally, iter_labelled, label_map
from bert_cls.errors import BertClsError
from bert_cls.modeling.keras_compat import tf

LEFT_OUT, TRAIN, VALIDATION = 0, 1, 2


@dataclasses.dataclass
class Census:
    """The counting pass over some files: per-file, per-stratum row counts and the label map.

    A stratum is a class for single-label data and a distinct label set for multi-label data
    (``files.label_map``); ``stratum_labels`` holds each stratum's class id or indicators.
    """

    files: list
    label_ids: dict  # label key -> stratum
    label_names: tuple
    per_file_counts: np.ndarray  # [files, strata] rows with a non-empty text
    dropped_empty: int
    stratum_labels: Optional[np.ndarray] = None  # [strata] class ids or [strata, classes] indicators

    def __post_init__(self):
        if self.stratum_labels is None:
            self.stratum_labels = np.arange(len(self.label_names), dtype=np.int64)

    @property
    def multi_label(self) -> bool:
        return self.stratum_labels.ndim == 2

    @property
    def class_counts(self) -> np.ndarray:
        """Rows per class (multi-label: rows that have the class)."""
        return counts_per_class(self.per_file_counts.sum(0), self.stratum_labels)


def counts_per_class(stratum_counts, stratum_labels) -> np.ndarray:
    if stratum_labels.ndim == 2:
        return (np.asarray(stratum_counts) @ stratum_labels).round().astype(np.int64)
    return np.asarray(stratum_counts, dtype=np.int64)


def count_files(spec, columns: Columns, label_names=None, strict_label_names: bool = False) -> Census:
    """Reads every row once, keeping only counts (and the first place of each label value, for errors)."""
    files = readers.expand_paths(spec)
    tally, per_file, dropped = LabelTally(), [dict() for _ in files], 0
    index = {path: k for k, path in enumerate(files)}
    for path, line, text, _, key in iter_labelled(files, columns):
        if text is None:
            dropped += 1
            continue
        tally.add(key, path, line)
        counts = per_file[index[path]]
        counts[key] = counts.get(key, 0) + 1
    source = ",".join(str(p) for p in files)
    if not tally.counts:
        raise BertClsError(f"{source} has no non-empty documents")
    ids, names, stratum_labels = label_map(columns, tally, label_names, strict_label_names, source)
    matrix = np.zeros((len(files), len(stratum_labels)), dtype=np.int64)
    for k, counts in enumerate(per_file):
        for key, n in counts.items():
            matrix[k, ids[key]] += n
    return Census(files, ids, names, matrix, dropped, stratum_labels)


@dataclasses.dataclass
class FileDataset:
    """Rows of some files with a role per class rank; iterates the files again for each pass.

    Offers what training and evaluation need of a dataset: ``len``, ``label_names``, ``labels``
    (class ids of its rows in file order: eight bytes a row, read when first asked for),
    ``dropped_empty`` and ``elements()`` (a ``tf.data`` dataset of ``(features, label)``).
    Roles are kept per stratum (``Census``), which for single-label data is per class.
    """

    census: Census
    columns: Columns
    roles: list  # per class: uint8 array over its ranks (LEFT_OUT/TRAIN/VALIDATION)
    role: int = TRAIN
    _labels: Optional[np.ndarray] = None

    @classmethod
    def everything(cls, census: Census, columns: Columns) -> "FileDataset":
        return cls(census, columns, [np.full(n, TRAIN, dtype=np.uint8) for n in census.per_file_counts.sum(0)])

    def __len__(self) -> int:
        return int(sum((r == self.role).sum() for r in self.roles))

    @property
    def label_names(self) -> tuple:
        return self.census.label_names

    @property
    def num_labels(self) -> int:
        return len(self.census.label_names)

    @property
    def dropped_empty(self) -> int:
        return self.census.dropped_empty

    def with_role(self, role: int) -> "FileDataset":
        return dataclasses.replace(self, role=role, _labels=None)

    def sample(self, n: int, seed: int) -> "FileDataset":
        """``n`` rows of this dataset's role, stratified: as ``splits.stratified_sample``."""
        total = len(self)
        if n >= total:
            return self
        kept = self._within_role(splits.choose_per_class(self._role_counts(), total - n, seed)[0], keep_chosen=False)
        return dataclasses.replace(self, roles=kept, _labels=None)

    def split(self, fraction: float, seed: int):
        """(train, validation) of this dataset's rows, stratified: as ``splits.stratified_split``."""
        chosen = splits.choose_per_class(self._role_counts(), splits.validation_rows(len(self), fraction), seed)[0]
        roles = self._within_role(chosen, keep_chosen=True)
        base = dataclasses.replace(self, roles=roles, _labels=None)
        return base.with_role(TRAIN), base.with_role(VALIDATION)

    @property
    def multi_label(self) -> bool:
        return self.census.multi_label

    @property
    def has_pairs(self) -> bool:
        return self.columns.pair_column is not None

    def class_counts(self) -> np.ndarray:
        """Rows of this dataset per class id (multi-label: rows that have the class)."""
        return counts_per_class(self._role_counts(), self.census.stratum_labels)

    def _role_counts(self) -> list:
        return [int((r == self.role).sum()) for r in self.roles]

    def _within_role(self, chosen: list, keep_chosen: bool) -> list:
        """New roles: among the rows of ``self.role``, chosen ones become VALIDATION (``keep_chosen``) or
        stay (sampling: the chosen are the ones left out); rows of other roles are left out."""
        roles = []
        for r, mask in zip(self.roles, chosen):
            new = np.full(len(r), LEFT_OUT, dtype=np.uint8)
            mine = np.flatnonzero(r == self.role)
            if keep_chosen:
                new[mine] = np.where(mask, VALIDATION, TRAIN)
            else:
                new[mine[~mask]] = self.role
            roles.append(new)
        return roles

    def rows(self, file_indices=None):
        """``(text, pair or None, label)`` of this role's rows, in file order (of the given files); the label is
        a class id, or indicators for multi-label data."""
        census = self.census
        # stratum ranks continue across files: start each file at the counts of the files before it
        firsts = np.vstack([np.zeros((1, census.per_file_counts.shape[1]), np.int64), np.cumsum(census.per_file_counts, 0)])
        for k in range(len(census.files)) if file_indices is None else file_indices:
            rank = firsts[k].copy()
            for _, _, text, pair, key in iter_labelled([census.files[k]], self.columns):
                if text is None:
                    continue
                stratum = census.label_ids[key]
                role = self.roles[stratum][rank[stratum]]
                rank[stratum] += 1
                if role == self.role:
                    yield text, pair, census.stratum_labels[stratum]

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = np.asarray([label for _, _, label in self.rows()], dtype=self.census.stratum_labels.dtype)
            self._labels = self._labels.reshape((-1, *self.census.stratum_labels.shape[1:]))
        return self._labels

    def elements(self, shard: Optional[tuple] = None):
        """``tf.data`` of ``({"text"[, "text_pair"]}, label)``; ``shard=(workers, index)`` reads every workers-th file."""
        file_indices = None
        if shard is not None:
            workers, index = shard
            file_indices = list(range(index, len(self.census.files), workers))
        features = {"text": tf.TensorSpec((), tf.string)}
        if self.has_pairs:
            features["text_pair"] = tf.TensorSpec((), tf.string)
        labels = self.census.stratum_labels
        label_spec = tf.TensorSpec(labels.shape[1:], tf.float32 if self.multi_label else tf.int64)

        def generate():
            for text, pair, label in self.rows(file_indices):
                yield ({"text": text, "text_pair": pair} if self.has_pairs else {"text": text}), label

        return tf.data.Dataset.from_generator(generate, output_signature=(features, label_spec))
