"""Which in-graph tokenizer a checkpoint needs, read from its tokenizer files, and ``load_tokenizer``.

The choice follows what transformers' ``AutoTokenizer`` would load: ``tokenizer_config.json``'s
``tokenizer_class`` when it names one, else the ``model_type``'s usual tokenizer. Two kinds can be reproduced
exactly with ops TensorFlow Serving links:

* WordPiece (``vocab.txt``): BERT, ELECTRA, DistilBERT, and RoBERTa checkpoints that ship a WordPiece
  vocabulary (klue/roberta-*), all packed as ``BertTokenizer`` packs: ``[CLS] a [SEP] b [SEP]``.
* SentencePiece (``*.model``): XLM-RoBERTa (``<s> a </s></s> b </s>``, fairseq ids), ALBERT and DeBERTa-v2/v3
  (``[CLS] a [SEP] b [SEP]``).

Byte-level BPE (``vocab.json`` + ``merges.txt``: English ``roberta-base``, GPT-2 style) is refused before
training, never approximated. A tokenizer is described by a ``spec`` (a JSON-able dict stored in the run's
``classifier_config.json``) and a ``resource`` (the WordPiece vocabulary, or the SentencePiece model's bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bert_cls.errors import BertClsError
from bert_cls.modeling.checkpoint_check import check_vocabulary, read_json_object, read_vocabulary_lines
from bert_cls.modeling.sentencepiece_tokenizer import SentencePieceTokenizerLayer
from bert_cls.modeling.tokenizer import BertTokenizerLayer

WORDPIECE, SENTENCEPIECE = "wordpiece", "sentencepiece"
SENTENCEPIECE_FILES = ("sentencepiece.bpe.model", "spiece.model", "spm.model")
# tokenizer_class (without "Fast") -> kind of tokenizer (WordPiece, or the SentencePiece family's conventions).
TOKENIZER_CLASSES = {
    "BertTokenizer": WORDPIECE,
    "ElectraTokenizer": WORDPIECE,
    "DistilBertTokenizer": WORDPIECE,
    "XLMRobertaTokenizer": "xlm-roberta",
    "AlbertTokenizer": "albert",
    "DebertaV2Tokenizer": "deberta-v2",
}
MODEL_TYPE_TOKENIZERS = {
    "bert": WORDPIECE,
    "electra": WORDPIECE,
    "distilbert": WORDPIECE,
    "roberta": WORDPIECE,
    "xlm-roberta": "xlm-roberta",
    "albert": "albert",
    "deberta-v2": "deberta-v2",
}
# Special tokens of the SentencePiece families (tokenizer_config.json may respell them).
SENTENCEPIECE_SPECIALS = {
    "albert": {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "<pad>", "unk_token": "<unk>"},
    "deberta-v2": {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"},
}
WORKING = "WordPiece (BERT, ELECTRA, DistilBERT, RoBERTa with vocab.txt) or SentencePiece (XLM-RoBERTa, ALBERT, DeBERTa-v2)"


def _read_json(path: Path) -> dict:
    return read_json_object(path) if path.is_file() else {}


def _token(value) -> Optional[str]:
    """A special token as tokenizer_config.json spells it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def _settings(path: Path) -> dict:
    """tokenizer_config.json over special_tokens_map.json (as transformers merges them)."""
    return {**_read_json(path / "special_tokens_map.json"), **_read_json(path / "tokenizer_config.json")}


def tokenizer_kind(path: Path, model_type: str) -> str:
    """``WORDPIECE`` or the SentencePiece family whose conventions the checkpoint's tokenizer follows."""
    declared = _settings(path).get("tokenizer_class")
    if declared:
        kind = TOKENIZER_CLASSES.get(declared.removesuffix("Fast"))
        if kind is None:
            raise BertClsError(
                f"checkpoint {path} uses the tokenizer {declared}, which cannot be reproduced exactly in the "
                f"graph: bert-cls supports {WORKING}"
            )
        return kind
    if model_type == "roberta" and not (path / "vocab.txt").is_file():
        raise BertClsError(
            f"checkpoint {path} is a RoBERTa with a byte-level BPE tokenizer (vocab.json + merges.txt), which "
            f"cannot be reproduced exactly in the graph: bert-cls supports {WORKING}"
        )
    return MODEL_TYPE_TOKENIZERS[model_type]


def _sentencepiece_file(path: Path) -> Path:
    for name in SENTENCEPIECE_FILES:
        if (path / name).is_file():
            return path / name
    raise BertClsError(
        f"checkpoint {path} has no SentencePiece model ({', '.join(SENTENCEPIECE_FILES)}): its tokenizer cannot be built"
    )


