"""Command configs: the base class every command's config dataclass derives from, and the shared fields.

Each subcommand's arguments are one dataclass next to the code that runs it
(``TrainConfig`` in ``training/config.py``, ``ExportConfig`` in ``serving/config.py``, ...);
``bert_cls.cli.parser`` turns its fields into ``--flags``. A field that several
commands share (``--batch-size``, ``--overwrite``, ``--model`` ...) is declared
once here, with its help text and its check, and each command picks its default.
``Config.__post_init__`` runs every field's check, so ``--batch-size 0`` is the
same one-line error in every command and in the Python API.

This module is light (no TensorFlow): ``bert-cls --help`` imports it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Callable, Optional

from bert_cls.errors import BertClsError

MISSING = dataclasses.MISSING


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def arg(
    default=MISSING,
    help: str = "",
    *,
    check: Optional[Callable] = None,
    choices=None,
    positional: bool = False,
    cli: bool = True,
    default_factory=MISSING,
    pairs: bool = False,
):
    """A config field with its ``--flag`` help text, allowed choices and value check.

    ``check(value)`` returns an error fragment (``"must be at least 1"``) or ``None``.
    No default means the flag is required. ``cli=False`` keeps a field out of the parser. ``pairs``: a
    repeatable flag of two values (``--pair A B``), collected as a list of ``[A, B]``.
    """
    metadata = {"help": help, "check": check, "choices": choices, "positional": positional, "cli": cli, "pairs": pairs}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# ---- checks -----------------------------------------------------------------------------------------

INT64_MAX = 2**63 - 1


def number_problem(value):
    """Every number field's check: floats finite (``nan``/``inf`` parse as floats and would reach the optimizer
    or strict JSON), integers within int64 (what TensorFlow and TF Serving hold)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return f"must be at most {INT64_MAX} in size"
    return None


def at_most(high):
    def check(value):
        return None if value is None or value <= high else f"must be at most {high}"

    return check


def all_of(*checks):
    def check(value):
        return next((problem for problem in (c(value) for c in checks) if problem), None)

    return check


def at_least(low):
    def check(value):
        return None if value is None or value >= low else f"must be at least {low}"

    return check


def positive(value):
    return None if value is None or value > 0 else "must be positive"


def progress_verbosity(verbose: int, stream=None) -> int:
    """``--verbose 1`` (a progress bar) as ``2`` (a line per epoch or save) when the output is not a terminal: a log
    file gets lines, not carriage returns and backspaces."""
    stream = sys.stdout if stream is None else stream
    return 2 if verbose == 1 and not (hasattr(stream, "isatty") and stream.isatty()) else verbose


# The file that makes a directory a bert-cls model (`train`'s or `import`'s output), named once here so the
# commands can check a --model path before TensorFlow loads. The path checks below are the commands' (configs
# describe runs that may not exist yet, and the docs build configs of paths they only name).
CLASSIFIER_CONFIG = "classifier_config.json"


def trained_model(value):
    """A --model path: a directory holding a bert-cls model."""
    path = Path(value).expanduser()
    if not path.exists():
        return "does not exist: pass the --output-dir of `bert-cls train` (or `bert-cls import`)"
    if not (path / CLASSIFIER_CONFIG).is_file():
        return f"is not a trained bert-cls model (no {CLASSIFIER_CONFIG}): pass the --output-dir of `bert-cls train`"
    return None


def a_directory(what_to_do: str):
    """A flag naming a directory that must exist; ``what_to_do`` says how to make one."""

    def check(value):
        return None if value is None or Path(value).expanduser().is_dir() else f"is not a directory: {what_to_do}"

    return check


def not_a_file(value):
    """A directory flag that may not exist yet, but must not be a file."""
    return "is a file: pass a directory" if value is not None and Path(value).expanduser().is_file() else None


# --model-base-path of `bert-cls serve`
EXPORT_BASE = a_directory("export a model there first (bert-cls export)")


def require(flag: str, value, problem_of) -> None:
    """Raises the one-line error of a path check (``trained_model``, ``not_a_file``, ``EXPORT_BASE``)."""
    problem = problem_of(value)
    if problem:
        raise BertClsError(f"{flag} {value} {problem}")


def fraction_open(value):
    return None if 0.0 < value < 1.0 else "must be between 0 and 1"


def in_unit_interval(value):
    return None if 0.0 <= value < 1.0 else "must be in [0, 1)"


