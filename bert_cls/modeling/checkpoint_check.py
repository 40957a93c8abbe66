"""The checks a checkpoint directory passes before TensorFlow builds anything from it.

``resolve_checkpoint`` (so ``import``, ``train --pretrained``, ``pretrain --pretrained`` and ``load_tokenizer``)
runs ``check_checkpoint`` on every directory: ``config.json`` (JSON, an object, each size a positive integer
within bounds that admit the largest real checkpoints, ``hidden_size`` divisible by the heads, activations
transformers knows, dropout rates, ``id2label``/``label2id``/``architectures`` shapes), the tokenizer settings
files (JSON objects, special tokens as strings, ``tokenizer_class`` a name) and the weights file's header
(``model.safetensors``: its 8-byte header length within the file, its JSON header's offsets within the data;
``tf_model.h5``: HDF5's signature). ``check_vocabulary`` and ``check_sentencepiece`` are called where the
tokenizer is read, which knows the special tokens it needs; ``unused_encoder_weights`` where the weights load.
Every failure is one ``BertClsError`` naming the file and the field. Light: no TensorFlow.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

from bert_cls.errors import BertClsError

# Sizes as config.json names them, with the largest value accepted: above the biggest released encoders
# (XLM-R XL: 250,002 tokens, hidden 2,560; ALBERT xxlarge: hidden 4,096, intermediate 16,384; DeBERTa-v2 xxlarge:
# 48 layers; Longformer-style positions 4,098) and below what would exhaust a machine before any check ran.
SIZE_LIMITS = {
    "vocab_size": 1_000_000,
    "hidden_size": 16_384,
    "embedding_size": 16_384,
    "dim": 16_384,  # DistilBERT's hidden_size
    "pooler_hidden_size": 16_384,
    "intermediate_size": 65_536,
    "hidden_dim": 65_536,  # DistilBERT's intermediate_size
    "num_hidden_layers": 96,
    "n_layers": 96,  # DistilBERT's
    "num_hidden_groups": 96,  # ALBERT's
    "inner_group_num": 96,
    "num_attention_heads": 256,
    "n_heads": 256,
    "max_position_embeddings": 65_536,
}
# type_vocab_size may be 0 (DeBERTa-v3 has no segment embeddings); the others read it as a table size.
TYPE_VOCAB_LIMIT = 1_024
# transformers 4.57's TensorFlow activations (transformers.activations_tf.ACT2FN; a test keeps the two equal).
ACTIVATIONS = frozenset(
    ("gelu", "gelu_10", "gelu_fast", "gelu_new", "glu", "mish", "quick_gelu", "relu", "sigmoid", "silu", "swish", "tanh")
)
ACTIVATION_FIELDS = ("hidden_act", "activation", "pooler_hidden_act")
DROPOUT_FIELDS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "classifier_dropout_prob",
    "classifier_dropout",
    "dropout",
    "attention_dropout",
    "seq_classif_dropout",
    "pooler_dropout",
)
HEADS = (("hidden_size", "num_attention_heads"), ("dim", "n_heads"))
SPECIAL_TOKENS = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SAFETENSORS_ITEM_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit
# A weight of the encoder itself, in TensorFlow (bert/encoder/layer_._3/...) or PyTorch (encoder.layer.3...) names.
ENCODER_WEIGHT = re.compile(r"(^|[./])(encoder|transformer|embeddings)[./]")
# Buffers PyTorch checkpoints store beside the weights (transformers before 4.31 saved them): not weights.
BUFFER = re.compile(r"(position_ids|token_type_ids)$")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_json_object(path: Path, what: str = "") -> dict:
    """A JSON file that must hold an object; one error naming the file otherwise."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BertClsError(f"{path} is not UTF-8 text (byte {exc.start}): {what or 'it must be JSON'}") from None
    except json.JSONDecodeError as exc:
        raise BertClsError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    if not isinstance(values, dict):
        raise BertClsError(f"{path} must hold a JSON object, not a {type(values).__name__}")
    return values


