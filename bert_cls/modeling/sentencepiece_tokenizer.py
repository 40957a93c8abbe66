"""``SentencePieceTokenizerLayer``: SentencePiece tokenization of raw strings inside the graph.

Built on TF Text's ``FastSentencepieceTokenizer`` (an op in TF Text's ``ops_lib``, which TensorFlow Serving
links), so the pieces are the ones transformers' tokenizers get from the same ``.model`` file. Not TF Text's
``SentencepieceTokenizer``: the SentencePiece library it bundles breaks ties between equally scored
segmentations the other way (``....`` is ``...`` + ``.`` there, ``.`` + ``...`` in the ``sentencepiece`` 0.2
library and in transformers' fast tokenizers), and repeated characters (``ㅋㅋㅋㅋ``, ``!!!!``) are full of
such ties. That op is used only while the layer is built, to look pieces up.
Around it, what transformers' tokenizers add in Python, done here with TF ops:

* ALBERT (``AlbertTokenizer``): whitespace runs collapsed and trimmed (Python's ``str.split``), ````` and
  ``''`` made ``"``, NFKD with combining characters dropped (``keep_accents=False``), lower-casing; and its
  rule for pieces such as ``▁9,``, which it re-encodes without the comma and then appends the comma. That
  rule depends only on the piece, so each such piece's replacement is computed once, when the layer is
  built, and applied by lookup.
* DeBERTa-v2/v3 (``DebertaV2Tokenizer``): lower-casing when ``do_lower_case``.
* XLM-RoBERTa (``XLMRobertaTokenizer``): fairseq's ids, SentencePiece's id plus one, with SentencePiece's
  unknown piece mapped to ``<unk>`` (3).

The character classes for whitespace and combining marks are taken from Python's ``unicodedata`` when the
layer is built, so they are the ones transformers' Python code uses.
"""

from __future__ import annotations

import base64
import functools
import sys
import unicodedata

from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.packing import PackingTokenizerLayer

import tensorflow_text as tf_text

SPIECE_UNDERLINE = "\u2581"


def _class_of(predicate) -> str:
    """An RE2 character class of every code point (surrogates aside) for which ``predicate(char)`` holds."""
    ranges, start, previous = [], None, None
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF or not predicate(chr(code)):
            continue
        if start is None or code != previous + 1:
            if start is not None:
                ranges.append((start, previous))
            start = code
        previous = code
    ranges.append((start, previous))
    return "[" + "".join(r"\x{%X}" % a if a == b else r"\x{%X}-\x{%X}" % (a, b) for a, b in ranges) + "]"


@functools.lru_cache(maxsize=None)
def _whitespace() -> str:
    return _class_of(str.isspace)


@functools.lru_cache(maxsize=None)
def _combining() -> str:
    return _class_of(unicodedata.combining)


