"""Command-line flags generated from config dataclasses (``bert_cls.config``).

One ``--flag`` per field, named after it (``batch_size`` -> ``--batch-size``), with the
field's help text, default and choices; booleans are ``--x/--no-x`` switches that take
no value; a field marked ``positional`` becomes a ``nargs="*"`` positional argument.

Why not transformers' ``HfArgumentParser``: its booleans take an optional value
(``--json TEXT`` would swallow the text after the switch, which ``bert-cls predict --json
"text"`` relies on not happening), it has no positional arguments and no way to leave
fields out (``bert-cls tune`` takes ``TrainConfig`` without ``--output-dir``); bending it
means overriding its private ``_parse_dataclass_field``. This is thirty lines of plain
``argparse`` instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from bert_cls.config import flag


def _base_type(kind):
    if typing.get_origin(kind) is typing.Union:  # Optional[X]
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def add_config_arguments(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    """Adds a flag for every field of the config dataclass ``cls`` except those in ``skip``."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if field.name in skip or not meta.get("cli", True):
            continue
        kind = _base_type(hints[field.name])
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        help_text = meta.get("help", "")
        if meta.get("positional"):
            parser.add_argument(field.name, nargs="*", help=help_text)
        elif meta.get("pairs"):
            parser.add_argument(flag(field.name), nargs=2, action="append", metavar=("TEXT", "TEXT_PAIR"), help=help_text)
        elif kind is bool:
            parser.add_argument(
                flag(field.name),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text + " (default: %(default)s)",
            )
        else:
            kwargs = {"type": kind, "help": help_text, "choices": meta.get("choices")}
            if required:
                kwargs["required"] = True
            else:
                kwargs["default"] = default
                if default is not None:
                    kwargs["help"] += " (default: %(default)s)"
            parser.add_argument(flag(field.name), **kwargs)


def config_from_args(cls, args: argparse.Namespace, **overrides):
    """An instance of ``cls`` from the parsed flags (fields absent from ``args`` keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return cls(**values)