def check_config(path: Path, values: dict) -> None:
    """``config.json``'s fields by type and range (only the fields it sets: absent ones take transformers' defaults)."""
    problem = _config_problem(values)
    if problem:
        raise BertClsError(f"{path}: {problem}")


def _config_problem(values: dict):
    model_type = values.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        return f'model_type must be a string such as "bert", got {json.dumps(model_type)[:60]}'
    for field, limit in SIZE_LIMITS.items():
        if field in values and not (_is_int(values[field]) and 1 <= values[field] <= limit):
            return f"{field} must be an integer from 1 to {limit:,}, got {json.dumps(values[field])[:60]}"
    if "type_vocab_size" in values:
        value = values["type_vocab_size"]
        if not (_is_int(value) and 0 <= value <= TYPE_VOCAB_LIMIT) or (value == 0 and model_type != "deberta-v2"):
            return f"type_vocab_size must be an integer from 1 to {TYPE_VOCAB_LIMIT}, got {json.dumps(value)[:60]}"
    for width, heads in HEADS:
        if _is_int(values.get(width)) and _is_int(values.get(heads)) and values[width] % values[heads]:
            return f"{width} {values[width]} is not divisible by {heads} {values[heads]}: each head gets an equal share"
    for field in ACTIVATION_FIELDS:
        if field in values and not (isinstance(values[field], str) and values[field] in ACTIVATIONS):
            known = ", ".join(sorted(ACTIVATIONS))
            return f"{field} {json.dumps(values[field])[:60]} is not an activation transformers knows ({known})"
    for field in DROPOUT_FIELDS:
        value = values.get(field)
        if value is not None and not (_is_number(value) and 0 <= value < 1):
            return f"{field} must be a rate from 0 to below 1, got {json.dumps(value)[:60]}"
    eps = values.get("layer_norm_eps")
    if eps is not None and not (_is_number(eps) and 0 < eps < 1):
        return f"layer_norm_eps must be a small positive number, got {json.dumps(eps)[:60]}"
    pad = values.get("pad_token_id")
    if pad is not None and not (_is_int(pad) and pad >= 0):
        return f"pad_token_id must be a non-negative integer or null, got {json.dumps(pad)[:60]}"
    return _labels_problem(values)


def _labels_problem(values: dict):
    architectures = values.get("architectures")
    if architectures is not None and not (
        isinstance(architectures, list) and all(isinstance(name, str) for name in architectures)
    ):
        shown = json.dumps(architectures)[:80]
        return f'architectures must be a list of class names such as ["BertForSequenceClassification"], got {shown}'
    id2label = values.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict):
            return (
                f'id2label must be an object of class ids to names such as {{"0": "negative"}}, got a {type(id2label).__name__}'
            )
        for key, name in id2label.items():
            if not re.fullmatch(r"\d+", str(key)) or not isinstance(name, str):
                return f'id2label maps class ids ("0", "1" ...) to names, got {json.dumps(key)}: {json.dumps(name)[:60]}'
    label2id = values.get("label2id")
    if label2id is not None and not (isinstance(label2id, dict) and all(_is_int(v) for v in label2id.values())):
        return f"label2id must be an object of names to integer class ids, got {json.dumps(label2id)[:80]}"
    return None