class SentencePieceTokenizerLayer(PackingTokenizerLayer):
    """Maps a batch of strings (or pairs of them) to ``input_ids``/``attention_mask`` (and ``token_type_ids``).

    Args:
        model: The SentencePiece model (the bytes of the ``.model`` file).
        max_length: Longest output sequence, special tokens included.
        start_id, end_id, pad_id, middle_ids, token_type_ids, pad_to_multiple_of: as ``PackingTokenizerLayer``.
        id_offset: Added to SentencePiece's ids (1 for XLM-RoBERTa's fairseq ids).
        unk_id: The id SentencePiece's unknown piece becomes.
        albert: Apply ``AlbertTokenizer``'s preprocessing and its digit-comma rule.
        lower_case: Lower-case the text first.
        keep_accents: With ``albert``, keep combining characters (ALBERT's ``keep_accents``).
    """

    def __init__(
        self,
        model,
        max_length: int,
        start_id: int,
        end_id: int,
        pad_id: int,
        unk_id: int,
        middle_ids=None,
        token_type_ids: bool = True,
        pad_to_multiple_of: int = 1,
        id_offset: int = 0,
        albert: bool = False,
        lower_case: bool = False,
        keep_accents: bool = False,
        **kwargs,
    ):
        super().__init__(
            max_length,
            start_id=start_id,
            end_id=end_id,
            pad_id=pad_id,
            middle_ids=middle_ids,
            token_type_ids=token_type_ids,
            pad_to_multiple_of=pad_to_multiple_of,
            **kwargs,
        )
        self.model = base64.b64decode(model) if isinstance(model, str) else bytes(model)
        self.unk_id, self.id_offset = int(unk_id), int(id_offset)
        self.albert, self.lower_case, self.keep_accents = bool(albert), bool(lower_case), bool(keep_accents)
        self._tokenizer = tf_text.FastSentencepieceTokenizer(self.model)
        # Lookups while building only (not kept: the graph needs just the fast op).
        lookup = tf_text.SentencepieceTokenizer(self.model, out_type=tf.int32)
        self.spm_unk_id = int(lookup.string_to_id("<unk>"))
        self.spm_size = int(lookup.vocab_size())
        self._replacements = self._digit_comma_table(lookup) if self.albert else None

    @property
    def vocab_size(self) -> int:
        """One more than the largest id a text's pieces can have."""
        return self.spm_size + self.id_offset

    def _normalize(self, texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self.albert:
            # " ".join(text.strip().split()): every whitespace run (Python's Unicode whitespace) becomes one space.
            texts = tf.strings.strip(tf.strings.regex_replace(texts, _whitespace() + "+", " "))
            texts = tf.strings.regex_replace(tf.strings.regex_replace(texts, "``", '"'), "''", '"')
            if not self.keep_accents:
                texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFKD"), _combining(), "")
        if self.lower_case:
            # tf.strings.lower stops at a NUL character (and so does a NUL separator of reduce_join): lower-case
            # the parts between NULs, end each with a NUL, join, and drop the last NUL.
            parts = tf.strings.split(texts, sep="\x00")
            ended = tf.ragged.map_flat_values(lambda part: tf.strings.lower(part, encoding="utf-8") + "\x00", parts)
            joined = tf.strings.reduce_join(ended, axis=-1)
            length = tf.strings.length(joined)
            texts = tf.strings.substr(joined, tf.zeros_like(length), length - 1)
        return texts

    def _pieces(self, texts):
        # The fast op's row splits are int32; the packing's ragged ops need one dtype throughout.
        pieces = tf.cast(self._tokenizer.tokenize(self._normalize(texts)), tf.int64).with_row_splits_dtype(tf.int64)
        if self._replacements is not None:
            # Each piece becomes its row of the table (itself, or ALBERT's digit-comma replacement).
            rows = tf.gather(self._replacements, pieces.flat_values)
            lengths = tf.math.unsorted_segment_sum(rows.row_lengths(), pieces.value_rowids(), pieces.nrows())
            pieces = tf.RaggedTensor.from_row_lengths(rows.flat_values, lengths)
        if self.id_offset:
            pieces = tf.ragged.map_flat_values(
                lambda ids: tf.where(ids == self.spm_unk_id, tf.constant(self.unk_id, tf.int64), ids + self.id_offset), pieces
            )
        return pieces

    def _digit_comma_table(self, lookup):
        """``AlbertTokenizer._tokenize``'s rule, per piece: a piece that ends in a digit and a comma becomes the
        pieces of its text without the comma (without a leading ``▁`` the piece did not have), then ``,``."""
        pieces = [p.decode("utf-8") for p in lookup.id_to_string(tf.range(self.spm_size)).numpy()]
        rows = [[i] for i in range(self.spm_size)]
        for i, piece in enumerate(pieces):
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                text = tf.constant([piece[:-1].replace(SPIECE_UNDERLINE, "")])
                parts = [pieces[i] for i in self._tokenizer.tokenize(text).flat_values.numpy()]
                if piece[0] != SPIECE_UNDERLINE and parts and parts[0][0] == SPIECE_UNDERLINE:
                    parts = parts[1:] if len(parts[0]) == 1 else [parts[0][1:]] + parts[1:]
                parts.append(piece[-1])
                rows[i] = [int(x) for x in lookup.string_to_id(tf.constant(parts)).numpy()]
        if all(len(row) == 1 and row[0] == i for i, row in enumerate(rows)):
            return None  # this vocabulary has no such piece
        return tf.ragged.constant(rows, dtype=tf.int64)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": base64.b64encode(self.model).decode("ascii"),
                "start_id": self.start_id,
                "end_id": self.end_id,
                "pad_id": self.pad_id,
                "unk_id": self.unk_id,
                "middle_ids": self.middle_ids,
                "id_offset": self.id_offset,
                "albert": self.albert,
                "lower_case": self.lower_case,
                "keep_accents": self.keep_accents,
            }
        )
        return config
