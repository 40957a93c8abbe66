"""``BertTokenizerLayer``: WordPiece tokenization of raw strings (or pairs of them) inside the graph.

Built on TF Text's ``FastBertTokenizer`` (ops that TensorFlow Serving links), so the
exported model takes plain strings. Sequences are truncated to ``max_length``
(``[CLS]`` and ``[SEP]`` included) and each batch is padded only to its own
longest sequence. A pair is packed as transformers' ``BertTokenizer(a, b, truncation=True)``
does: ``[CLS] a [SEP] b [SEP]``, ``token_type_ids`` 1 on ``b [SEP]``, tokens removed from the
longer segment first (``longest_first``).

Text is cleaned as transformers' ``BasicTokenizer`` does before WordPiece sees it (the
``FastBertTokenizer`` alone differs on these, measured against a Korean vocabulary): control and
format characters (Unicode category C: ZWJ, BOM, soft hyphen) are dropped, not word breaks; NFC
normalization; and a word over 100 *characters* after normalization becomes ``[UNK]`` (uncased
normalization turns each Hangul syllable into 2-3 jamo, so a byte limit lets different words through).
"""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf

import tensorflow_text as tf_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
# Sequence-length multiple under XLA: a few padded shapes instead of one compiled program per length.
XLA_PAD_MULTIPLE = 32
# transformers' WordpieceTokenizer maps words longer than this to [UNK].
MAX_CHARS_PER_WORD = 100
# transformers' _clean_text drops NUL, U+FFFD and category C except tab, newline and carriage return.
_CONTROL = r"[^\P{C}\t\n\r]|\x{FFFD}"
# What BERT's basic tokenizer makes a word of its own: punctuation (Unicode P and all ASCII
# non-alphanumerics) and CJK ideographs. Spacing them out first leaves WordPiece's output unchanged
# and makes "a word" a run of non-spaces, which RE2 counts cheaply (a counted repetition of the
# full class overflows RE2's DFA).
_OWN_WORD = (r"([\p{P}!-/:-@\[-`{-~\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
             r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}])")
_LONG_WORD = r"[^\s\p{Zs}]{%d,}" % (MAX_CHARS_PER_WORD + 1)
# Stands in for a too-long word: a private-use character (cleaning removed any from the text) that
# no BERT vocabulary holds, so WordPiece maps it to [UNK].
_UNK_STAND_IN = "\uE000"


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
            # `_normalize` replaces words over 100 characters; 4 bytes a character at most reach here.
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
            support_detokenization=False,
        )

    def _normalize(self, texts):
        """transformers' BasicTokenizer before WordPiece: clean, NFC, and (uncased) lower-case, NFD, drop
        combining marks; then words over ``MAX_CHARS_PER_WORD`` characters become ``[UNK]``."""
        # Invalid UTF-8 from a client becomes U+FFFD (then dropped, as transformers does) instead of failing.
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        texts = tf_text.normalize_utf8(tf.strings.regex_replace(texts, _CONTROL, ""), "NFC")
        if self.lower_case:
            texts = tf.strings.lower(texts, encoding="utf-8")
            texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
        texts = tf.strings.regex_replace(texts, _OWN_WORD, r" \1 ")
        return tf.strings.regex_replace(texts, _LONG_WORD, " " + _UNK_STAND_IN + " ")

    def _pieces(self, texts):
        texts = tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1])
        return self._tokenizer.tokenize(self._normalize(texts))  # ragged [batch, pieces]

    def call(self, inputs):
        """``inputs``: a ``[batch]`` string tensor, ``(texts, pairs)`` for sentence pairs, or the features
        ``{"text"[, "text_pair"]}`` of a ``tf.data`` pipeline."""
        if isinstance(inputs, dict):
            inputs = (inputs["text"], inputs["text_pair"]) if "text_pair" in inputs else inputs["text"]
        if isinstance(inputs, (tuple, list)):
            return self._pack_pairs(self._pieces(inputs[0]), self._pieces(inputs[1]))
        pieces = self._pieces(inputs)
        # Dense ops from here on: slicing and concatenating ragged tensors cost more than the
        # WordPiece itself. Truncate and pad in one to_tensor, then place [CLS]/[SEP] by position.
        lengths = tf.minimum(pieces.row_lengths(), self.max_length - 2)
        width = self._padded_width(lengths, 2) - 2
        batch = pieces.nrows()
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

    def token_lengths(self, inputs):
        """Each example's sequence length after truncation, special tokens included (``[batch]`` int32): the
        width ``call`` would pad it to alone. Used to batch examples of similar token length together."""
        if isinstance(inputs, dict):
            inputs = (inputs["text"], inputs["text_pair"]) if "text_pair" in inputs else inputs["text"]
        if isinstance(inputs, (tuple, list)):
            both = self._pieces(inputs[0]).row_lengths() + self._pieces(inputs[1]).row_lengths()
            return tf.cast(tf.minimum(both, self.max_length - 3) + 3, tf.int32)
        return tf.cast(tf.minimum(self._pieces(inputs).row_lengths(), self.max_length - 2) + 2, tf.int32)

    def _padded_width(self, lengths, specials: int):
        """The batch's width: its longest sequence (``lengths`` of the tokens plus ``specials``), rounded up to
        ``pad_to_multiple_of`` within ``max_length``."""
        width = tf.reduce_max(tf.concat([lengths, [0]], axis=0)) + specials
        if self.pad_to_multiple_of > 1:
            multiple = self.pad_to_multiple_of
            width = tf.minimum((width + multiple - 1) // multiple * multiple, self.max_length)
        return width

    def _pack_pairs(self, first, second):
        """``[CLS] a [SEP] b [SEP]`` with ``longest_first`` truncation, as transformers' slow tokenizer."""
        a, b = first.row_lengths(), second.row_lengths()
        budget = self.max_length - 3
        over = a + b > budget
        # The longer segment loses tokens until both are equal, then they alternate, the second first:
        # the second keeps floor(budget / 2) at most, or whatever the first leaves over.
        keep_b = tf.where(over, tf.minimum(b, tf.maximum(budget - a, budget // 2)), b)
        keep_a = tf.where(over, tf.minimum(a, budget - keep_b), a)
        first = tf.ragged.boolean_mask(first, tf.ragged.range(a) < keep_a[:, tf.newaxis])
        second = tf.ragged.boolean_mask(second, tf.ragged.range(b) < keep_b[:, tf.newaxis])
        batch = first.nrows()
        cls = tf.fill([batch, 1], tf.constant(self.cls_id, tf.int64))
        sep = tf.fill([batch, 1], tf.constant(self.sep_id, tf.int64))
        ids = tf.concat([cls, first, sep, second, sep], axis=1)
        types = tf.concat([tf.zeros_like(cls), tf.zeros_like(first), tf.zeros_like(sep), tf.ones_like(second),
                           tf.ones_like(sep)], axis=1)
        shape = tf.stack([batch, self._padded_width(keep_a + keep_b, 3)])
        input_ids = tf.cast(ids.to_tensor(default_value=self.pad_id, shape=shape), tf.int32)
        return {
            "input_ids": input_ids,
            "attention_mask": tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
            "token_type_ids": tf.cast(types.to_tensor(0, shape=shape), tf.int32),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocabulary": self.vocabulary, "lower_case": self.lower_case, "max_length": self.max_length,
             "pad_to_multiple_of": self.pad_to_multiple_of}
        )
        config.pop("trainable", None)
        return config
