"""The ``bert-cls`` command line: train, pretrain, evaluate, predict, quickstart, export, serve, query, tune,
example-data, bench, gpu-check.

Each subcommand is declared once in ``COMMANDS``: its config dataclass(es), which carry the
flags (``bert_cls.cli.parser``), and the function in ``bert_cls.cli.commands`` that runs it.
Every subcommand has ``--help``. Problems with input print one line (``error: ...``) and
exit with status 2; nothing is overwritten without ``--overwrite``. TensorFlow's C++ start-up
log lines are hidden unless ``bert-cls -v`` (or your own ``TF_CPP_MIN_LOG_LEVEL``) asks for them.
"""

from __future__ import annotations

import argparse
import difflib
import dataclasses
import os
import sys
import warnings
from typing import Callable

import bert_cls
from bert_cls.apps.config import ExampleDataConfig, QuickstartConfig
from bert_cls.bench.config import BenchConfig, GpuCheckConfig
from bert_cls.cli import commands
from bert_cls.cli.parser import add_config_arguments, config_from_args
from bert_cls.errors import BertClsError
from bert_cls.pretraining.config import PretrainConfig
from bert_cls.serving.config import ExportConfig, QueryConfig, ServeConfig
from bert_cls.training.config import EvaluateConfig, ImportConfig, PredictConfig, TrainConfig
from bert_cls.tuning.config import PER_TRIAL_FIELDS, TuneConfig


@dataclasses.dataclass
class Command:
    name: str
    configs: tuple  # ((config class, fields to leave out), ...), passed to run in this order
    run: Callable
    help: str
    description: str = ""


COMMANDS = (
    Command(
        "train",
        ((TrainConfig, ()),),
        commands.train,
        "fine-tune a BERT checkpoint: single texts or sentence pairs, one class or several per text",
        "Fine-tune BERT (AdamW, warmup + linear decay, early stopping on validation accuracy). "
        "Rerunning the same command after an interruption resumes the run from its last finished epoch.",
    ),
    Command(
        "pretrain",
        ((PretrainConfig, ()),),
        commands.pretrain,
        "masked-LM pretraining on your own text: a new vocabulary and model, or continue a checkpoint",
        "Masked-LM pretraining (BERT's 15% with 80/10/10 replacement, whole words optionally) of a new BERT with a "
        "WordPiece vocabulary learned from --train-file, or continued from --pretrained with its vocabulary. "
        "Writes a Hugging Face checkpoint directory that `bert-cls train --pretrained DIR` and transformers load. "
        "Commits every --save-steps; rerunning the same command resumes from the last commit.",
    ),
    Command(
        "evaluate",
        ((EvaluateConfig, ()),),
        commands.evaluate,
        "accuracy (multi-label: micro/macro-F1), per-class P/R/F1 and confusion matrix on labelled data",
    ),
    Command("predict", ((PredictConfig, ()),), commands.predict, "classify texts from the command line, a file or stdin"),
    Command(
        "quickstart",
        ((QuickstartConfig, ()),),
        commands.quickstart,
        "offline demo: fine-tune the shipped Korean checkpoint on the bundled sample, export, serve, query",
        "Fine-tunes nsmc-small (a small Korean BERT shipped with bert-cls; --pretrained all-MiniLM-L6-v2 for "
        "MiniLM) on the bundled NSMC sample, evaluates, exports for TF Serving, serves it locally and queries it "
        "over gRPC and REST.",
    ),
    Command(
        "import",
        ((ImportConfig, ()),),
        commands.import_model,
        "turn a fine-tuned Hugging Face sequence classifier into a run that evaluate, predict and export read",
        "Reads a *ForSequenceClassification checkpoint (BERT, ELECTRA, RoBERTa, XLM-RoBERTa, DistilBERT, "
        "DeBERTa-v2, ALBERT): its encoder, its classification head as trained, id2label and problem_type. Writes "
        "a run directory with the checkpoint's own tokenizer in the graph, after checking that it gives "
        "transformers' logits.",
    ),
    Command(
        "export",
        ((ExportConfig, ()),),
        commands.export,
        "export a trained model as a SavedModel for TensorFlow Serving",
        "Export a trained classifier as a versioned SavedModel that TensorFlow Serving loads as is. The export "
        "is verified in a fresh process before it is moved into place.",
    ),
    Command(
        "serve",
        ((ServeConfig, ()),),
        commands.serve,
        "serve exported versions over TF Serving's gRPC and REST APIs (development server)",
        "A TF-Serving-compatible model server for development and tests where Docker is unavailable: gRPC "
        "(Predict, GetModelMetadata, GetModelStatus), REST (--rest-api-port: /v1/models/..., Prometheus metrics), "
        "TF Serving's version policy (latest by default) and models.config (--model-config-file), background "
        "loading with warm-up. Production: the tensorflow/serving container.",
    ),
    Command(
        "query",
        ((QueryConfig, ()),),
        commands.query,
        "classify texts with a TF Serving (or bert-cls serve) endpoint over gRPC (or REST with --rest)",
    ),
    Command(
        "tune",
        ((TrainConfig, PER_TRIAL_FIELDS), (TuneConfig, ())),
        commands.tune,
        "Keras Tuner search over learning rate and dropout; export the best model",
        "Searches learning rate (log scale) and classifier dropout with Keras Tuner, each trial running "
        "`bert-cls train`'s training. Rerunning the same command resumes the search. Distributed: set "
        "KERASTUNER_TUNER_ID (chief/tuner0/...), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
    ),
    Command(
        "example-data",
        ((ExampleDataConfig, ()),),
        commands.example_data,
        "write a sentence-pair or multi-label example dataset built from the bundled NSMC sample",
        "Writes train.csv and test.csv for one task kind, built from the bundled NSMC sample, for the README's "
        "sentence-pair and multi-label examples.",
    ),
    Command(
        "bench",
        ((BenchConfig, ()),),
        commands.bench,
        "measure speed against the reference notebook's pipeline",
        "bert-cls bench: this package's pipeline against the reference notebook's pipeline, transformers on "
        "PyTorch and ONNX Runtime (each in its own process), on one machine, with the CPU's model and flags.",
    ),
    Command(
        "gpu-check",
        ((GpuCheckConfig, ()),),
        commands.gpu_check,
        "training and inference speed on each GPU (MiniLM and a BERT-base-sized encoder)",
        "Per GPU, in minutes: training examples/s and MFU in float32, mixed_float16 and XLA for MiniLM and a "
        "random BERT-base-sized encoder, and inference of the export (batch 64, one text). Refuses without a GPU; "
        "--dry-run checks it on the CPU with tiny encoders.",
    ),
)

