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

from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.packing import PackingTokenizerLayer

import tensorflow_text as tf_text

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
_OWN_WORD = (
    r"([\p{P}!-/:-@\[-`{-~\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}])"
)
_LONG_WORD = r"[^\s\p{Zs}]{%d,}" % (MAX_CHARS_PER_WORD + 1)
# Stands in for a too-long word: a private-use character (cleaning removed any from the text) that
# no BERT vocabulary holds, so WordPiece maps it to [UNK].
_UNK_STAND_IN = "\ue000"


class BertTokenizerLayer(PackingTokenizerLayer):
    """Maps a batch of strings (or pairs of them) to BERT's ``input_ids``/``attention_mask``/``token_type_ids``.

    Args:
        vocabulary: WordPiece tokens in id order (the lines of ``vocab.txt``).
        lower_case: Lower-case, as uncased checkpoints expect.
        max_length: Longest output sequence, special tokens included.
        pad_to_multiple_of: Pad each batch to a multiple of this (capped at ``max_length``).
        strip_accents: Drop combining marks; ``None`` follows ``lower_case``, as transformers' ``BertTokenizer``.
        cls_token, sep_token, pad_token, unk_token: The special tokens' spellings in ``vocabulary``.
        token_type_ids: Return ``token_type_ids`` (models with one segment embedding, or none, read none).
    """

    def __init__(
        self,
        vocabulary,
        lower_case: bool,
        max_length: int = 128,
        pad_to_multiple_of: int = 1,
        strip_accents=None,
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        unk_token: str = "[UNK]",
        token_type_ids: bool = True,
        **kwargs,
    ):
        vocabulary = list(vocabulary)
        specials = (pad_token, unk_token, cls_token, sep_token)
        missing = [t for t in specials if t not in vocabulary]
        if missing:
            raise ValueError(f"vocabulary lacks special tokens {missing}")
        ids = {t: vocabulary.index(t) for t in specials}
        super().__init__(
            max_length,
            start_id=ids[cls_token],
            end_id=ids[sep_token],
            pad_id=ids[pad_token],
            token_type_ids=token_type_ids,
            pad_to_multiple_of=pad_to_multiple_of,
            **kwargs,
        )
        self.vocabulary = vocabulary
        self.lower_case = bool(lower_case)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.special_tokens = {"cls_token": cls_token, "sep_token": sep_token, "pad_token": pad_token, "unk_token": unk_token}
        self.unk_id = ids[unk_token]
        # FastWordpiece (linear-time WordPiece with BERT's pre-tokenization) is ~10-20x faster
        # than tf_text.BertTokenizer here. Its own lower-casing applies NFKC case folding, which
        # differs from BERT's (e.g. on Hangul compatibility jamo), so `_normalize` does that part.
        self._tokenizer = tf_text.FastBertTokenizer(
            vocabulary,
            token_out_type=tf.int64,
            lower_case_nfd_strip_accents=False,
            unknown_token=unk_token,
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
        if self.strip_accents or (self.strip_accents is None and self.lower_case):
            texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
        texts = tf.strings.regex_replace(texts, _OWN_WORD, r" \1 ")
        return tf.strings.regex_replace(texts, _LONG_WORD, " " + _UNK_STAND_IN + " ")

    def _pieces(self, texts):
        return self._tokenizer.tokenize(self._normalize(texts))  # ragged [batch, pieces]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "lower_case": self.lower_case,
                "strip_accents": self.strip_accents,
                **self.special_tokens,
            }
        )
        return config
