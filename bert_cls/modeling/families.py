"""Encoder families: which transformers TensorFlow class, which classification head, which inputs.

A checkpoint's ``config.json`` names its ``model_type``; each supported type maps to a ``Family`` that says how
to build its encoder (transformers' own ``TF*Model`` and its configuration class), whether the model reads
``token_type_ids``, and the head transformers' ``TF*ForSequenceClassification`` puts on it: BERT and ALBERT
classify the pooler's output, ELECTRA, RoBERTa and XLM-RoBERTa the first token through a dense layer (GELU for
ELECTRA, tanh for the RoBERTas), DistilBERT the first token through a ReLU layer, DeBERTa-v2 the first token
through its context pooler. Training a new head uses the same layout, so a fine-tuned checkpoint's head
(``bert-cls import``) has a place for each of its weights.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Optional

from bert_cls.errors import BertClsError
from bert_cls.modeling.keras_compat import keras  # noqa: F401, I001  (selects tf_keras before transformers loads)
from bert_cls.modeling.fused_graph import feed_forward_count, fuse_dense_layers


@dataclasses.dataclass(frozen=True)
class Family:
    """How one ``model_type`` is built and classified.

    Attributes:
        model_type: ``config.json``'s ``model_type``.
        config_class, model_class, classifier_class, main_layer_class: transformers names (``transformers`` and
            its ``models.<module>.modeling_tf_<module>``).
        module: the transformers module that holds the classes.
        prefix: the attribute (and weight-name scope) of the main layer in transformers' models.
        pooled: the head reads the pooler's output (BERT, ALBERT), not the first token's hidden state.
        dense: the config attribute naming the head's hidden dense width, or ``None`` for no dense layer.
        activation: that dense layer's activation (a transformers activation name, or a config attribute
            prefixed with ``config.``).
        dropout_before_dense: transformers applies dropout before the dense layer too.
        head_weights: ``{our layer: attribute path in the transformers classifier}``, for ``bert-cls import``.
    """

    model_type: str
    config_class: str
    model_class: str
    classifier_class: str
    module: str
    prefix: str
    main_layer_class: str
    pooled: bool
    token_types: bool
    dense: Optional[str] = None
    activation: Optional[str] = None
    dropout_before_dense: bool = True
    head_weights: tuple = (("classifier", "classifier"),)

    def config_from_dict(self, values: dict):
        return getattr(_transformers(), self.config_class).from_dict(dict(values))

    def takes_token_types(self, config) -> bool:
        """Whether the model reads ``token_type_ids``: DistilBERT has no such input, and a model with a single
        segment embedding (``type_vocab_size`` 1, as RoBERTa checkpoints have) gains nothing from it."""
        return self.token_types and getattr(config, "type_vocab_size", 0) > 1

    def max_length(self, config) -> int:
        """The longest sequence the position embeddings cover. RoBERTa-style models number positions from
        ``pad_token_id + 1``, so two of their rows are never a text's position."""
        offset = config.pad_token_id + 1 if self.model_type in ("roberta", "xlm-roberta") else 0
        return config.max_position_embeddings - offset

    def dense_activation(self, config) -> str:
        if self.activation.startswith("config."):
            return getattr(config, self.activation[len("config.") :])
        return self.activation

    def build_encoder(self, config, fused: bool = True):
        """A ``TF*Model`` with fresh weights, built, its dense layers in the fusion-friendly form
        (``bert_cls.modeling.fused_graph``; ``fused=False`` keeps transformers' layers as written). Where the head
        reads the first token, the main layer is made without a pooler: a pooler nothing reads would be trained on
        no gradient."""
        model = getattr(_transformers(), self.model_class)(config, name=self.prefix)
        if not self.pooled and hasattr(getattr(model, self.prefix), "pooler"):
            main_layer = getattr(self._module(), self.main_layer_class)
            setattr(model, self.prefix, main_layer(config, add_pooling_layer=False, name=self.prefix))
        model(model.dummy_inputs, training=False)
        return fuse_dense_layers(model, feed_forward_count(self.model_type, config)) if fused else model

    def classifier_class_object(self):
        return getattr(_transformers(), self.classifier_class)

    def _module(self):
        return importlib.import_module(f"transformers.models.{self.module}.modeling_tf_{self.module}")


def _transformers():
    import transformers

    return transformers


_FIRST_TOKEN_DENSE = (("classifier_dense", "classifier.dense"), ("classifier", "classifier.out_proj"))

FAMILIES = {
    family.model_type: family
    for family in (
        Family(
            "bert",
            "BertConfig",
            "TFBertModel",
            "TFBertForSequenceClassification",
            "bert",
            "bert",
            "TFBertMainLayer",
            pooled=True,
            token_types=True,
        ),
        Family(
            "albert",
            "AlbertConfig",
            "TFAlbertModel",
            "TFAlbertForSequenceClassification",
            "albert",
            "albert",
            "TFAlbertMainLayer",
            pooled=True,
            token_types=True,
        ),
        Family(
            "electra",
            "ElectraConfig",
            "TFElectraModel",
            "TFElectraForSequenceClassification",
            "electra",
            "electra",
            "TFElectraMainLayer",
            pooled=False,
            token_types=True,
            dense="hidden_size",
            activation="gelu",
            head_weights=_FIRST_TOKEN_DENSE,
        ),
        Family(
            "roberta",
            "RobertaConfig",
            "TFRobertaModel",
            "TFRobertaForSequenceClassification",
            "roberta",
            "roberta",
            "TFRobertaMainLayer",
            pooled=False,
            token_types=True,
            dense="hidden_size",
            activation="tanh",
            head_weights=_FIRST_TOKEN_DENSE,
        ),
        Family(
            "xlm-roberta",
            "XLMRobertaConfig",
            "TFXLMRobertaModel",
            "TFXLMRobertaForSequenceClassification",
            "xlm_roberta",
            "roberta",
            "TFXLMRobertaMainLayer",
            pooled=False,
            token_types=True,
            dense="hidden_size",
            activation="tanh",
            head_weights=_FIRST_TOKEN_DENSE,
        ),
        Family(
            "distilbert",
            "DistilBertConfig",
            "TFDistilBertModel",
            "TFDistilBertForSequenceClassification",
            "distilbert",
            "distilbert",
            "TFDistilBertMainLayer",
            pooled=False,
            token_types=False,
            dense="dim",
            activation="relu",
            dropout_before_dense=False,
            head_weights=(("classifier_dense", "pre_classifier"), ("classifier", "classifier")),
        ),
        Family(
            "deberta-v2",
            "DebertaV2Config",
            "TFDebertaV2Model",
            "TFDebertaV2ForSequenceClassification",
            "deberta_v2",
            "deberta",
            "TFDebertaV2MainLayer",
            pooled=False,
            token_types=True,
            dense="pooler_hidden_size",
            activation="config.pooler_hidden_act",
            head_weights=(("classifier_dense", "pooler.dense"), ("classifier", "classifier")),
        ),
    )
}


def family_of(model_type: Optional[str], source="the checkpoint") -> Family:
    """The family of a ``model_type``; a one-line error listing the supported ones otherwise."""
    # Runs saved before families existed stored BERT's config, whose model_type is "bert".
    family = FAMILIES.get(model_type or "bert")
    if family is None:
        raise BertClsError(
            f"{source} has model_type {model_type!r}, which bert-cls cannot train: it supports "
            f"{', '.join(FAMILIES)} (config.json's model_type)"
        )
    return family
