"""``PackingTokenizerLayer``: the part of an in-graph tokenizer that is the same for every vocabulary kind.

A subclass turns a ``[batch]`` string tensor into ragged token ids (``_pieces``); this base class adds the
special tokens, truncates and pads, as transformers' tokenizers do with ``truncation=True, padding=True``:
``START a END`` for one text; ``START a MIDDLE b END`` for a pair, where BERT's style is
``[CLS] a [SEP] b [SEP]`` and RoBERTa's is ``<s> a </s></s> b </s>``; tokens leave the longer segment first
(``longest_first``, split as the fast tokenizers split it); each batch is padded only to its own longest
sequence. ``token_type_ids`` (1 on ``b END``) are returned only for models that read them.

Inputs, as keras-hub's preprocessors read them: a string tensor or a Python list is a batch of texts; a tuple
``(texts, text_pairs)`` is a batch of pairs; a dict ``{"text"[, "text_pair"]}`` is a ``tf.data`` pipeline's
features.
"""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf


class PackingTokenizerLayer(keras.layers.Layer):
    """Special tokens, truncation and padding around a subclass's ``_pieces``.

    Args:
        max_length: Longest output sequence, special tokens included.
        start_id, end_id, pad_id: The ids of the first token, the last token, and padding.
        middle_ids: What goes between the two texts of a pair: ``[end_id]`` for BERT, ``[end_id, end_id]`` for
            RoBERTa-style models.
        token_type_ids: Whether to return ``token_type_ids`` (the model reads them).
        pad_to_multiple_of: Pad each batch to a multiple of this (capped at ``max_length``), so XLA compiles a
            handful of shapes, not one per length.
    """

    def __init__(
        self,
        max_length: int,
        start_id: int,
        end_id: int,
        pad_id: int,
        middle_ids=None,
        token_type_ids: bool = True,
        pad_to_multiple_of: int = 1,
        **kwargs,
    ):
        super().__init__(trainable=False, **kwargs)
        self.middle_ids = [int(i) for i in (middle_ids if middle_ids is not None else [end_id])]
        if max_length < 3 + len(self.middle_ids):
            raise ValueError(f"max_length must be at least {3 + len(self.middle_ids)}, got {max_length}")
        self.max_length = int(max_length)
        self.start_id, self.end_id, self.pad_id = int(start_id), int(end_id), int(pad_id)
        self.token_type_ids = bool(token_type_ids)
        self.pad_to_multiple_of = int(pad_to_multiple_of)

    def _pieces(self, texts):
        """Ragged ``[batch, pieces]`` int64 token ids of a ``[batch]`` string tensor, no special tokens."""
        raise NotImplementedError

    def _batch_pieces(self, texts):
        return self._pieces(tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1]))

    @staticmethod
    def _segments(inputs):
        """``(texts, text_pairs or None)`` from any of the accepted input forms."""
        if isinstance(inputs, dict):
            return inputs["text"], inputs.get("text_pair")
        if isinstance(inputs, tuple):
            if len(inputs) != 2:
                raise ValueError(f"a tuple of inputs must be (texts, text_pairs), got {len(inputs)} items")
            return inputs
        return inputs, None

    def call(self, inputs):
        texts, pairs = self._segments(inputs)
        if pairs is not None:
            return self._pack_pairs(self._batch_pieces(texts), self._batch_pieces(pairs))
        return self._pack_single(self._batch_pieces(texts))

    def token_lengths(self, inputs):
        """Each example's sequence length after truncation, special tokens included (``[batch]`` int32): the
        width ``call`` would pad it to alone. Used to batch examples of similar token length together."""
        texts, pairs = self._segments(inputs)
        if pairs is not None:
            both = self._batch_pieces(texts).row_lengths() + self._batch_pieces(pairs).row_lengths()
            specials = 2 + len(self.middle_ids)
            return tf.cast(tf.minimum(both, self.max_length - specials) + specials, tf.int32)
        return tf.cast(tf.minimum(self._batch_pieces(texts).row_lengths(), self.max_length - 2) + 2, tf.int32)

    def _outputs(self, input_ids, attention_mask, token_type_ids):
        outputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.token_type_ids:
            outputs["token_type_ids"] = token_type_ids
        return outputs

    def _pack_single(self, pieces):
        # Dense ops from here on: slicing and concatenating ragged tensors cost more than the
        # tokenization itself. Truncate and pad in one to_tensor, then place the end token by position.
        lengths = tf.minimum(pieces.row_lengths(), self.max_length - 2)
        width = self._padded_width(lengths, 2) - 2
        batch = pieces.nrows()
        body = pieces.to_tensor(default_value=self.pad_id, shape=tf.stack([batch, width]))
        start = tf.fill([batch, 1], tf.constant(self.start_id, tf.int64))
        pad = tf.fill([batch, 1], tf.constant(self.pad_id, tf.int64))
        positions = tf.range(width + 2)[tf.newaxis, :]
        ends = (lengths + 1)[:, tf.newaxis]  # where the end token goes
        ids = tf.where(positions == ends, tf.constant(self.end_id, tf.int64), tf.concat([start, body, pad], axis=1))
        input_ids = tf.cast(ids, tf.int32)
        return self._outputs(input_ids, tf.cast(positions <= ends, tf.int32), tf.zeros_like(input_ids))

    def _padded_width(self, lengths, specials: int):
        """The batch's width: its longest sequence (``lengths`` of the tokens plus ``specials``), rounded up to
        ``pad_to_multiple_of`` within ``max_length``."""
        width = tf.reduce_max(tf.concat([lengths, [0]], axis=0)) + specials
        if self.pad_to_multiple_of > 1:
            multiple = self.pad_to_multiple_of
            width = tf.minimum((width + multiple - 1) // multiple * multiple, self.max_length)
        return width

    def _pack_pairs(self, first, second):
        """``START a MIDDLE b END`` with ``longest_first`` truncation, as transformers' fast tokenizers do."""
        a, b = first.row_lengths(), second.row_lengths()
        specials = 2 + len(self.middle_ids)
        budget = self.max_length - specials
        keep_a, keep_b = self._longest_first(a, b, budget)
        first = tf.ragged.boolean_mask(first, tf.ragged.range(a) < keep_a[:, tf.newaxis])
        second = tf.ragged.boolean_mask(second, tf.ragged.range(b) < keep_b[:, tf.newaxis])
        batch = first.nrows()
        start = tf.fill([batch, 1], tf.constant(self.start_id, tf.int64))
        middle = tf.tile(tf.constant([self.middle_ids], tf.int64), tf.stack([batch, 1]))
        end = tf.fill([batch, 1], tf.constant(self.end_id, tf.int64))
        ids = tf.concat([start, first, middle, second, end], axis=1)
        types = tf.concat(
            [tf.zeros_like(start), tf.zeros_like(first), tf.zeros_like(middle), tf.ones_like(second), tf.ones_like(end)], axis=1
        )
        shape = tf.stack([batch, self._padded_width(keep_a + keep_b, specials)])
        return self._outputs(
            tf.cast(ids.to_tensor(default_value=self.pad_id, shape=shape), tf.int32),
            tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
            tf.cast(types.to_tensor(0, shape=shape), tf.int32),
        )

    @staticmethod
    def _longest_first(a, b, budget):
        """Tokens each segment keeps, as the fast (Rust) tokenizers' ``longest_first`` splits ``budget``: the shorter
        segment ``s`` whole and the longer ``max(s, budget - s)``; if that is still too long, half each, the odd
        token to the longer segment (to the second when they are equal). Python ("slow") tokenizers give it to the
        first instead; the fast ones are what ``AutoTokenizer`` and ``Trainer`` use."""
        budget = tf.cast(budget, a.dtype)  # a Python int would become int32 beside int64 lengths in a graph
        short, first_longer = tf.minimum(a, b), a > b
        keep_long = tf.maximum(short, budget - short)
        halves = short + keep_long > budget
        half = tf.fill(tf.shape(short), budget // 2)
        keep_short = tf.where(halves, half, short)
        keep_long = tf.where(halves, half + budget % 2, keep_long)
        over = a + b > budget
        keep_a = tf.where(over, tf.minimum(a, tf.where(first_longer, keep_long, keep_short)), a)
        keep_b = tf.where(over, tf.minimum(b, tf.where(first_longer, keep_short, keep_long)), b)
        return keep_a, keep_b

    def get_config(self):
        config = super().get_config()
        config.update(
            {"max_length": self.max_length, "token_type_ids": self.token_type_ids, "pad_to_multiple_of": self.pad_to_multiple_of}
        )
        config.pop("trainable", None)
        return config
