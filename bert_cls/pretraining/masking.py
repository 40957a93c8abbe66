"""BERT's masked-LM masking as TensorFlow ops, seeded per batch so that a resumed run masks exactly as before.

Of the tokens that are not special or padding, each is chosen with probability ``rate`` (as transformers'
``DataCollatorForLanguageModeling`` does); with whole-word masking a word's first piece is drawn and its ``##``
pieces follow it. A chosen token becomes ``[MASK]`` with probability 0.8, a uniformly random token with 0.1 and
stays itself with 0.1 (Devlin et al., 2019); ELECTRA's masking (``shares=(0.85, 0.0)``) makes 85% ``[MASK]``
and leaves the rest, its generator's samples being the replacements (Clark et al., 2020). The random draws are
stateless (``tf.random.stateless_*``) from a seed of (run seed, batch number): the masks depend on nothing but
those two numbers.
"""

from __future__ import annotations

from bert_cls.modeling.keras_compat import tf

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen tokens; the rest stay as they are


class Masker:
    """Masks batches of token ids for a vocabulary.

    Args:
        vocabulary: the pieces in id order.
        special_ids: ids never chosen ([CLS], [SEP], [PAD], ...).
        mask_id: the id of ``[MASK]``.
        rate: share of the other tokens chosen.
        whole_words: choose whole words (a piece and the ``##`` pieces after it).
        shares: of the chosen tokens, the share that becomes ``[MASK]`` and the share that becomes a random token.
    """

    def __init__(self, vocabulary, special_ids, mask_id: int, rate: float = 0.15, whole_words: bool = False, shares=None):
        self.mask_share, self.random_share = shares or (MASK_SHARE, RANDOM_SHARE)
        self.vocab_size = len(vocabulary)
        self.special_ids = tf.constant(sorted(set(int(i) for i in special_ids)), tf.int32)
        self.mask_id, self.rate, self.whole_words = int(mask_id), float(rate), bool(whole_words)
        self.word_start = tf.constant([not piece.startswith("##") for piece in vocabulary])

    def candidates(self, input_ids, attention_mask):
        """Tokens that may be chosen: real (not padding) and not special."""
        special = tf.reduce_any(input_ids[..., tf.newaxis] == self.special_ids, axis=-1)
        return (attention_mask > 0) & ~special

    def choose(self, input_ids, attention_mask, seed):
        """``[batch, length]`` bool: the tokens to predict."""
        candidates = self.candidates(input_ids, attention_mask)
        draws = tf.random.stateless_uniform(tf.shape(input_ids), seed) < self.rate
        if not self.whole_words:
            return candidates & draws
        starts = candidates & tf.gather(self.word_start, input_ids)
        # Each token takes the draw of its word's first piece: the k-th word start's draw, k counted along the row.
        word = tf.maximum(tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, 0)
        start_draws = tf.ragged.boolean_mask(draws, starts).to_tensor(False, shape=tf.shape(input_ids))
        return candidates & tf.gather(start_draws, word, batch_dims=1)

    def __call__(self, input_ids, attention_mask, seed):
        """``(masked input_ids, chosen)``: ``chosen`` marks the positions whose original id is the target."""
        choose_seed, kind_seed, token_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        chosen = self.choose(input_ids, attention_mask, choose_seed)
        kind = tf.random.stateless_uniform(tf.shape(input_ids), kind_seed)
        random_ids = tf.random.stateless_uniform(tf.shape(input_ids), token_seed, maxval=self.vocab_size, dtype=tf.int32)
        masked = tf.where(chosen & (kind < self.mask_share), tf.constant(self.mask_id, input_ids.dtype), input_ids)
        random_kind = (kind >= self.mask_share) & (kind < self.mask_share + self.random_share)
        masked = tf.where(chosen & random_kind, tf.cast(random_ids, input_ids.dtype), masked)
        return masked, chosen
