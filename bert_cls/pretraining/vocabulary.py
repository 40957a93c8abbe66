"""A WordPiece vocabulary learned from your text, written as a standard ``vocab.txt`` + ``tokenizer_config.json``.

Trained with Hugging Face's ``tokenizers`` library (its ``WordPieceTrainer``, with BERT's normalizer and
pre-tokenizer), so the pieces split words as BERT's tokenizer, and bert-cls's in-graph tokenizer, do. Texts are
NFC-normalized first, as the in-graph tokenizer normalizes them. The files load with ``BertTokenizer``/
``AutoTokenizer.from_pretrained(DIR)`` and with ``--pretrained DIR``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Iterable

from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.pretraining.config import SPECIAL_TOKENS as ALL_SPECIAL_TOKENS, check_vocab_size

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
MASK_TOKEN = "[MASK]"


def train_wordpiece(texts: Iterable[str], vocab_size: int, lower_case: bool, min_frequency: int = 2, length: int = 0) -> list:
    """WordPiece pieces in id order, special tokens first, learned from ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    check_vocab_size(vocab_size)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lower_case, lowercase=lower_case
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(ALL_SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator((unicodedata.normalize("NFC", t) for t in texts), trainer, length=length or None)
    vocab = [piece for piece, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    if len(vocab) <= len(ALL_SPECIAL_TOKENS):
        raise BertClsError("the texts gave no WordPiece pieces: check --text-column and --format")
    return vocab


def write_tokenizer_files(directory, vocabulary: list, lower_case: bool, max_length: int) -> None:
    """``tokenizer_config.json``, ``special_tokens_map.json`` and ``vocab.txt`` for ``BertTokenizer``."""
    directory = Path(directory)
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": MASK_TOKEN}
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lower_case,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": max_length,
        **specials,
    }
    write_json(directory / TOKENIZER_CONFIG, config)
    write_json(directory / SPECIAL_TOKENS_MAP, specials)
    # The vocabulary last, replaced atomically: its presence means the tokenizer files are complete (a resume reads it).
    partial = directory / (VOCAB_FILE + ".partial")
    partial.write_text("".join(piece + "\n" for piece in vocabulary), encoding="utf-8")
    partial.replace(directory / VOCAB_FILE)
