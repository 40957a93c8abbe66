"""How deep a JSON body nests and how many values it holds, measured on its bytes before it is parsed.

``json.loads`` builds a Python object for every value: a 64 MiB body of empty strings becomes about 21 million
list entries (hundreds of megabytes) before any row limit can look at it, and a body nested some thousands deep
raises ``RecursionError`` in whatever walks it. So the REST API scans the raw bytes first, with NumPy in fixed-size
chunks (the standard library has no streaming JSON parser, and a per-character Python loop takes seconds on such
a body): brackets and commas outside strings give the deepest nesting and an upper bound on the values (commas
plus one), and the request is refused before ``json.loads`` when either is over its bound. The scan does not
validate JSON; ``json.loads`` still does, on bodies already known to be small enough.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 22  # 4 MiB of body per NumPy pass: the index arrays of one chunk stay small
_QUOTE, _COMMA = ord('"'), ord(",")
_MARK = np.zeros(256, bool)  # the characters that give the structure: , [ ] { }
_MARK[[ord(c) for c in ",[]{}"]] = True
_STEP = np.zeros(256, np.int64)  # how each one changes the nesting depth
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def scan(raw: bytes, max_depth: int = 0, max_values: int = 0) -> tuple:
    """``(deepest nesting, values at most)`` of a JSON text: ``{"a": [1, 2]}`` is ``(2, 2)``. With ``max_depth`` or
    ``max_values``, it returns as soon as either is exceeded (the rest of a hostile body is not scanned)."""
    if b"\\" in raw:  # escapes never hold structure: drop escaped backslashes first, then escaped quotes
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = deepest = commas = 0
    inside = 0  # 1 while the previous chunk ended inside a string
    for start in range(0, len(raw), _CHUNK):
        chunk = np.frombuffer(raw, np.uint8, count=min(_CHUNK, len(raw) - start), offset=start)
        quotes = np.flatnonzero(chunk == _QUOTE)
        marks = np.flatnonzero(_MARK[chunk])
        if marks.size:
            # a mark is outside strings when an even number of quotes precede it (counting the open one carried in)
            outside = chunk[marks[(np.searchsorted(quotes, marks) + inside) % 2 == 0]]
            commas += int(np.count_nonzero(outside == _COMMA))
            steps = _STEP[outside]
            if steps.size:
                levels = depth + np.cumsum(steps)
                deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
        inside ^= quotes.size % 2
        if (max_depth and deepest > max_depth) or (max_values and commas + 1 > max_values):
            break
    return deepest, commas + 1