@dataclasses.dataclass
class Config:
    """Base of every command config: validates each field that declares a check."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            value = getattr(self, field.name)
            problem = number_problem(value) or (check(value) if check is not None else None)
            if problem:
                raise BertClsError(f"{flag(field.name)} {problem}, got {value}")


# ---- fields shared by several commands (one declaration each) ---------------------------------------


def batch_size(default: int, what: str = "examples per batch"):
    return arg(default, what, check=at_least(1))


def overwrite(what: str):
    return arg(False, f"replace {what}")


def model_dir():
    return arg(help="output directory of `bert-cls train`")


def model_name(default: str):
    return arg(default, "name the model is served under")


def mixed_precision():
    return arg(
        "auto",
        "'auto' (on a CPU with native bfloat16, AVX-512 BF16 or AMX, and no GPU: whichever of float32 and "
        "mixed_bfloat16 ran a timed training step of this model faster, timed once per CPU and model shape; float32 "
        "elsewhere), 'no' (float32), 'mixed_float16' (GPU) or 'mixed_bfloat16'. The run records the one "
        "used",
        choices=["auto", "no", "mixed_float16", "mixed_bfloat16"],
    )


# What `export --precision` accepts (bert_cls/serving/precision.py chooses among them).
EXPORT_PRECISIONS = ("auto", "float32", "bfloat16")


def export_precision():
    return arg(
        "auto",
        "what the export computes in: 'auto' (bfloat16 where the CPU has native bfloat16, AVX-512 BF16 or AMX, and "
        "it is faster on this model, float32 elsewhere), 'float32', or 'bfloat16'. bfloat16 is checked against "
        "float32 on the run's held-out texts and falls back to float32 if labels agree on less than 99.5%%",
        choices=list(EXPORT_PRECISIONS),
    )


def max_length(default: Optional[int] = 128, help: str = "max tokens per text, [CLS]/[SEP] included; longer texts are truncated"):
    return arg(default, help, check=at_least(3))


def version(help: str):
    return arg(None, help, check=at_least(1))


MAX_EPOCHS = 10_000


def epochs(default: int):
    return arg(default, "training epochs", check=all_of(at_least(1), at_most(MAX_EPOCHS)))


def learning_rate(default: float):
    return arg(default, "peak learning rate of AdamW", check=positive)


def weight_decay():
    return arg(0.01, "AdamW weight decay (not applied to biases and LayerNorm)", check=at_least(0.0))


def warmup_ratio(default: float, help: str = "fraction of training steps with linear warmup"):
    return arg(default, help, check=in_unit_interval)


def port(default, help: str):
    return arg(default, help, check=all_of(at_least(0), at_most(65535)))


def max_train_samples(default: Optional[int]):
    return arg(default, "use at most this many training rows (stratified), before the split", check=at_least(1))


def pretrained(default: Optional[str]):
    return arg(
        default,
        "Hugging Face id, local checkpoint directory, or offline: nsmc-small (small Korean BERT shipped "
        "with bert-cls) or all-MiniLM-L6-v2 (English)",
    )


def data(default: Optional[str]):
    return arg(default, "'sample' (bundled 4,000-review NSMC sample) or 'nsmc' (download)", choices=["sample", "nsmc"])


def train_file():
    return arg(
        None,
        "training data: a file (.tsv/.csv/.jsonl/.parquet, optionally .gz), a glob or several, "
        "comma-separated (default: from --data)",
    )


def data_format():
    return arg(
        None,
        "input format: tsv, csv, jsonl or parquet (default: from each file's extension, .gz allowed)",
        choices=["tsv", "csv", "jsonl", "parquet"],
    )


def quoting():
    return arg(
        "auto", "quote handling: auto (CSV: RFC 4180; TSV: none, as NSMC), rfc4180 or none", choices=["auto", "rfc4180", "none"]
    )


def text_column():
    return arg("document", "column holding the text")


def label_column():
    return arg("label", "column holding the class: integers 0..K-1 or names (mapped to ids in sorted order)")


def texts():
    return arg(help="texts to classify", positional=True, default_factory=list)


def text_file():
    return arg(
        None,
        "texts to classify: a .tsv/.csv/.jsonl/.parquet file (optionally .gz; its --text-column), "
        "or any other file with one text per line ('-' for stdin)",
    )


def json_lines():
    return arg(False, "print one JSON object per text")


def text_pair_column():
    return arg(
        None,
        "column holding the second text of sentence pairs (NLI, paraphrase, query-document); "
        "empty values are allowed, a missing column is not",
    )


def multi_label():
    return arg(
        False,
        "several classes per text (sigmoid per class): --label-column holds names separated by "
        "--label-separator (or a JSON list), or use --label-columns",
    )


def label_separator():
    return arg(",", "multi-label data: what separates the class names in --label-column")


def label_columns():
    return arg(None, "multi-label data as one 0/1 column per class: comma-separated column names, which are also the class names")


def pair():
    return arg(None, "a sentence pair to classify, repeatable: --pair TEXT TEXT_PAIR (for pair models)", pairs=True)
