"""Every JSON file bert-cls writes: strict JSON, UTF-8, replaced in one step.

Strict: Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which JSON has no words for and strict
parsers (``jq``, JavaScript, Go) refuse. ``allow_nan=False`` turns such a value into an error that names the
key, instead of a file other tools cannot read. Light: standard library only.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from bert_cls.errors import BertClsError


def _non_finite(data, where: str = ""):
    """The key path of the first NaN or infinity in ``data``, or ``None``."""
    if isinstance(data, float) and not math.isfinite(data):
        return where or "(the value)"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite(value, f"{where}[{key!r}]")
        if found:
            return found
    return None


def dumps(data, indent=2) -> str:
    """``data`` as strict JSON text (non-ASCII kept as is)."""
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise BertClsError(f"cannot write {_non_finite(data)} as JSON: it is not a finite number") from None


def write_json(path, data) -> None:
    """Replaces ``path`` with ``data`` as strict JSON in one step (written beside, then ``os.replace``), so a reader
    never sees half a file."""
    path = Path(path)
    text = dumps(data)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, path)
