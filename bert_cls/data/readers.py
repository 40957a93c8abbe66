"""Reading rows (text, label and any other named columns) from TSV, CSV, JSON Lines and Parquet files, optionally gzip-compressed.

Readers, chosen for exact line numbers in errors and constant memory per row:

* CSV: the standard library's ``csv`` module, RFC 4180 (quoted fields may hold the delimiter,
  quotes and newlines), ``strict`` so an unclosed quote is an error, not a swallowed file.
* TSV: the same module with ``quoting=QUOTE_NONE``: IANA's ``text/tab-separated-values`` has no
  quoting, and NSMC-style files hold bare ``"`` in their texts (131 of NSMC's 150,000 training
  reviews start with one; read with RFC 4180 quoting, 687 rows merge into others). ``quoting="rfc4180"``
  reads tab-separated exports that quote (pandas' ``to_csv(sep="\\t")``).
* JSON Lines: ``json.loads`` per line.
* Parquet: ``pyarrow.parquet``, column-projected and read in record batches.

Every reader yields ``(line, values)``: the 1-based line (CSV/TSV: the line the record starts on;
JSON Lines: its line; Parquet: the row number) used in error messages, and the values of the
requested columns in their order (``None`` for a column requested as ``None``).
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

from bert_cls.errors import BertClsError

FORMATS = ("tsv", "csv", "jsonl", "parquet")
EXTENSIONS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
QUOTING = ("auto", "rfc4180", "none")
# A review, a ticket or a log line can be long; csv's default limit (128 KiB) would refuse it.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def expand_paths(spec) -> list:
    """Paths from a flag value: a path, a glob (``data/train-*.parquet``) or several, comma-separated."""
    parts = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    paths = []
    for part in (str(p).strip() for p in parts):
        if not part:
            continue
        if glob.has_magic(part):
            matched = sorted(glob.glob(part))
            if not matched:
                raise BertClsError(f"the pattern {part!r} matches no file: check it (and quote it, so the shell leaves it alone)")
            paths += [Path(p) for p in matched]
        else:
            path = Path(part)
            if not path.is_file():
                raise BertClsError(f"data file not found: {path} (pass an existing file, a glob or several, comma-separated)")
            paths.append(path)
    if not paths:
        raise BertClsError(f"no data file named in {spec!r}")
    return paths


def detect_format(path: Path, override: Optional[str] = None) -> str:
    if override:
        if override not in FORMATS:
            raise BertClsError(f"unknown --format {override!r}: use one of {', '.join(FORMATS)}")
        return override
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise BertClsError(
            f"{path}: cannot tell the format from the extension {''.join(path.suffixes) or '(none)'}: "
            f"name it .tsv/.csv/.jsonl/.parquet (optionally .gz) or pass --format {{{','.join(FORMATS)}}}"
        )
    return fmt


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> BertClsError:
    """The byte offset of the first undecodable byte in the (decompressed) file."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    try:
        raw.decode("utf-8")
        offset = exc.start
    except UnicodeDecodeError as full:
        offset = full.start
    return BertClsError(
        f"{path} is not UTF-8 text (byte {offset}): re-encode it, e.g. "
        f"`iconv -f CP949 -t UTF-8 {path.name} > fixed{''.join(path.suffixes)}`"
    )


def _open_text(path: Path):
    # utf-8-sig: a byte-order mark (Excel writes one into CSV) is not part of the first column's name
    opener = gzip.open if _is_gzip(path) else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


COLUMN_FLAGS = "--text-column, --text-pair-column, --label-column or --label-columns"


def _columns_error(path: Path, missing, available) -> BertClsError:
    return BertClsError(
        f"{path} has no column {', '.join(repr(c) for c in missing)}; its columns are {list(available)} "
        f"(choose them with {COLUMN_FLAGS})"
    )


