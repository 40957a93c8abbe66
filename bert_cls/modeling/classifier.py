"""The classifier: raw strings -> in-graph tokenizer -> encoder (``TFBertModel``, ``TFElectraModel``, ...) -> head.

Two functional models share one set of weights: ``encoded_model`` takes token
ids (for clients that tokenize themselves) and ``text_model`` puts the
tokenizer in front of it. The head is the one transformers' ``TF*ForSequenceClassification`` of the
encoder's family uses (``bert_cls.modeling.families``): dropout and a dense layer on BERT's pooler; on the
first token, a dense layer with its activation between dropouts for ELECTRA and the RoBERTas. ``text_model`` is
what training, evaluation and the
``serving_default`` export signature use. It takes ``text`` or, for a sentence-pair
model, ``{"text", "text_pair"}``. The head's logits become probabilities by softmax
(one class per text) or, for a multi-label model, by a sigmoid per class, with a decision
threshold per class stored in the config.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm.auto import tqdm
from transformers.activations_tf import get_tf_activation

from bert_cls.config import CLASSIFIER_CONFIG
from bert_cls.data import ordering
from bert_cls.errors import BertClsError, warn
from bert_cls.json_files import write_json
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.families import family_of
from bert_cls.modeling.pretrained import load_encoder
from bert_cls.modeling.tokenizer_files import WORDPIECE, build_tokenizer, read_vocab
from bert_cls.serving.contract import ENCODED_INPUTS
from bert_cls.training.state import RunState

VOCAB_FILE = "vocab.txt"
SENTENCEPIECE_FILE = "sentencepiece.model"
WEIGHTS_PREFIX = "weights/best"
# Written by `report_run` when a training run has finished (see bert_cls/training/run.py).
FINISHED_MARK = "metrics.json"
# Validation texts a finished run keeps (JSON Lines of {"text"[, "text_pair"]}): the export checks a bfloat16
# version against float32 on them (bert_cls/serving/precision.py).
CHECK_TEXTS_FILE = "precision_check.jsonl"
CHECK_TEXTS = 2000


@dataclasses.dataclass
class ClassifierConfig:
    """Everything needed to rebuild a trained classifier without the pretrained checkpoint.

    ``bert_config`` is the encoder's ``config.json`` (any family: its ``model_type`` says which);
    ``tokenizer`` the tokenizer's spec (``bert_cls.modeling.tokenizer_files``), whose vocabulary or
    SentencePiece model is stored beside the config. Runs without a ``tokenizer`` are BERT WordPiece runs.
    """

    bert_config: dict
    label_names: list
    lower_case: bool = False
    max_length: int = 128
    dropout: float = 0.1
    text_pair: bool = False  # takes (text, text_pair)
    multi_label: bool = False  # sigmoid per class, predicted where probability >= threshold
    thresholds: Optional[list] = None  # multi-label: per class, default 0.5
    tokenizer: Optional[dict] = None

    def __post_init__(self):
        # JSON-normalized (as it is stored) and without the encoder's unused label maps.
        config = {k: v for k, v in self.bert_config.items() if k not in ("id2label", "label2id")}
        self.bert_config = json.loads(json.dumps(config))
        self.label_names = [str(n) for n in self.label_names]
        if self.multi_label and self.thresholds is None:
            self.thresholds = [0.5] * len(self.label_names)
        if self.tokenizer is None:
            self.tokenizer = {"kind": WORDPIECE, "lower_case": self.lower_case}

    @property
    def family(self):
        return family_of(self.bert_config.get("model_type"), "the classifier's encoder config")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def id2label(self) -> dict:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict:
        return {name: i for i, name in enumerate(self.label_names)}


def check_max_length(max_length: int, encoder_config) -> None:
    limit = family_of(encoder_config.model_type).max_length(encoder_config)
    if not 3 <= max_length <= limit:
        raise BertClsError(
            f"--max-length {max_length} is outside 3..{limit}, the checkpoint's position limit: lower --max-length"
        )


class BertClassifier:
    """Builds and holds the two functional models around one encoder.

    Args:
        encoder: The encoder, a transformers ``TF*Model`` of a family in ``bert_cls.modeling.families``.
        tokenizer_resource: The WordPiece vocabulary (a list of tokens) or the SentencePiece model (bytes).
        config: The classifier's ``ClassifierConfig``.
    """

    def __init__(self, encoder, tokenizer_resource, config: ClassifierConfig):
        check_max_length(config.max_length, encoder.config)
        self.config = config
        self.encoder = encoder
        self.tokenizer_resource = tokenizer_resource
        self.tokenizer = self.pipeline_tokenizer(name="tokenizer")
        self.encoded_inputs = ENCODED_INPUTS if self.tokenizer.token_type_ids else ENCODED_INPUTS[:2]
        encoded = {name: keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in self.encoded_inputs}
        self.encoded_model = keras.Model(encoded, self._head(encoder(**encoded)), name="bert_classifier_encoded")
        text = keras.Input(shape=(), dtype=tf.string, name="text")
        if config.text_pair:
            text = {"text": text, "text_pair": keras.Input(shape=(), dtype=tf.string, name="text_pair")}
        self.text_model = keras.Model(text, self.encoded_model(self.tokenizer(text)), name="bert_classifier")
        self._compile_predict_functions()

    def _head(self, outputs):
        """The family's classification head on the encoder's outputs: logits ``[batch, num_labels]``."""
        family, encoder_config = self.config.family, self.encoder.config

        def initializer():  # one instance per layer: a shared unseeded instance gives both layers the same draw
            return keras.initializers.TruncatedNormal(stddev=encoder_config.initializer_range)

        hidden = outputs.pooler_output if family.pooled else outputs.last_hidden_state[:, 0]
        if family.dense is not None:
            if family.dropout_before_dense:
                hidden = keras.layers.Dropout(self.config.dropout, name="classifier_dense_dropout")(hidden)
            hidden = keras.layers.Dense(
                getattr(encoder_config, family.dense),
                kernel_initializer=initializer(),
                name="classifier_dense",
                activation=get_tf_activation(family.dense_activation(encoder_config)),
            )(hidden)
        hidden = keras.layers.Dropout(self.config.dropout, name="classifier_dropout")(hidden)
        return keras.layers.Dense(self.config.num_labels, kernel_initializer=initializer(), name="classifier")(hidden)

    def pipeline_tokenizer(self, pad_to_multiple_of: int = 1, **kwargs):
        """This model's tokenizer as a separate layer (for ``data.tokenize_in_pipeline``)."""
        return build_tokenizer(
            self.config.tokenizer,
            self.tokenizer_resource,
            self.config.max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            **kwargs,
        )

    @property
    def dropout_layer(self):
        return self.encoded_model.get_layer("classifier_dropout")

    def check_pairs(self, has_pairs: bool) -> None:
        """A clear error when texts come with (or without) second texts that the model does not (does) take."""
        if self.config.text_pair and not has_pairs:
            raise BertClsError("this is a sentence-pair model: give each text its second text (--text-pair-column, --pair A B)")
        if not self.config.text_pair and has_pairs:
            raise BertClsError("this model was trained on single texts, not pairs: drop --text-pair-column/--pair")

    def probabilities(self, logits):
        """Softmax over classes, or a sigmoid per class for a multi-label model (float32)."""
        logits = tf.cast(logits, tf.float32)
        return tf.sigmoid(logits) if self.config.multi_label else tf.nn.softmax(logits, axis=-1)

    def predict_proba(self, texts, batch_size: int = 64, progress: bool = False, pairs=None):
        """Class probabilities for a list of strings (and their second texts), in their order.

        Batches hold texts of similar length (``data.ordering``), so little is computed on padding;
        each row is written back at its text's position.
        """
        texts, pairs = ordering.text_lists(texts, pairs)
        self.check_pairs(pairs is not None)
        out = np.zeros((len(texts), self.config.num_labels), "float32")
        batches = ordering.sorted_batches(ordering.lengths(texts, pairs), batch_size)
        if progress:
            # On a terminal only (disable=None), and erased when done: the results printed next stand alone.
            batches = tqdm(
                batches, total=-(-len(texts) // batch_size), unit="batch", desc="predicting", leave=False, disable=None
            )
        for indices in batches:
            chunk = [texts[i] for i in indices]
            if pairs is None:
                out[indices] = self._probabilities(tf.constant(chunk, dtype=tf.string)).numpy()
            else:
                out[indices] = self._pair_probabilities(tf.constant(chunk), tf.constant([pairs[i] for i in indices])).numpy()
        return out

    def _compile_predict_functions(self) -> None:
        """``_probabilities`` and ``_pair_probabilities``: one ``tf.function`` each per classifier, traced once.

        Partials of module-level functions, not decorated methods or closures: TensorFlow counts the traces of every
        function with the same code object together, so a search that builds a classifier per trial would be told
        its function retraces when each classifier traces once. A partial has no code object of its own, so each
        classifier's functions are counted alone."""
        strings = tf.TensorSpec([None], tf.string)
        self._probabilities = tf.function(functools.partial(_text_probabilities, self), input_signature=[strings])
        self._pair_probabilities = tf.function(functools.partial(_pair_probabilities, self), input_signature=[strings, strings])

    def decide(self, probabilities) -> np.ndarray:
        """Predicted classes: ids ``[N]`` (argmax), or 0/1 ``[N, K]`` at the thresholds for a multi-label model."""
        probabilities = np.asarray(probabilities)
        if self.config.multi_label:
            return (probabilities >= np.asarray(self.config.thresholds, dtype=np.float32)).astype(np.int64)
        return probabilities.argmax(-1)

    # ---- persistence: config + vocabulary + TF checkpoint of the weights ----------

    def save(self, directory, weights: bool = True) -> None:
        """Config, vocabulary or SentencePiece model and (unless ``weights=False``) the weights, as ``load`` reads
        them."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / CLASSIFIER_CONFIG, dataclasses.asdict(self.config))
        if self.config.tokenizer["kind"] == WORDPIECE:
            (directory / VOCAB_FILE).write_text("\n".join(self.tokenizer_resource) + "\n", encoding="utf-8")
        else:
            (directory / SENTENCEPIECE_FILE).write_bytes(self.tokenizer_resource)
        if weights:
            self.text_model.save_weights(str(directory / WEIGHTS_PREFIX))

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint,
        label_names,
        max_length: int = 128,
        dropout: float = 0.1,
        text_pair: bool = False,
        multi_label: bool = False,
        fused: bool = True,
    ) -> "BertClassifier":
        """A classifier on a pretrained checkpoint (``pretrained.Checkpoint``) with a fresh head (``fused``: the
        encoder's fusion-friendly graph, ``bert_cls.modeling.fused_graph``)."""
        encoder = load_encoder(checkpoint, fused=fused)
        spec, resource = checkpoint.tokenizer
        config = ClassifierConfig(
            bert_config=encoder.config.to_dict(),
            label_names=list(label_names),
            lower_case=spec["lower_case"],
            max_length=max_length,
            dropout=dropout,
            text_pair=text_pair,
            multi_label=multi_label,
            tokenizer=spec,
        )
        return cls(encoder, resource, config)

    @classmethod
    def from_config(cls, config: ClassifierConfig, tokenizer_resource) -> "BertClassifier":
        """A freshly initialized classifier (no pretrained weights); used to restore saved ones."""
        family = config.family
        return cls(family.build_encoder(family.config_from_dict(config.bert_config)), tokenizer_resource, config)

    @classmethod
    def load(cls, directory, max_length: Optional[int] = None) -> "BertClassifier":
        directory = Path(directory)
        config_file = directory / CLASSIFIER_CONFIG
        if not config_file.is_file():
            raise BertClsError(
                f"{directory} is not a trained bert-cls model (no {CLASSIFIER_CONFIG}): pass the --output-dir of `bert-cls train`"
            )
        config = ClassifierConfig(**json.loads(config_file.read_text()))
        if max_length is not None:
            config.max_length = max_length
        weights = _weights_to_load(directory)
        if config.tokenizer["kind"] == WORDPIECE:
            resource = read_vocab(directory / VOCAB_FILE)
        else:
            resource = (directory / SENTENCEPIECE_FILE).read_bytes()
        classifier = cls.from_config(config, resource)
        # expect_partial: the checkpoint also holds optimizer slots we do not need here.
        classifier.text_model.load_weights(str(weights)).expect_partial()
        return classifier


def _text_probabilities(classifier: BertClassifier, texts):
    return classifier.probabilities(classifier.text_model(texts, training=False))


def _pair_probabilities(classifier: BertClassifier, texts, pairs):
    return classifier.probabilities(classifier.text_model({"text": texts, "text_pair": pairs}, training=False))


def write_check_texts(directory, rows) -> None:
    """Writes ``(text, pair or None)`` rows as :data:`CHECK_TEXTS_FILE`."""
    lines = [json.dumps({"text": t} if p is None else {"text": t, "text_pair": p}, ensure_ascii=False) for t, p in rows]
    (Path(directory) / CHECK_TEXTS_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_check_texts(directory):
    """``(texts, pairs or None)`` a run kept for the export's precision check, or ``None`` if it kept none."""
    path = Path(directory) / CHECK_TEXTS_FILE
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        return None
    pairs = [r["text_pair"] for r in rows] if "text_pair" in rows[0] else None
    return [r["text"] for r in rows], pairs


def _weights_to_load(directory: Path) -> Path:
    """The final weights of a finished run; of an interrupted one, its best epoch so far, with a warning."""
    state = RunState.load(directory)
    if state is None or (directory / FINISHED_MARK).is_file():
        return directory / WEIGHTS_PREFIX
    if state.best_weights is None:
        raise BertClsError(
            f"{directory} is a training run that was interrupted before its first epoch finished: "
            "rerun its `bert-cls train` command to resume it"
        )
    warn(
        f"{directory} is an unfinished training run (interrupted after epoch {state.epochs_finished} of "
        f"{state.epochs_planned}): using its best epoch so far ({state.best_epoch + 1}); rerun its train command to finish it"
    )
    return directory / state.best_weights
