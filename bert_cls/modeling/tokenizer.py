"""``BertTokenizerLayer``: WordPiece tokenization of raw strings inside the graph.

Built on TF Text's ``FastBertTokenizer`` (ops that TensorFlow Serving links), so the
exported model takes plain strings. Sequences are truncated to ``max_length``
(``[CLS]`` and ``[SEP]`` included) and each batch is padded only to its own
longest sequence.
"""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf

import tensorflow_text as tf_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
# Sequence-length multiple under XLA: a few padded shapes instead of one compiled program per length.
XLA_PAD_MULTIPLE = 32
# transformers' WordpieceTokenizer maps words longer than this to [UNK].
MAX_CHARS_PER_WORD = 100


class BertTokenizerLayer(keras.layers.Layer):
    """Maps a ``[batch]`` string tensor to BERT's ``input_ids``/``attention_mask``/``token_type_ids``.

    Args:
        vocabulary: WordPiece tokens in id order (the lines of ``vocab.txt``).
        lower_case: Lower-case and strip accents, as uncased BERT checkpoints expect.
        max_length: Longest output sequence, special tokens included.
        pad_to_multiple_of: Pad each batch to a multiple of this (capped at
            ``max_length``), so XLA compiles a handful of shapes, not one per length.
    """

    def __init__(self, vocabulary, lower_case: bool, max_length: int = 128, pad_to_multiple_of: int = 1, **kwargs):
        super().__init__(trainable=False, **kwargs)
        vocabulary = list(vocabulary)
        missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
        if missing:
            raise ValueError(f"vocabulary lacks special tokens {missing}")
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3, got {max_length}")
        self.vocabulary = vocabulary
        self.lower_case = bool(lower_case)
        self.max_length = int(max_length)
        self.pad_to_multiple_of = int(pad_to_multiple_of)
        ids = {t: vocabulary.index(t) for t in SPECIAL_TOKENS}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (ids[t] for t in SPECIAL_TOKENS)
        # FastWordpiece (linear-time WordPiece with BERT's pre-tokenization) is ~10-20x faster
        # than tf_text.BertTokenizer here. Its own lower-casing applies NFKC case folding, which
        # differs from BERT's (e.g. on Hangul compatibility jamo), so `_normalize` does that part.
        self._tokenizer = tf_text.FastBertTokenizer(
            vocabulary,
            token_out_type=tf.int64,
            lower_case_nfd_strip_accents=False,
            unknown_token="[UNK]",
            # transformers maps words over 100 characters to [UNK]; this limit is in bytes (4 per char at most).
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
            support_detokenization=False,
        )

    def _normalize(self, texts):
        """Uncased BERT's normalization: lower-case, NFD, drop combining marks."""
        texts = tf.strings.lower(texts, encoding="utf-8")
        texts = tf_text.normalize_utf8(texts, "NFD")
        return tf.strings.regex_replace(texts, r"\p{Mn}", "")

    def call(self, texts):
        texts = tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1])
        # Invalid UTF-8 from a client becomes U+FFFD instead of failing the request.
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self.lower_case:
            texts = self._normalize(texts)
        pieces = self._tokenizer.tokenize(texts)  # ragged [batch, pieces]
        # Dense ops from here on: slicing and concatenating ragged tensors cost more than the
        # WordPiece itself. Truncate and pad in one to_tensor, then place [CLS]/[SEP] by position.
        lengths = tf.minimum(pieces.row_lengths(), self.max_length - 2)
        width = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
        if self.pad_to_multiple_of > 1:
            multiple = self.pad_to_multiple_of
            width = tf.minimum((width + 2 + multiple - 1) // multiple * multiple, self.max_length) - 2
        batch = tf.shape(texts, out_type=tf.int64)[0]
        body = pieces.to_tensor(default_value=self.pad_id, shape=tf.stack([batch, width]))
        cls = tf.fill([batch, 1], tf.constant(self.cls_id, tf.int64))
        pad = tf.fill([batch, 1], tf.constant(self.pad_id, tf.int64))
        positions = tf.range(width + 2)[tf.newaxis, :]
        ends = (lengths + 1)[:, tf.newaxis]  # where [SEP] goes
        ids = tf.where(positions == ends, tf.constant(self.sep_id, tf.int64), tf.concat([cls, body, pad], axis=1))
        input_ids = tf.cast(ids, tf.int32)
        attention_mask = tf.cast(positions <= ends, tf.int32)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": tf.zeros_like(input_ids),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocabulary": self.vocabulary, "lower_case": self.lower_case, "max_length": self.max_length,
             "pad_to_multiple_of": self.pad_to_multiple_of}
        )
        config.pop("trainable", None)
        return config
