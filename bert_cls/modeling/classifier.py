"""The classifier: raw strings -> in-graph tokenizer -> ``TFBertModel`` -> dropout -> dense.

Two functional models share one set of weights: ``encoded_model`` takes token
ids (for clients that tokenize themselves) and ``text_model`` puts the
tokenizer in front of it. ``text_model`` is what training, evaluation and the
``serving_default`` export signature use. It takes ``text`` or, for a sentence-pair
model, ``{"text", "text_pair"}``. The head's logits become probabilities by softmax
(one class per text) or, for a multi-label model, by a sigmoid per class, with a decision
threshold per class stored in the config.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm.auto import tqdm
from transformers import BertConfig, TFBertModel

from bert_cls.data import ordering
from bert_cls.errors import BertClsError, warn
from bert_cls.json_files import write_json
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import load_encoder, read_vocab
from bert_cls.modeling.tokenizer import BertTokenizerLayer
from bert_cls.training.state import RunState

ENCODED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CLASSIFIER_CONFIG = "classifier_config.json"
VOCAB_FILE = "vocab.txt"
WEIGHTS_PREFIX = "weights/best"
# Written by `report_run` when a training run has finished (see bert_cls/training/run.py).
FINISHED_MARK = "metrics.json"


@dataclasses.dataclass
class ClassifierConfig:
    """Everything needed to rebuild a trained classifier without the pretrained checkpoint."""

    bert_config: dict
    label_names: list
    lower_case: bool
    max_length: int = 128
    dropout: float = 0.1
    text_pair: bool = False  # takes (text, text_pair)
    multi_label: bool = False  # sigmoid per class, predicted where probability >= threshold
    thresholds: Optional[list] = None  # multi-label: per class, default 0.5

    def __post_init__(self):
        # JSON-normalized (as it is stored) and without the encoder's unused label maps.
        config = {k: v for k, v in self.bert_config.items() if k not in ("id2label", "label2id")}
        self.bert_config = json.loads(json.dumps(config))
        self.label_names = [str(n) for n in self.label_names]
        if self.multi_label and self.thresholds is None:
            self.thresholds = [0.5] * len(self.label_names)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def id2label(self) -> dict:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict:
        return {name: i for i, name in enumerate(self.label_names)}


def check_max_length(max_length: int, bert_config) -> None:
    limit = bert_config.max_position_embeddings
    if not 3 <= max_length <= limit:
        raise BertClsError(
            f"--max-length {max_length} is outside 3..{limit}, the checkpoint's position limit: lower --max-length"
        )


class BertClassifier:
    """Builds and holds the two functional models around one ``TFBertModel``."""

    def __init__(self, encoder, vocabulary, config: ClassifierConfig):
        check_max_length(config.max_length, encoder.config)
        self.config = config
        self.encoder = encoder
        self.vocabulary = list(vocabulary)
        self.tokenizer = BertTokenizerLayer(
            self.vocabulary, lower_case=config.lower_case, max_length=config.max_length, name="tokenizer"
        )
        encoded = {name: keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in ENCODED_INPUTS}
        pooled = encoder(**encoded).pooler_output
        hidden = keras.layers.Dropout(config.dropout, name="classifier_dropout")(pooled)
        logits = keras.layers.Dense(
            config.num_labels,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=encoder.config.initializer_range),
            name="classifier",
        )(hidden)
        self.encoded_model = keras.Model(encoded, logits, name="bert_classifier_encoded")
        text = keras.Input(shape=(), dtype=tf.string, name="text")
        if config.text_pair:
            text = {"text": text, "text_pair": keras.Input(shape=(), dtype=tf.string, name="text_pair")}
        self.text_model = keras.Model(text, self.encoded_model(self.tokenizer(text)), name="bert_classifier")

    def pipeline_tokenizer(self, pad_to_multiple_of: int = 1) -> BertTokenizerLayer:
        """This model's tokenizer as a separate layer, for ``data.tokenize_in_pipeline``."""
        return BertTokenizerLayer(
            self.vocabulary, self.config.lower_case, self.config.max_length, pad_to_multiple_of=pad_to_multiple_of
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
            batches = tqdm(batches, total=-(-len(texts) // batch_size), unit="batch", desc="predicting")
        for indices in batches:
            chunk = [texts[i] for i in indices]
            if pairs is None:
                out[indices] = self._probabilities(tf.constant(chunk, dtype=tf.string)).numpy()
            else:
                out[indices] = self._pair_probabilities(tf.constant(chunk), tf.constant([pairs[i] for i in indices])).numpy()
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
    def _probabilities(self, texts):
        return self.probabilities(self.text_model(texts, training=False))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2, reduce_retracing=True)
    def _pair_probabilities(self, texts, pairs):
        return self.probabilities(self.text_model({"text": texts, "text_pair": pairs}, training=False))

    def decide(self, probabilities) -> np.ndarray:
        """Predicted classes: ids ``[N]`` (argmax), or 0/1 ``[N, K]`` at the thresholds for a multi-label model."""
        probabilities = np.asarray(probabilities)
        if self.config.multi_label:
            return (probabilities >= np.asarray(self.config.thresholds, dtype=np.float32)).astype(np.int64)
        return probabilities.argmax(-1)

    # ---- persistence: config + vocab + TF checkpoint of the weights ----------

    def save(self, directory, weights: bool = True) -> None:
        """Config, vocabulary and (unless ``weights=False``) the weights, as ``load`` reads them."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / CLASSIFIER_CONFIG, dataclasses.asdict(self.config))
        (directory / VOCAB_FILE).write_text("\n".join(self.vocabulary) + "\n", encoding="utf-8")
        if weights:
            self.text_model.save_weights(str(directory / WEIGHTS_PREFIX))

    @classmethod
    def from_checkpoint(cls, checkpoint, label_names, max_length: int = 128, dropout: float = 0.1,
                        text_pair: bool = False, multi_label: bool = False) -> "BertClassifier":
        """A classifier on a pretrained checkpoint (``pretrained.Checkpoint``) with a fresh head."""
        encoder = load_encoder(checkpoint)
        config = ClassifierConfig(
            bert_config=encoder.config.to_dict(), label_names=list(label_names),
            lower_case=checkpoint.lower_case, max_length=max_length, dropout=dropout,
            text_pair=text_pair, multi_label=multi_label,
        )
        return cls(encoder, checkpoint.vocabulary(), config)

    @classmethod
    def from_config(cls, config: ClassifierConfig, vocabulary) -> "BertClassifier":
        """A freshly initialized classifier (no pretrained weights); used to restore saved ones."""
        encoder = TFBertModel(BertConfig.from_dict(copy.deepcopy(config.bert_config)), name="bert")
        return cls(encoder, vocabulary, config)

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
        classifier = cls.from_config(config, read_vocab(directory / VOCAB_FILE))
        # expect_partial: the checkpoint also holds optimizer slots we do not need here.
        classifier.text_model.load_weights(str(weights)).expect_partial()
        return classifier


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
