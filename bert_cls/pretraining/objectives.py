"""The two pretraining objectives of ``bert-cls pretrain``: BERT's masked LM and ELECTRA's replaced-token detection.

An objective owns its models and says, for a batch, which sums its loss and metrics are made of; the loop in
``bert_cls.pretraining.run`` (commits, resume, distribution) is the same for both.

* :class:`MaskedLM` (``--objective mlm``): a ``TFBertForMaskedLM``; the loss is the masked tokens'
  cross-entropy (Devlin et al., 2019).
* :class:`ReplacedTokenDetection` (``--objective electra``): a small masked-LM generator fills the masked
  positions with tokens sampled from its predictions, and the discriminator, a ``TFElectraForPreTraining``,
  tells every token whether it is the original; the loss is the generator's masked-LM loss plus
  ``--discriminator-weight`` (the paper's 50) times the discriminator's (Clark et al., 2020). The generator
  shares the discriminator's embeddings (token, position and segment) and is a quarter of its width
  (``--generator-size``); only the discriminator is written as the checkpoint.

Sums are per replica and summed across replicas; the loss divides by the global counts, so a step's gradient
is the same on one device or several.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bert_cls.modeling.fused_graph import feed_forward_count, fuse_dense_layers
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import load_pretrained_model
from bert_cls.pretraining.config import ELECTRA, MLM
from bert_cls.pretraining.masking import MASK_SHARE, RANDOM_SHARE

# The generator's width per attention head (at least one head): as ELECTRA's generators have them.
GENERATOR_HEAD_SIZE = 64


def save_model_files(model, out: Path) -> None:
    """``config.json`` and ``tf_model.h5`` (transformers' ``save_pretrained``), each replaced atomically."""
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    for name in ("config.json", "tf_model.h5"):
        os.replace(staging / name, out / name)
    shutil.rmtree(staging, ignore_errors=True)


def _safe_ratio(numerator, denominator):
    return numerator / tf.maximum(denominator, 1.0)


def _masked_lm_sums(logits, targets):
    """(summed cross-entropy, correct predictions, count) of logits ``[n, vocab]`` against targets ``[n]``."""
    logits = tf.cast(logits, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    correct = tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32) == targets, tf.float32)
    return tf.reduce_sum(losses), tf.reduce_sum(correct), tf.cast(tf.size(targets), tf.float32)


class MaskedLM:
    """BERT's masked-LM objective on a ``TFBertForMaskedLM``.

    Args:
        bert_config: the ``BertConfig`` of a model from scratch (unused with ``checkpoint``).
        checkpoint: a resolved BERT checkpoint to continue, or ``None``.
    """

    name = MLM
    architecture = "BERT"
    card_heading = "A BERT encoder with a masked-LM head"
    sum_names = ("loss", "correct", "masked")
    # Of the chosen tokens: share that becomes [MASK], share that becomes a random token (the rest stay): BERT's.
    mask_shares = (MASK_SHARE, RANDOM_SHARE)
    needs_noise = False

    def __init__(self, bert_config=None, checkpoint=None):
        from transformers import TFBertForMaskedLM

        if checkpoint is not None:
            model = load_pretrained_model(checkpoint, TFBertForMaskedLM)
        else:
            model = TFBertForMaskedLM(bert_config)
            model(model.dummy_inputs, training=False)
        # The fusion-friendly dense layers (bert_cls.modeling.fused_graph), as the classifier's encoder has them.
        self.model = fuse_dense_layers(model, feed_forward_count("bert", model.config))

    @property
    def trackables(self) -> dict:
        """What the run's backup checkpoint holds (names kept stable: a resumed run reads them)."""
        return {"model": self.model}

    @property
    def trainable_variables(self) -> list:
        return self.model.trainable_variables

    def count_params(self) -> int:
        return int(self.model.count_params())

    def sums(self, batch, training: bool) -> list:
        """(cross-entropy sum, correct, masked tokens). Only the masked positions reach the output layer (the
        vocabulary-sized matrix product is the costliest part of a small model's step otherwise)."""
        sequence = self.model.bert(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            training=training,
        )[0]
        positions = tf.where(batch["chosen"])
        logits = self.model.mlm(tf.gather_nd(sequence, positions)[tf.newaxis], training=training)[0]
        return list(_masked_lm_sums(logits, tf.cast(tf.gather_nd(batch["targets"], positions), tf.int32)))

    def loss(self, sums, all_reduce):
        """The mean over every replica's masked tokens (``all_reduce`` sums a value across replicas)."""
        return _safe_ratio(sums[0], all_reduce(sums[2]))

    def metrics(self, sums) -> dict:
        """A history row's figures from summed ``sums``."""
        return {"loss": sums[0] / max(sums[2], 1.0), "masked_accuracy": sums[1] / max(sums[2], 1.0)}

    def card_lines(self, metrics: dict) -> str:
        """The model card's lines on what was learned and how well (``metrics``: ``pretrain_metrics.json``'s)."""
        return (
            f"- Objective: masked LM\n- Held-out masked-LM loss {metrics['val_loss']:.4f}, masked-token accuracy "
            f"{metrics['val_masked_accuracy']:.4f}"
        )

    def save(self, out: Path) -> None:
        save_model_files(self.model, out)


