"""The texts to pretrain on, streamed from their files: a held-out share, and texts left out on purpose.

Rows come from ``bert_cls.data.readers`` (TSV, CSV, JSON Lines, Parquet, optionally gzip-compressed) or, with
``--format txt``, one text per line. Nothing is held in memory but counts, the held-out texts that are scored
(at most ``max_validation_texts``) and the texts of ``--exclude-file``: every pass reads the files again.

Which rows are held out is decided per row from a hash of (seed, row number), so the split needs no pass of its
own, costs no memory and is the same on every pass and every rerun.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path
from typing import Iterator, Optional

from bert_cls.data import readers
from bert_cls.errors import BertClsError

TRAIN, HELD_OUT = "train", "held_out"


def _plain_lines(path: Path) -> Iterator:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                yield number, (line.rstrip("\r\n"),)
    except UnicodeDecodeError:
        raise BertClsError(f"{path} is not UTF-8 text: re-encode it (e.g. with iconv)") from None


def read_texts(paths, fmt: Optional[str], quoting: str, columns) -> Iterator:
    """``(path, line, values)`` of every row: the data readers, or one text per line with ``fmt == "txt"``."""
    if fmt != "txt":
        yield from readers.read_rows(paths, fmt, columns, quoting)
        return
    for path in paths:
        for line, values in _plain_lines(path):
            yield path, line, values + (None,) * (len(columns) - 1)


def held_out(row: int, seed: int, share: float) -> bool:
    """Whether row number ``row`` is held out: a hash of (seed, row) below ``share`` of its range."""
    digest = hashlib.blake2b(f"{seed}:{row}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") < share * 2**64


def _clean(value) -> Optional[str]:
    text = "" if value is None else str(value).strip()
    return text or None


@dataclasses.dataclass
class Corpus:
    """The rows of ``files``: ``rows(TRAIN)`` to learn from, ``rows(HELD_OUT)`` to score on."""

    files: list
    format: Optional[str]
    quoting: str
    text_column: str
    pair_column: Optional[str]
    seed: int
    held_out_share: float
    excluded: frozenset = frozenset()
    counts: dict = dataclasses.field(default_factory=dict)  # train, held_out, empty, excluded

    @property
    def has_pairs(self) -> bool:
        return self.pair_column is not None

    def _all_rows(self) -> Iterator:
        """``(role or None, text, pair)`` of every row; role None: empty or excluded (with the reason as text)."""
        columns = [self.text_column, self.pair_column] if self.has_pairs else [self.text_column]
        for row, (_, _, values) in enumerate(read_texts(self.files, self.format, self.quoting, columns)):
            text = _clean(values[0])
            pair = _clean(values[1]) if self.has_pairs else None
            if text is None and pair is None:
                yield None, "empty", None
            elif text in self.excluded:
                yield None, "excluded", None
            else:
                role = HELD_OUT if held_out(row, self.seed, self.held_out_share) else TRAIN
                yield role, text or "", (pair or "") if self.has_pairs else None

    def rows(self, role: str) -> Iterator:
        """``(text, pair or None)`` of the rows of one role, in file order."""
        for row_role, text, pair in self._all_rows():
            if row_role == role:
                yield text, pair

    def count(self) -> "Corpus":
        """One pass that counts the rows of each kind; fails if nothing is left to learn from."""
        counts = {TRAIN: 0, HELD_OUT: 0, "empty": 0, "excluded": 0}
        for role, reason, _ in self._all_rows():
            counts[role or reason] += 1
        self.counts = counts
        source = ",".join(str(p) for p in self.files)
        if counts[TRAIN] == 0:
            raise BertClsError(
                f"{source} holds no usable text for pretraining ({counts['empty']} empty rows, "
                f"{counts['excluded']} excluded, {counts[HELD_OUT]} held out): check --text-column, "
                "--format and --exclude-file"
            )
        if counts[HELD_OUT] == 0:
            raise BertClsError(
                f"{source}: no text was held out for scoring ({counts[TRAIN]} texts): raise --validation-split or add text"
            )
        return self

    def validation_texts(self, limit: int) -> tuple:
        """The first ``limit`` held-out rows as (texts, pairs or None)."""
        texts, pairs = [], []
        for text, pair in self.rows(HELD_OUT):
            texts.append(text)
            pairs.append(pair)
            if len(texts) >= limit:
                break
        return texts, (pairs if self.has_pairs else None)


def excluded_texts(spec: Optional[str], text_column: str, quoting: str) -> frozenset:
    """The texts of ``--exclude-file`` (each file in the format its extension names)."""
    if not spec:
        return frozenset()
    rows = readers.read_rows(readers.expand_paths(spec), None, [text_column], quoting)
    return frozenset(t for t in (_clean(values[0]) for _, _, values in rows) if t is not None)


def open_corpus(config) -> Corpus:
    """The counted corpus of a ``PretrainConfig``."""
    return Corpus(
        files=readers.expand_paths(config.train_file),
        format=config.format,
        quoting=config.quoting,
        text_column=config.text_column,
        pair_column=config.text_pair_column,
        seed=config.seed,
        held_out_share=config.validation_split,
        excluded=excluded_texts(config.exclude_file, config.text_column, config.quoting),
    ).count()