def read_tokenizer(path: Path, model_type: str, token_type_ids: bool, lower_case_default: bool):
    """``(spec, resource)`` of the checkpoint in ``path``; ``resource`` is the vocabulary (a list of tokens) or
    the SentencePiece model (bytes)."""
    kind, settings = tokenizer_kind(path, model_type), _settings(path)
    if kind == WORDPIECE:
        if not (path / "vocab.txt").is_file():
            raise BertClsError(f"checkpoint {path} has no vocab.txt: its WordPiece tokenizer cannot be built")
        spec = {
            "kind": WORDPIECE,
            "lower_case": bool(settings.get("do_lower_case", lower_case_default)),
            "strip_accents": settings.get("strip_accents"),
            "token_type_ids": token_type_ids,
        }
        specials = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}
        for name, default in specials.items():
            spec[name] = _token(settings.get(name)) or default
        vocabulary = read_vocab(path / "vocab.txt")
        check_vocabulary(path / "vocab.txt", vocabulary, {name: spec[name] for name in specials})
        return spec, vocabulary
    model_file = _sentencepiece_file(path)
    model = model_file.read_bytes()
    _check_sentencepiece(model, model_file)
    spec = {
        "kind": SENTENCEPIECE,
        "family": kind,
        "token_type_ids": token_type_ids,
        "lower_case": bool(settings.get("do_lower_case", kind == "albert")),
    }
    if kind == "xlm-roberta":
        # XLMRobertaTokenizer's fairseq ids: <s> 0, <pad> 1, </s> 2, <unk> 3, then SentencePiece's ids plus one.
        spec.update(start_id=0, pad_id=1, end_id=2, unk_id=3, middle_ids=[2, 2], id_offset=1)
    else:
        tokens = {name: _token(settings.get(name)) or default for name, default in SENTENCEPIECE_SPECIALS[kind].items()}
        ids = _piece_ids(model, tokens, path)
        spec.update(
            start_id=ids["cls_token"],
            end_id=ids["sep_token"],
            pad_id=ids["pad_token"],
            unk_id=ids["unk_token"],
            middle_ids=[ids["sep_token"]],
            id_offset=0,
        )
        if kind == "albert":
            spec.update(albert=True, keep_accents=bool(settings.get("keep_accents", False)))
    return spec, model


def _check_sentencepiece(model: bytes, file: Path) -> None:
    """The SentencePiece model parses (TF Text's loader, the one the graph uses) and has pieces."""
    import tensorflow_text as tf_text

    from bert_cls.modeling.keras_compat import tf

    problem = "it is empty" if not model else None
    if model:
        try:
            problem = None if int(tf_text.SentencepieceTokenizer(model).vocab_size()) > 0 else "it has no pieces"
        except (tf.errors.OpError, ValueError):
            problem = "it does not parse as a SentencePiece model"
    if problem:
        raise BertClsError(f"{file}: {problem}: the checkpoint's tokenizer cannot be built (copy the file again)")


def _piece_ids(model: bytes, tokens: dict, path: Path) -> dict:
    import tensorflow_text as tf_text

    from bert_cls.modeling.keras_compat import tf

    sp = tf_text.SentencepieceTokenizer(model)
    unk = int(sp.string_to_id("<unk>"))
    ids = {name: int(sp.string_to_id(tf.constant(token))) for name, token in tokens.items()}
    absent = [tokens[name] for name, i in ids.items() if i == unk and name != "unk_token"]
    if absent:
        raise BertClsError(
            f"checkpoint {path}: the SentencePiece model has no piece {absent[0]!r}, a special token its tokenizer needs"
        )
    return ids


def read_vocab(path) -> list:
    """``vocab.txt``'s tokens, one per line."""
    return read_vocabulary_lines(Path(path))


def tokenizer_vocab_size(spec: dict, resource) -> int:
    """One more than the largest id the tokenizer can produce."""
    if spec["kind"] == WORDPIECE:
        return len(resource)
    import tensorflow_text as tf_text

    # The model's own size is enough: building the whole layer (fast op, ALBERT's lookup table) here would be
    # thrown away, and the classifier builds it anyway.
    pieces = int(tf_text.SentencepieceTokenizer(resource).vocab_size()) + spec["id_offset"]
    return max(pieces, *(spec[name] + 1 for name in ("start_id", "end_id", "pad_id", "unk_id")))


def build_tokenizer(spec: dict, resource, max_length: int, pad_to_multiple_of: int = 1, **kwargs):
    """The in-graph tokenizer layer that ``spec`` and ``resource`` describe."""
    if spec["kind"] == WORDPIECE:
        names = ("strip_accents", "cls_token", "sep_token", "pad_token", "unk_token", "token_type_ids")
        return BertTokenizerLayer(
            resource,
            spec["lower_case"],
            max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            **{k: spec[k] for k in names if k in spec},
            **kwargs,
        )
    names = (
        "start_id",
        "end_id",
        "pad_id",
        "unk_id",
        "middle_ids",
        "id_offset",
        "albert",
        "lower_case",
        "keep_accents",
        "token_type_ids",
    )
    return SentencePieceTokenizerLayer(
        resource, max_length, pad_to_multiple_of=pad_to_multiple_of, **{k: spec[k] for k in names if k in spec}, **kwargs
    )