def _read_delimited(path: Path, delimiter: str, quoted: bool, columns: Sequence[Optional[str]]) -> Iterator:
    with _open_text(path) as handle:
        if quoted:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
        else:
            reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                wanted = ", ".join(repr(c) for c in columns if c is not None)
                raise BertClsError(f"{path} is empty: it needs a header row with {wanted}")
            missing = [c for c in columns if c is not None and c not in header]
            if missing:
                raise _columns_error(path, missing, header)
            indices = [header.index(c) if c is not None else None for c in columns]
            start = reader.line_num + 1
            for fields in reader:
                if fields and len(fields) != len(header):
                    raise BertClsError(
                        f"{path}:{start}: {len(fields)} fields where the header has {len(header)}: "
                        + ("quote fields that hold the delimiter" if quoted else "a text holds a tab, or a field is missing")
                        + " (no field is guessed to be the label)"
                    )
                if fields:
                    yield start, tuple(fields[i] if i is not None else None for i in indices)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise BertClsError(
                f"{path}:{start}: malformed {'CSV' if delimiter == ',' else 'TSV'} record ({exc}): "
                "a quoted field that starts here is never closed, or a quote is misplaced"
            ) from None


def _read_jsonl(path: Path, columns: Sequence[Optional[str]]) -> Iterator:
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BertClsError(f"{path}:{line_no}: not a JSON object ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise BertClsError(f"{path}:{line_no}: each line must be a JSON object, found {type(record).__name__}")
            missing = [c for c in columns if c is not None and c not in record]
            if missing:
                raise BertClsError(
                    f"{path}:{line_no}: no key {', '.join(repr(c) for c in missing)}; "
                    f"the object has {sorted(record)} (choose them with {COLUMN_FLAGS})"
                )
            yield line_no, tuple(record[c] if c is not None else None for c in columns)


def _read_parquet(path: Path, columns: Sequence[Optional[str]]) -> Iterator:
    import pyarrow.parquet as pq  # imported here: only Parquet input needs it, and it is large

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: the file is not Parquet
        raise BertClsError(f"{path} is not a Parquet file ({exc})") from None
    names = parquet.schema_arrow.names
    wanted = list(dict.fromkeys(c for c in columns if c is not None))
    missing = [c for c in wanted if c not in names]
    if missing:
        raise _columns_error(path, missing, names)
    row = 0
    for batch in parquet.iter_batches(columns=wanted, batch_size=8192):
        values = {name: batch.column(k).to_pylist() for k, name in enumerate(wanted)}
        for i in range(batch.num_rows):
            row += 1
            yield row, tuple(values[c][i] if c is not None else None for c in columns)


def iter_rows(path: Path, fmt: str, columns: Sequence[Optional[str]], quoting: str = "auto") -> Iterator:
    """``(line, values)`` for each record of one file, ``values`` in the order of ``columns`` (``None`` for a
    ``None`` column); raises ``BertClsError`` naming file and line."""
    if quoting not in QUOTING:
        raise BertClsError(f"unknown --quoting {quoting!r}: use one of {', '.join(QUOTING)}")
    try:
        if fmt == "csv":
            yield from _read_delimited(path, ",", quoting != "none", columns)
        elif fmt == "tsv":
            yield from _read_delimited(path, "\t", quoting == "rfc4180", columns)
        elif fmt == "jsonl":
            yield from _read_jsonl(path, columns)
        else:
            yield from _read_parquet(path, columns)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except gzip.BadGzipFile:
        raise BertClsError(f"{path} ends in .gz but is not gzip data: decompress it or rename it") from None
    except EOFError:
        raise BertClsError(f"{path} is a truncated gzip file: copy it again") from None


def read_rows(paths: Sequence[Path], fmt: Optional[str], columns: Sequence[Optional[str]], quoting: str = "auto") -> Iterator:
    """``(path, line, values)`` over several files, each read in its own (or the given) format."""
    for path in paths:
        for line, values in iter_rows(path, detect_format(path, fmt), columns, quoting):
            yield path, line, values