def generator_config(discriminator_config, size: float):
    """ELECTRA's generator: the discriminator's depth and embeddings, ``size`` of its width, 64-wide heads."""
    from transformers import ElectraConfig

    hidden = max(1, int(round(discriminator_config.hidden_size * size)))
    values = discriminator_config.to_dict()
    values.update(
        hidden_size=hidden,
        num_attention_heads=max(1, hidden // GENERATOR_HEAD_SIZE),
        intermediate_size=4 * hidden,
        architectures=["ElectraForMaskedLM"],
    )
    return ElectraConfig(**values)


class ElectraGenerator(keras.layers.Layer):
    """ELECTRA's generator: a narrow ELECTRA encoder over the discriminator's embeddings with a masked-LM head
    whose output matrix is the shared token embedding (transformers' ``TFElectraForMaskedLM`` parts).

    ``share_embeddings`` must follow the first call: transformers' embedding layer creates its weights anew each
    time it is built, so the shared layer must not be built again by the generator's main layer."""

    def __init__(self, config, embeddings, **kwargs):
        from transformers.models.electra.modeling_tf_electra import (
            TFElectraGeneratorPredictions,
            TFElectraMainLayer,
            TFElectraMaskedLMHead,
        )

        super().__init__(**kwargs)
        self.config = config
        self.electra = TFElectraMainLayer(config, name="electra")
        self.generator_predictions = TFElectraGeneratorPredictions(config, name="generator_predictions")
        self.generator_lm_head = TFElectraMaskedLMHead(config, embeddings, name="generator_lm_head")

    def share_embeddings(self, embeddings) -> None:
        """Replaces the main layer's own embeddings (built, then dropped) with the discriminator's."""
        self.electra.embeddings = embeddings

    def call(self, batch, positions, training=False):
        """Logits ``[n, vocab]`` at ``positions`` (``[n, 2]`` row/column pairs) of the masked batch."""
        sequence = self.electra(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            training=training,
        )[0]
        hidden = self.generator_predictions(tf.gather_nd(sequence, positions)[tf.newaxis], training=training)
        return self.generator_lm_head(hidden, training=training)[0]


def sample_tokens(logits, noise):
    """One token per row of ``logits`` ``[n, vocab]``, drawn from its softmax by inverting the CDF at ``noise``
    ``[n]`` (uniform in [0, 1), drawn with the batch's masks): the draws depend on the seed and batch number only,
    so a resumed run samples what an uninterrupted one did."""
    cdf = tf.math.cumsum(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), axis=-1)
    drawn = tf.searchsorted(cdf, noise[:, tf.newaxis], side="right")[:, 0]
    return tf.minimum(drawn, tf.shape(logits)[-1] - 1)


