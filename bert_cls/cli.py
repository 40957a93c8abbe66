"""The ``bert-cls`` command line: train, evaluate, predict, export, serve, query, tune, bench, quickstart.

Every subcommand has ``--help``. Problems with input print one line
(``error: ...``) and exit with status 2; nothing is overwritten without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

from bert_cls.errors import BertClsError


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    """One ``--flag`` per dataclass field, with its help text, default and choices."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if typing.get_origin(kind) is typing.Union:  # Optional[X]
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        meta = field.metadata
        help_text = meta.get("help", "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default,
                                help=help_text + " (default: %(default)s)")
            continue
        kwargs = {"type": kind, "help": help_text + (" (default: %(default)s)" if field.default is not None else "")}
        if meta.get("required"):
            kwargs["required"] = True
        else:
            kwargs["default"] = field.default
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        parser.add_argument(flag, **kwargs)


def dataclass_from_args(cls, args, **overrides):
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return cls(**values)


def read_texts(args) -> list:
    """Texts from positional arguments plus ``--file`` (one per line; ``-`` is stdin)."""
    texts = list(args.texts)
    if args.file:
        from pathlib import Path

        path = Path(args.file)
        if args.file == "-":
            texts += [line.rstrip("\n") for line in sys.stdin]
        elif not path.is_file():
            raise BertClsError(f"--file {path} not found")
        else:
            texts += path.read_text(encoding="utf-8").splitlines()
    if not texts:
        raise BertClsError("no texts: pass them as arguments, with --file PATH, or --file - for stdin")
    return texts


def cmd_train(args) -> int:
    from bert_cls.train import TrainConfig, train

    result = train(dataclass_from_args(TrainConfig, args), overwrite=args.overwrite)
    summary = {"validation_accuracy": result.metrics["validation"]["accuracy"]}
    if "test" in result.metrics:
        summary["test_accuracy"] = result.metrics["test"]["accuracy"]
    summary["examples_per_second"] = result.metrics["examples_per_second"]
    print(json.dumps(summary))
    print(f"model, history.csv, training_curves.png and metrics.json are in {result.output_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from bert_cls.evaluate import evaluate_file

    metrics = evaluate_file(args.model, args.test_file, args.output_dir, args.batch_size, args.text_column, args.label_column)
    print(f"accuracy {metrics['accuracy']:.4f}  macro_f1 {metrics['macro_f1']:.4f}  examples {metrics['num_examples']}")
    for name, m in metrics["per_class"].items():
        print(f"  {name:>12}: precision {m['precision']:.4f} recall {m['recall']:.4f} f1 {m['f1']:.4f} support {m['support']}")
    print(f"wrote {metrics['json']} and {metrics['confusion_png']}")
    return 0


def cmd_predict(args) -> int:
    from bert_cls.evaluate import predict_texts

    for row in predict_texts(args.model, read_texts(args), args.batch_size):
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['label']}\t{max(row['probabilities']):.4f}\t{row['text']}")
    return 0


def cmd_quickstart(args) -> int:
    from bert_cls.quickstart import run_quickstart

    run_quickstart(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bert_cls import __version__
    from bert_cls.train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="bert-cls",
        description="Fine-tune BERT for text classification with in-graph tokenization, tune it with "
        "Keras Tuner, export it for TensorFlow Serving and query it over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"bert-cls {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="fine-tune a BERT checkpoint on a TSV file",
                       description="Fine-tune BERT (AdamW, warmup + linear decay, early stopping on validation "
                       "accuracy). Rerunning the same command after an interruption resumes the run.")
    add_dataclass_arguments(p, TrainConfig)
    p.add_argument("--overwrite", action="store_true", help="replace whatever --output-dir holds")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class P/R/F1 and confusion matrix on a labelled TSV")
    p.add_argument("--model", required=True, help="output directory of `bert-cls train`")
    p.add_argument("--test-file", required=True, help="labelled TSV (same columns as training)")
    p.add_argument("--output-dir", help="where to write eval_<file>.json and the PNG (default: --model)")
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size (default: %(default)s)")
    p.add_argument("--text-column", default="document", help="text column (default: %(default)s)")
    p.add_argument("--label-column", default="label", help="label column (default: %(default)s)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify texts from the command line, a file or stdin")
    p.add_argument("--model", required=True, help="output directory of `bert-cls train`")
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--file", help="file with one text per line ('-' for stdin)")
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per text")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("quickstart", help="offline demo: fine-tune MiniLM on the bundled sample, export, serve, query",
                       description="Fine-tunes all-MiniLM-L6-v2 (English vocabulary: it reads Korean as jamo pieces, "
                       "so accuracy is far below a Korean-capable checkpoint) on the bundled NSMC sample, "
                       "evaluates, exports for TF Serving, serves it locally and queries it over gRPC.")
    p.add_argument("--output-dir", default="bert-cls-quickstart", help="where everything goes (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2, help="(default: %(default)s)")
    p.add_argument("--max-train-samples", type=int, default=2000, help="(default: %(default)s)")
    p.add_argument("--max-length", type=int, default=128, help="(default: %(default)s)")
    # 1e-4 and above left MiniLM at chance on this sample (measured); 3e-5..5e-5 learned.
    p.add_argument("--learning-rate", type=float, default=5e-5, help="(default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous quickstart in --output-dir")
    p.set_defaults(func=cmd_quickstart)

    for register in _other_commands():
        register(sub)
    return parser


def _other_commands():
    """Subcommands defined next to the code they drive."""
    from bert_cls import bench, export, tuning
    from bert_cls.serving import cli as serving_cli

    return [export.register_cli, serving_cli.register_cli, tuning.register_cli, bench.register_cli]


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BertClsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