# Set for a tuning search: each trial sets its own output directory.
_TUNE_OUTPUT_DIR = "(per trial)"


class _CommandParser(argparse.ArgumentParser):
    """A sub-command's parser: an unknown flag is its own error, with the sub-command's usage and the closest flag
    (argparse would hand it to the top-level parser, whose usage names no flag of the sub-command)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        unknown = next((word for word in extras if word.startswith("-") and len(word) > 1), None)
        if unknown is not None:
            flag = unknown.split("=", 1)[0]
            options = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
            close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
            self.error(f"unrecognized argument {flag}" + (f": did you mean {close[0]}?" if close else ""))
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bert-cls",
        description="Fine-tune BERT for text classification with in-graph tokenization, tune it with "
        "Keras Tuner, export it for TensorFlow Serving and query it over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"bert-cls {bert_cls.__version__}")
    # Not --verbose: train, pretrain and tune take --verbose N (Keras' progress output).
    parser.add_argument(
        "-v",
        "--show-logs",
        dest="show_runtime_logs",
        action="store_true",
        help="show TensorFlow's C++ start-up log lines and dependencies' warnings (hidden by default)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description or command.help)
        for cls, skip in command.configs:
            add_config_arguments(p, cls, skip=skip)
        p.set_defaults(command_spec=command)
    return parser


def _configs(command: Command, args: argparse.Namespace) -> list:
    configs = []
    for cls, skip in command.configs:
        overrides = {"output_dir": _TUNE_OUTPUT_DIR} if "output_dir" in skip else {}
        configs.append(config_from_args(cls, args, **overrides))
    return configs


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show_runtime_logs:
        if not bert_cls.USER_SET_TF_LOG_LEVEL:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
            os.environ.pop("BERT_CLS_DEFAULT_TF_LOG_LEVEL", None)  # children log as verbosely
    else:
        # Dependencies' warnings are nothing a user of the command can act on; ours stay visible
        # (later filters take precedence).
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module="bert_cls")
    commands.QUIET = not args.show_runtime_logs
    command = args.command_spec
    try:
        return command.run(*_configs(command, args))
    except BertClsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