class ReplacedTokenDetection:
    """ELECTRA's objective: a generator and a discriminator trained together (see the module docstring).

    Args:
        electra_config: the discriminator's ``ElectraConfig``.
        generator_size: the generator's hidden size as a share of the discriminator's.
        discriminator_weight: the weight of the discriminator's loss (λ in the paper).
    """

    name = ELECTRA
    sum_names = ("generator_loss", "generator_correct", "masked", "replaced_loss", "replaced_correct", "tokens", "replaced")
    # ELECTRA's masking: 85% of the chosen tokens become [MASK], the rest stay (no random tokens: the generator's
    # samples are the replacements).
    mask_shares = (0.85, 0.0)
    needs_noise = True

    def __init__(self, electra_config, generator_size: float = 0.25, discriminator_weight: float = 50.0):
        from transformers import TFElectraForPreTraining

        self.discriminator_weight = float(discriminator_weight)
        self.card_heading = "An ELECTRA discriminator"
        self.model = TFElectraForPreTraining(electra_config)
        self.model(self.model.dummy_inputs, training=False)
        self.generator = ElectraGenerator(generator_config(electra_config, generator_size), self.model.electra.embeddings)
        ids = tf.constant([[2, 3]], tf.int32)  # builds the generator: any two ids, one position
        dummy = {"input_ids": ids, "attention_mask": tf.ones_like(ids), "token_type_ids": tf.zeros_like(ids)}
        self.generator(dummy, tf.constant([[0, 1]], tf.int64), training=False)
        self.generator.share_embeddings(self.model.electra.embeddings)
        self.model = fuse_dense_layers(self.model, feed_forward_count("electra", electra_config))
        fuse_dense_layers(self.generator, feed_forward_count("electra", self.generator.config))

    @property
    def architecture(self) -> str:
        return f"ELECTRA discriminator (with a {self.generator.config.hidden_size}-wide generator)"

    @property
    def trackables(self) -> dict:
        return {"model": self.model, "generator": self.generator}

    @property
    def trainable_variables(self) -> list:
        # The shared embeddings once: the generator's list repeats them.
        seen, out = set(), []
        for variable in self.model.trainable_variables + self.generator.trainable_variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                out.append(variable)
        return out

    def count_params(self) -> int:
        """The discriminator's parameters: the checkpoint that is written."""
        return int(self.model.count_params())

    def sums(self, batch, training: bool) -> list:
        chosen, targets = batch["chosen"], tf.cast(batch["targets"], tf.int32)
        positions = tf.where(chosen)
        logits = self.generator(batch, positions, training=training)
        original = tf.gather_nd(targets, positions)
        generator_sums = _masked_lm_sums(logits, original)
        sampled = sample_tokens(tf.stop_gradient(logits), tf.gather_nd(batch["sample_noise"], positions))
        corrupted = tf.tensor_scatter_nd_update(targets, positions, sampled)
        replaced = tf.cast(corrupted != targets, tf.float32)  # a sample equal to the original counts as original
        discriminator_logits = self.model(
            input_ids=corrupted,
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            training=training,
        ).logits
        real = tf.cast(batch["attention_mask"], tf.float32)
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=replaced, logits=tf.cast(discriminator_logits, tf.float32))
        correct = tf.cast((discriminator_logits > 0) == (replaced > 0.5), tf.float32)
        return [
            *generator_sums,
            tf.reduce_sum(losses * real),
            tf.reduce_sum(correct * real),
            tf.reduce_sum(real),
            tf.reduce_sum(replaced * real),
        ]

    def loss(self, sums, all_reduce):
        generator = _safe_ratio(sums[0], all_reduce(sums[2]))
        return generator + self.discriminator_weight * _safe_ratio(sums[3], all_reduce(sums[5]))

    def metrics(self, sums) -> dict:
        masked, tokens = max(sums[2], 1.0), max(sums[5], 1.0)
        generator, discriminator = sums[0] / masked, sums[3] / tokens
        return {
            "loss": generator + self.discriminator_weight * discriminator,
            "masked_accuracy": sums[1] / masked,
            "generator_loss": generator,
            "replaced_loss": discriminator,
            "replaced_accuracy": sums[4] / tokens,
            # the accuracy of answering "original" everywhere: what replaced_accuracy must beat
            "original_share": 1.0 - sums[6] / tokens,
        }

    def card_lines(self, metrics: dict) -> str:
        return (
            f"- Objective: ELECTRA's replaced-token detection (generator of hidden size "
            f"{self.generator.config.hidden_size} sharing the embeddings, discriminator loss weight "
            f"{self.discriminator_weight:g}); the checkpoint is the discriminator\n"
            f"- Held out: replaced-token accuracy {metrics['val_replaced_accuracy']:.4f} (answering 'original' "
            f"everywhere: {metrics['val_original_share']:.4f}); generator masked-token accuracy "
            f"{metrics['val_masked_accuracy']:.4f}"
        )

    def save(self, out: Path) -> None:
        save_model_files(self.model, out)
