"""Arguments of ``bert-cls pretrain`` (light: no TensorFlow, so ``--help`` is fast)."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg
from bert_cls.errors import BertClsError

RUN_CONFIG = "pretrain_config.json"
# --objective's values: BERT's masked LM, ELECTRA's replaced-token detection (bert_cls.pretraining.objectives).
MLM, ELECTRA = "mlm", "electra"
# Shape flags of a model built from scratch, and their defaults: a 4-layer, 256-wide BERT (4.8M parameters with an
# 8,000-piece vocabulary), which pretrains at a few hundred sequences a second on a 2-core CPU.
SHAPE_DEFAULTS = {"vocab_size": 8000, "layers": 4, "hidden_size": 256, "heads": 4}
# The special tokens of a vocabulary learned from scratch, [PAD] first (id 0 is the pad id BertConfig assumes).
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(value) -> Optional[float]:
    """``--max-time``: seconds from ``90``, ``90s``, ``45m`` or ``2.5h``."""
    if value is None:
        return None
    match = _DURATION.match(str(value))
    if not match:
        raise BertClsError(f"--max-time {value!r}: write a duration such as 3600, 90m or 2.5h")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not seconds > 0:
        raise BertClsError(f"--max-time {value!r} must be positive")
    return seconds


def check_vocab_size(size: int) -> None:
    if size <= len(SPECIAL_TOKENS):
        raise BertClsError(
            f"--vocab-size {size} leaves no room beside the {len(SPECIAL_TOKENS)} special tokens "
            f"({' '.join(SPECIAL_TOKENS)}): use a few thousand"
        )


def _mask_rate(value):
    return None if 0.0 < value < 1.0 else "must be between 0 and 1"


def _share(value):
    return None if 0.0 < value <= 1.0 else "must be above 0 and at most 1"


@dataclasses.dataclass
class PretrainConfig(cfg.Config):
    """Arguments of ``bert-cls pretrain``; the CLI flags are generated from these fields."""

    output_dir: str = arg(
        help="directory for the checkpoint (config.json, vocab.txt, tokenizer_config.json, "
        "tf_model.h5, README.md) and the run's state, logs and curves"
    )
    train_file: str = arg(
        help="text to pretrain on: data files (.tsv/.csv/.jsonl/.parquet, optionally .gz; their "
        "--text-column) or, with --format txt, plain text files (one text per line); a glob or "
        "several, comma-separated"
    )
    format: Optional[str] = arg(
        None,
        "input format: tsv, csv, jsonl, parquet, or txt (one text per line); default: "
        "from each file's extension (.txt is read as TSV with a header, as NSMC's files)",
        choices=["tsv", "csv", "jsonl", "parquet", "txt"],
    )
    quoting: str = cfg.quoting()
    text_column: str = cfg.text_column()
    text_pair_column: Optional[str] = arg(
        None, "column of second texts: each row is pretrained as a pair ([CLS] a [SEP] b [SEP]), as a pair classifier reads it"
    )
    exclude_file: Optional[str] = arg(
        None, "data files whose texts (their --text-column) are left out of pretraining, e.g. the test set you will evaluate on"
    )
    objective: str = arg(
        "mlm",
        "mlm: BERT's masked-LM (a BERT checkpoint); electra: ELECTRA's replaced-token detection, which learns "
        "from every token instead of the masked 15%% (a small generator fills the masked positions, the "
        "discriminator tells each token whether it was replaced; an ELECTRA checkpoint of the discriminator)",
        choices=[MLM, ELECTRA],
    )
    generator_size: float = arg(
        0.25, "electra: the generator's hidden size as a share of the discriminator's (ELECTRA's 1/4)", check=_share
    )
    discriminator_weight: float = arg(
        50.0, "electra: weight of the discriminator's loss beside the generator's (ELECTRA's 50)", check=cfg.positive
    )
    pretrained: Optional[str] = arg(
        None,
        "continue pretraining this checkpoint (Hugging Face id, directory, "
        "all-MiniLM-L6-v2 or nsmc-small) with its own vocabulary; default: a new model "
        "from scratch with a vocabulary learned from --train-file",
    )
    vocab_size: Optional[int] = arg(
        None,
        f"from scratch: WordPiece vocabulary size, special tokens included (default {SHAPE_DEFAULTS['vocab_size']})",
        check=cfg.at_least(1),
    )
    lower_case: bool = arg(
        False,
        "from scratch: lower-case and strip accents (uncased). Leave off for Korean: "
        "uncased normalization splits Hangul syllables into jamo",
    )
    min_frequency: int = arg(2, "from scratch: a piece must occur this often to enter the vocabulary", check=cfg.at_least(1))
    layers: Optional[int] = arg(
        None, f"from scratch: transformer layers (default {SHAPE_DEFAULTS['layers']})", check=cfg.at_least(1)
    )
    hidden_size: Optional[int] = arg(
        None,
        f"from scratch: hidden size; the feed-forward size is 4x (default {SHAPE_DEFAULTS['hidden_size']})",
        check=cfg.at_least(2),
    )
    heads: Optional[int] = arg(None, f"from scratch: attention heads (default {SHAPE_DEFAULTS['heads']})", check=cfg.at_least(1))
    max_length: int = cfg.max_length(
        128, "max tokens per text, [CLS]/[SEP] included; from scratch also the model's position limit"
    )
    mask_rate: float = arg(
        0.15, "share of tokens to predict (of these, 80%% become [MASK], 10%% a random token, 10%% stay)", check=_mask_rate
    )
    whole_word_masking: bool = arg(False, "mask all WordPiece pieces of a chosen word together (both objectives)")
    epochs: float = arg(1.0, "passes over the training texts (fractions allowed); --max-steps overrides", check=cfg.positive)
    max_steps: Optional[int] = arg(
        None, "training steps in all (sets the learning-rate schedule's length)", check=cfg.at_least(1)
    )
    max_time: Optional[str] = arg(
        None,
        "stop after this much training time in all, resumes included (3600, 90m, "
        "2.5h); the checkpoint of the last step is written",
    )
    batch_size: int = cfg.batch_size(128, "global batch size")
    learning_rate: float = cfg.learning_rate(5e-4)
    warmup_ratio: float = cfg.warmup_ratio(0.06, "fraction of the steps with linear warmup (then linear decay to 0)")
    weight_decay: float = cfg.weight_decay()
    dropout: float = arg(
        0.0,
        "from scratch: the encoder's dropout (hidden and attention) while pretraining, and the "
        "checkpoint's default for fine-tuning. 0 learns faster on short budgets (Geiping & Goldstein, "
        "2023) and keeps a resumed run exact (to float rounding); with dropout, a resume repeats the "
        "data and masks exactly but not dropout's random draws",
        check=cfg.in_unit_interval,
    )
    validation_split: float = arg(
        0.01, "share of the texts held out to report masked-LM loss and accuracy", check=cfg.fraction_open
    )
    max_validation_texts: int = arg(2000, "at most this many held-out texts are scored at each save", check=cfg.at_least(1))
    save_steps: int = arg(
        500, "save the checkpoint, score the held-out texts and commit the run every this many steps", check=cfg.at_least(1)
    )
    bucket_by_length: bool = arg(True, "batch texts of similar token length together (less padding)")
    mixed_precision: str = cfg.mixed_precision()
    strategy: str = arg(
        "default",
        "tf.distribute: 'default', 'mirrored' (all local GPUs) or 'multi-worker' (TF_CONFIG)",
        choices=["default", "mirrored", "multi-worker"],
    )
    seed: int = arg(42, "seed for the held-out split, the data order, the masks and the initialization")
    cache_dir: Optional[str] = arg(None, "cache for Hugging Face checkpoints")
    verbose: int = arg(1, "0 silent, 1 progress bar (one line per save when output is not a terminal), 2 one line per save")
    overwrite: bool = cfg.overwrite("whatever --output-dir holds")

    def __post_init__(self):
        super().__post_init__()
        self.max_time_seconds = parse_duration(self.max_time)
        shape = [f for f in SHAPE_DEFAULTS if getattr(self, f) is not None]
        if self.pretrained and self.objective == ELECTRA:
            raise BertClsError(
                "--objective electra pretrains a new ELECTRA model from scratch: drop --pretrained (or continue a "
                "BERT checkpoint with --objective mlm)"
            )
        if self.pretrained:
            if shape:
                raise BertClsError(
                    f"--pretrained continues a checkpoint with its own shape and vocabulary: drop "
                    f"{', '.join(cfg.flag(f) for f in shape)}"
                )
            if self.lower_case:
                raise BertClsError("--pretrained keeps the checkpoint's vocabulary and casing: drop --lower-case")
        else:
            for name, default in SHAPE_DEFAULTS.items():
                if getattr(self, name) is None:
                    setattr(self, name, default)
            check_vocab_size(self.vocab_size)  # before anything is written
            if self.hidden_size % self.heads:
                raise BertClsError(f"--hidden-size {self.hidden_size} must be a multiple of --heads {self.heads}")

    @property
    def from_scratch(self) -> bool:
        return not self.pretrained

    # Flags that may change between a run and its resume.
    NOT_FINGERPRINTED = frozenset({"verbose", "cache_dir", "output_dir", "overwrite"})

    def fingerprint(self) -> dict:
        """What must match for a rerun to resume this run instead of conflicting with it."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.NOT_FINGERPRINTED}

    @classmethod
    def with_defaults(cls, fingerprint: dict) -> dict:
        """A stored fingerprint with the defaults of flags added since it was written (``--objective``: a run
        started before there was a choice is a masked-LM run, and resumes as one)."""
        added = {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.name not in fingerprint and f.name not in cls.NOT_FINGERPRINTED and f.default is not dataclasses.MISSING
        }
        return {**added, **fingerprint}