def check_tokenizer_settings(path: Path) -> None:
    """``tokenizer_config.json`` and ``special_tokens_map.json``, where present: objects whose fields have the
    types transformers reads."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        file = path / name
        if not file.is_file():
            continue
        values = read_json_object(file)
        declared = values.get("tokenizer_class")
        if declared is not None and not isinstance(declared, str):
            raise BertClsError(
                f'{file}: tokenizer_class must be a class name such as "BertTokenizer", got {json.dumps(declared)[:60]}'
            )
        for field in SPECIAL_TOKENS:
            token = values.get(field)
            content = token.get("content") if isinstance(token, dict) else token
            if token is not None and not (isinstance(content, str) and content):
                raise BertClsError(f'{file}: {field} must be a token string such as "[SEP]", got {json.dumps(token)[:60]}')
        for field in ("do_lower_case", "keep_accents"):
            if field in values and not isinstance(values[field], bool):
                raise BertClsError(f"{file}: {field} must be true or false, got {json.dumps(values[field])[:60]}")
        if values.get("strip_accents") is not None and not isinstance(values["strip_accents"], bool):
            raise BertClsError(
                f"{file}: strip_accents must be true, false or null, got {json.dumps(values['strip_accents'])[:60]}"
            )


def check_vocabulary(file: Path, vocabulary: list, specials: dict) -> None:
    """A WordPiece ``vocab.txt`` (already read as lines): not empty, no token twice, every special token present."""
    if not vocabulary or not any(vocabulary):
        raise BertClsError(f"{file} is empty: a WordPiece vocabulary has one token per line")
    first = {}
    for line, token in enumerate(vocabulary, start=1):
        if token in first:
            raise BertClsError(
                f"{file}: token {token!r} is on lines {first[token]} and {line}: each token must appear once (ids would shift)"
            )
        first[token] = line
    for name, token in specials.items():
        if token not in first:
            raise BertClsError(
                f"{file} has no {token!r}, the {name} its tokenizer needs: the vocabulary is not this checkpoint's"
            )


def read_vocabulary_lines(file: Path) -> list:
    """``vocab.txt``'s lines; a file that is not UTF-8 text is one error."""
    try:
        with open(file, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle]
    except UnicodeDecodeError as exc:
        raise BertClsError(
            f"{file} is not UTF-8 text (byte {exc.start}): a WordPiece vocabulary has one token per line"
        ) from None


def check_weights_header(path: Path) -> None:
    """The weights file the checkpoint loads from is what its name says, with a header that fits the file."""
    h5, safetensors = path / "tf_model.h5", path / "model.safetensors"
    if h5.is_file():
        with open(h5, "rb") as handle:
            if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
                raise BertClsError(f"{h5} is not an HDF5 file (a truncated or foreign file): save the model again")
    elif safetensors.is_file():
        _check_safetensors(safetensors)


def _check_safetensors(file: Path) -> None:
    size = file.stat().st_size
    with open(file, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise BertClsError(f"{file} is {size} bytes, too short for a safetensors file: save the model again")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, SAFETENSORS_MAX_HEADER):
            raise BertClsError(
                f"{file}: its header claims {length} bytes but the file has {size}: the file is truncated or not safetensors"
            )
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BertClsError(f"{file}: its header is not valid JSON: the file is damaged") from None
    if not isinstance(header, dict):
        raise BertClsError(f"{file}: its header is not a JSON object: the file is damaged")
    data_bytes = size - 8 - length
    for name, entry in header.items():
        if name != "__metadata__" and not _safetensors_entry_fits(entry, data_bytes):
            raise BertClsError(
                f"{file}: tensor {name!r} does not fit the file's {data_bytes} data bytes: the file is truncated or damaged"
            )


def _safetensors_entry_fits(entry, data_bytes: int) -> bool:
    if not isinstance(entry, dict):
        return False
    shape, offsets, item = entry.get("shape"), entry.get("data_offsets"), SAFETENSORS_ITEM_BYTES.get(entry.get("dtype"))
    if not (isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape)):
        return False
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        return False
    begin, end = offsets
    sized = item is None or end - begin == math.prod(shape) * item  # a dtype not listed here: offsets only
    return 0 <= begin <= end <= data_bytes and sized


def unused_encoder_weights(unexpected: list) -> list:
    """The encoder weights a checkpoint stores that its config builds no place for (a config whose layer count
    drops stored layers); heads and poolers the model does not use are fine."""
    return [name for name in unexpected if ENCODER_WEIGHT.search(name) and not BUFFER.search(name)]


def check_checkpoint(path: Path) -> dict:
    """``config.json``, the tokenizer settings and the weights header of the directory ``path``; the config's
    values."""
    config_file = path / "config.json"
    values = read_json_object(config_file)
    check_config(config_file, values)
    check_tokenizer_settings(path)
    check_weights_header(path)
    return values
