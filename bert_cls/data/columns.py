"""``Columns``: which fields of a labelled file hold the text, the second text and the labels, and how a
row's labels become its *key* (the class for single-label data; the sorted set of class names for
multi-label data). Pure Python, so command configs can build it without loading NumPy or TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from bert_cls.errors import BertClsError

# Joins a multi-label row's class names into its key.
LABEL_SET_JOIN = "\x1f"


def label_key(value, path, line) -> str:
    """A raw label as text (``3`` and ``"3"`` alike); an empty, boolean or fractional label is an error."""
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
        raise BertClsError(f"{path}:{line}: label {value!r}: labels are integers 0..K-1 or names")
    key = str(value).strip()
    if not key:
        raise BertClsError(f"{path}:{line}: an empty label: every row needs a class")
    return key


def label_set_key(value, separator: str, path, line) -> str:
    """A multi-label row's labels (``"a,b"``, or a list in JSON Lines/Parquet) as a key; none is allowed."""
    if value is None:
        raise BertClsError(f"{path}:{line}: the labels are null: write an empty value (or []) for a row without labels")
    if isinstance(value, (list, tuple)):
        names = [label_key(v, path, line) for v in value]
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        names = [n.strip() for n in str(value).split(separator)]
    else:
        raise BertClsError(f"{path}:{line}: labels {value!r}: write names separated by {separator!r} or a list")
    return LABEL_SET_JOIN.join(sorted({n for n in names if n}))


_ONE, _ZERO = (1, "1", "1.0", True, 1.0), (0, "0", "0.0", False, 0.0, "")


def indicator_key(values, columns, path, line) -> str:
    """A row of ``--label-columns`` (each 0 or 1) as the key of the classes set to 1."""
    names = []
    for column, value in zip(columns, values):
        value = value.strip() if isinstance(value, str) else value
        if value in _ONE:
            names.append(column)
        elif value not in _ZERO:
            raise BertClsError(f"{path}:{line}: --label-columns column {column!r} holds {value!r}: each must be 0 or 1")
    return LABEL_SET_JOIN.join(sorted(names))


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where a file's fields are and what its labels look like: the shape of the task."""

    text_column: str = "document"
    label_column: str = "label"
    format: Optional[str] = None
    quoting: str = "auto"
    pair_column: Optional[str] = None  # the second text of sentence pairs
    multi_label: bool = False
    label_separator: str = ","
    label_columns: Optional[tuple] = None  # multi-label as one 0/1 column per class (implies multi_label)

    @classmethod
    def of(cls, config, **overrides) -> "Columns":
        """The columns a command config names (``--text-column``, ``--text-pair-column``, ``--label-columns`` ...)."""
        label_columns = getattr(config, "label_columns", None)
        if isinstance(label_columns, str):
            label_columns = tuple(c.strip() for c in label_columns.split(",") if c.strip())
        values = {
            "text_column": config.text_column,
            "label_column": getattr(config, "label_column", "label"),
            "format": config.format,
            "quoting": getattr(config, "quoting", "auto"),
            "pair_column": getattr(config, "text_pair_column", None),
            "multi_label": getattr(config, "multi_label", False),
            "label_separator": getattr(config, "label_separator", ","),
            "label_columns": label_columns or None,
        }
        return cls(**{**values, **overrides})

    @property
    def is_multi_label(self) -> bool:
        return self.multi_label or bool(self.label_columns)

    @property
    def names(self) -> tuple:
        """The columns to read: text, pair (or None), then the label column(s)."""
        return (self.text_column, self.pair_column, *(self.label_columns or (self.label_column,)))

    def parse(self, path, line, values):
        """``(text or None if empty, second text or None, label key)`` of one row."""
        text = "" if values[0] is None else str(values[0]).strip()
        pair = None if self.pair_column is None else ("" if values[1] is None else str(values[1]).strip())
        if self.label_columns:
            key = indicator_key(values[2:], self.label_columns, path, line)
        elif self.multi_label:
            key = label_set_key(values[2], self.label_separator, path, line)
        else:
            key = label_key(values[2], path, line)
        return (text or None), pair, key
