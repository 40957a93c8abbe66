"""Export a trained classifier as a versioned SavedModel that TensorFlow Serving loads as is.

Signatures (names are constants below, shared with the server and the client):

* ``serving_default``: ``text`` (``tf.string [None]``) -> ``probabilities``
  (``float32 [None, num_labels]``), ``label_id`` (``int64 [None]``), ``label`` (``tf.string [None]``).
* ``encoded``: ``input_ids``/``attention_mask``/``token_type_ids`` (``int32 [None, None]``) -> same outputs;
  models that read no ``token_type_ids`` (DistilBERT, RoBERTa-style single-segment models) take the first two.

A sentence-pair model's ``serving_default`` takes ``text`` and ``text_pair``. A multi-label model
outputs ``probabilities`` (a sigmoid per class), ``predicted`` (``int64 [None, num_labels]``, 1 at or
above the class's threshold, as stored with the model) and ``labels`` (``tf.string [None, num_labels]``:
the class name where predicted, else empty), so clients print names without knowing the classes.

``assets.extra/tf_serving_warmup_requests`` holds a few ``PredictionLog`` records.
The version is written beside ``BASE`` under a temporary name, verified in a
fresh process that imports only TensorFlow and TF Text, and renamed into place,
so a polling server never sees half a model and a failed export changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tensorflow.python.trackable.resource import CapturableResource
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from bert_cls import config as cfg
from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier, read_check_texts
from bert_cls.modeling.keras_compat import tf
from bert_cls.serving import precision as precision_lib
from bert_cls.serving import verify_export as verify_module
from bert_cls.serving.config import ExportConfig
from bert_cls.serving.contract import (
    DEFAULT_MODEL_NAME,
    ENCODED_SIGNATURE,
    LABEL,
    LABEL_ID,
    LABELS,
    MAX_TOKENS_KEY,
    METADATA_FILE,
    PREDICTED,
    PROBABILITIES,
    SERVING_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
)

WARMUP_FILE = "tf_serving_warmup_requests"
# bert-cls's own record of the export (its precision and why); TF Serving reads only the warm-up file there.
PARITY_TOLERANCE = 1e-4
# Reviews in the style the model serves, used for warm-up and the parity check.
PROBE_TEXTS = (
    "정말 재밌게 봤어요. 배우들 연기가 최고!",
    "시간 낭비였다... 스토리가 엉망",
    "This movie was surprisingly good",
    "",
    "ㅋㅋㅋㅋ 그냥 그럼",
    "지루하다 " * 80,
)


def captured_state(model) -> list:
    """The variables and resources (SentencePiece models, lookup tables) under a Keras model: what its signatures
    capture and the SavedModel must hold.

    Found through the checkpoint view, which lists a Keras layer's attributes only. Saving the Keras models
    themselves would make ``tf.saved_model.save`` trace every layer's ``call`` again for Keras' own restore
    metadata, which TF Serving never reads: two thirds of a MiniLM export's time."""
    return [obj for obj in tf.train.TrackableView(model).descendants() if isinstance(obj, (tf.Variable, CapturableResource))]


class ServingModule(tf.Module):
    """The exported object: a classifier's two models behind the two signatures."""

    def __init__(self, classifier: BertClassifier):
        super().__init__(name="bert_cls_serving")
        # Plain attributes of a plain object: the models are called, not saved as Keras objects (captured_state).
        self.classifier = classifier
        self.state = captured_state(classifier.text_model)
        self.label_names = tf.constant(list(classifier.config.label_names))
        self.multi_label = classifier.config.multi_label
        if self.multi_label:
            self.thresholds = tf.constant(classifier.config.thresholds, tf.float32)
        # Only the function this model's serving_default uses is traced and saved.
        text = tf.TensorSpec([None], tf.string, name=TEXT_INPUT)
        if classifier.config.text_pair:
            pair = tf.TensorSpec([None], tf.string, name=TEXT_PAIR_INPUT)
            self.serving_default = tf.function(self._serve_pair, input_signature=[text, pair])
        else:
            self.serving_default = tf.function(self._serve_text, input_signature=[text])
        # The ids the encoder reads: DistilBERT and single-segment models (RoBERTa) take no token_type_ids.
        self.serve_encoded = tf.function(
            self._serve_encoded,
            input_signature=[tf.TensorSpec([None, None], tf.int32, name=name) for name in classifier.encoded_inputs],
        )

    def signatures(self) -> dict:
        """``{signature name: concrete function}``, each traced once (or taken from an earlier call's trace).
        Saved as concrete functions beside :meth:`saved_root`, not as this module's ``tf.function`` attributes:
        ``tf.saved_model.save`` traces a ``tf.function`` again (a trace made outside the save context is not
        reused inside it), which made every export trace the whole model twice more."""
        return {
            SERVING_SIGNATURE: self.serving_default.get_concrete_function(),
            ENCODED_SIGNATURE: self.serve_encoded.get_concrete_function(),
        }

    def saved_root(self) -> tf.Module:
        """The object saved with :meth:`signatures`: the state they capture, which the SavedModel must hold."""
        root = tf.Module(name="bert_cls_serving")
        root.state = self.state
        return root

    def _outputs(self, logits):
        probabilities = self.classifier.probabilities(logits)
        if self.multi_label:
            predicted = probabilities >= self.thresholds
            names = tf.broadcast_to(self.label_names, tf.shape(probabilities))
            return {PROBABILITIES: probabilities, PREDICTED: tf.cast(predicted, tf.int64), LABELS: tf.where(predicted, names, "")}
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {PROBABILITIES: probabilities, LABEL_ID: label_id, LABEL: tf.gather(self.label_names, label_id)}

    def _serve_text(self, text):
        return self._outputs(self.classifier.text_model(text, training=False))

    def _serve_pair(self, text, text_pair):
        return self._outputs(self.classifier.text_model({"text": text, "text_pair": text_pair}, training=False))

    def _serve_encoded(self, *tensors):
        """Logits of client-made ids: the ``encoded_inputs`` this model reads, in their order."""
        inputs = dict(zip(self.classifier.encoded_inputs, tensors))
        with tf.control_dependencies(self._encoded_checks(inputs)):
            inputs = {name: tf.identity(t) for name, t in inputs.items()}
        return self._outputs(self.classifier.encoded_model(inputs, training=False))

    def _encoded_checks(self, inputs: dict) -> list:
        """Assertions on client-made token ids, in the graph so TF Serving runs them too (a failed one is
        INVALID_ARGUMENT): on a GPU an id outside the embedding table reads zeros instead of failing, and a mask
        value other than 0/1 would scale attention silently."""
        config, family = self.classifier.encoder.config, self.classifier.config.family
        input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
        shape, longest = tf.shape(input_ids), family.max_length(config)
        checks = [
            tf.debugging.assert_equal(tf.shape(attention_mask), shape, message="attention_mask must have the shape of input_ids"),
            tf.debugging.assert_less_equal(shape[1], longest, message=f"at most {longest} tokens per row"),
            tf.debugging.assert_non_negative(input_ids, message="input_ids must be at least 0"),
            tf.debugging.assert_less(
                input_ids, config.vocab_size, message=f"input_ids must be below the vocabulary size {config.vocab_size}"
            ),
            tf.debugging.assert_equal(
                tf.reduce_all((attention_mask == 0) | (attention_mask == 1)), True, message="attention_mask values must be 0 or 1"
            ),
        ]
        if "token_type_ids" in inputs:
            token_type_ids, type_vocab_size = inputs["token_type_ids"], config.type_vocab_size
            checks += [
                tf.debugging.assert_equal(
                    tf.shape(token_type_ids), shape, message="token_type_ids must have the shape of input_ids"
                ),
                tf.debugging.assert_non_negative(token_type_ids, message="token_type_ids must be at least 0"),
                tf.debugging.assert_less(
                    token_type_ids, type_vocab_size, message=f"token_type_ids must be below {type_vocab_size}"
                ),
            ]
        return checks


STAGING_PREFIX = ".export-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def remove_stale_staging(base: Path) -> list:
    """Deletes staging directories (``.export-VERSION-PID-*``) whose export process is gone (killed mid-export);
    an export still running keeps its own."""
    removed = []
    for path in base.glob(f"{STAGING_PREFIX}*"):
        parts = path.name[len(STAGING_PREFIX) :].split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
        if path.is_dir() and (pid is None or not _alive(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def probe_inputs(classifier: BertClassifier) -> dict:
    """``serving_default``'s inputs for the warm-up and the check: the probe texts, and for a pair model
    the same texts reversed as second texts."""
    texts = list(PROBE_TEXTS)
    return {TEXT_INPUT: texts, TEXT_PAIR_INPUT: texts[::-1]} if classifier.config.text_pair else {TEXT_INPUT: texts}


def _write_warmup(path: Path, model_name: str, inputs: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for size in (1, 4, len(inputs[TEXT_INPUT])):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_SIGNATURE)
            )
            for name, texts in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(texts[:size], dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def _run_verify_process(export_dir: Path, request: dict) -> dict:
    """Runs ``verify_export.py`` by path in an isolated interpreter (``-I``: no script dir, no PYTHONPATH)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(request, handle)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        proc = subprocess.run(
            # Absolute paths: the child runs elsewhere so that the working directory's modules stay invisible.
            [sys.executable, "-I", verify_module.__file__, str(Path(export_dir).resolve()), handle.name],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
    finally:
        os.unlink(handle.name)
    marker = [line for line in proc.stdout.splitlines() if line.startswith(verify_module.MARKER)]
    if proc.returncode != 0 or not marker:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BertClsError(f"the export at {export_dir} does not load in plain TensorFlow + TF Text: {tail}")
    return json.loads(marker[0][len(verify_module.MARKER) :])


def verify_export(export_dir: Path, classifier: BertClassifier, signatures: dict = None) -> dict:
    """Loads the export as TF Serving would (fresh process, TensorFlow + TF Text only) and compares its outputs
    with the in-memory ``signatures`` that were saved (``{name: function}``; by default the float32 ones)."""
    if signatures is None:
        signatures = serving_signatures(classifier)[1]
    inputs = probe_inputs(classifier)
    texts, pairs = inputs[TEXT_INPUT], inputs.get(TEXT_PAIR_INPUT)
    tokens = classifier.tokenizer(tf.constant(texts) if pairs is None else (tf.constant(texts), tf.constant(pairs)))
    encoded = {k: v.numpy().tolist() for k, v in tokens.items()}
    text_args = [tf.constant(texts)] if pairs is None else [tf.constant(texts), tf.constant(pairs)]
    expected = signatures[SERVING_SIGNATURE](*text_args)[PROBABILITIES].numpy()
    encoded_args = [tf.constant(encoded[name], tf.int32) for name in classifier.encoded_inputs]
    expected_encoded = signatures[ENCODED_SIGNATURE](*encoded_args)[PROBABILITIES].numpy()
    result = _run_verify_process(
        export_dir,
        {
            "signatures": {"text": SERVING_SIGNATURE, "encoded": ENCODED_SIGNATURE},
            "text_inputs": inputs,
            "encoded": encoded,
        },
    )
    if result["unknown_ops"]:
        raise BertClsError(f"the export uses ops TF Serving does not link: {result['unknown_ops']}")
    if result["modules_loaded"]:
        raise BertClsError(f"loading the export imported {result['modules_loaded']}; it must need only TensorFlow")
    diffs = {
        SERVING_SIGNATURE: float(np.abs(np.array(result["text"][PROBABILITIES]) - expected).max()),
        # TF Serving's C++ path: MetaGraph in a session, fed by tensor names
        f"{SERVING_SIGNATURE} (session)": float(np.abs(np.array(result["session"][PROBABILITIES]) - expected).max()),
        ENCODED_SIGNATURE: float(np.abs(np.array(result["encoded"][PROBABILITIES]) - expected_encoded).max()),
    }
    decided = classifier.decide(expected).tolist()
    if result["text"][PREDICTED if classifier.config.multi_label else LABEL_ID] != decided:
        raise BertClsError("the exported model's predicted labels differ from the in-memory model's")
    if max(diffs.values()) >= PARITY_TOLERANCE:
        raise BertClsError(f"exported outputs differ from the in-memory model by {diffs} (tolerance {PARITY_TOLERANCE})")
    return {"max_abs_diff": diffs, "ops": len(result["ops"]), "text_ops": result["text_ops"], "signatures": result["signatures"]}


def serving_signatures(classifier: BertClassifier, requested: str = "float32", check_texts=None) -> tuple:
    """(object to save, ``{signature name: function}``, ``PrecisionChoice``): the functions to save, in the
    precision chosen for ``requested`` (``bert_cls.serving.precision``). float32 ones are the ``ServingModule``'s
    concrete functions, saved beside the state they capture; bfloat16 ones are frozen (weights as constants), so
    the object saved with them holds nothing."""
    module = ServingModule(classifier)
    float32 = {SERVING_SIGNATURE: module.serving_default, ENCODED_SIGNATURE: module.serve_encoded}  # traced when used
    candidate = {}

    def bfloat16_signatures():
        if not candidate:
            bf16 = ServingModule(precision_lib.to_bfloat16(classifier))
            for name, function in ((SERVING_SIGNATURE, bf16.serving_default), (ENCODED_SIGNATURE, bf16.serve_encoded)):
                candidate[name] = precision_lib.freeze(function, function.input_signature)
        return candidate

    def measure():
        texts, pairs = check_texts or probe_text_lists(classifier)
        return precision_lib.compare(
            float32[SERVING_SIGNATURE],
            bfloat16_signatures()[SERVING_SIGNATURE],
            texts,
            pairs,
            classifier.config.multi_label,
            classifier.decide,
        )

    choice = precision_lib.choose(requested, measure)
    if choice.precision == "bfloat16":
        return tf.Module(name="bert_cls_serving"), bfloat16_signatures(), choice
    return module.saved_root(), module.signatures(), choice


def probe_text_lists(classifier: BertClassifier) -> tuple:
    """(texts, pairs or None) of the built-in probe texts: the precision check of a run that kept no held-out texts."""
    inputs = probe_inputs(classifier)
    return inputs[TEXT_INPUT], inputs.get(TEXT_PAIR_INPUT)


def export_classifier(
    classifier,
    export_base,
    version=None,
    model_name=DEFAULT_MODEL_NAME,
    verify=True,
    precision: str = "float32",
    check_texts=None,
) -> dict:
    """Writes ``export_base/<version>`` atomically; returns the path, version, precision and verification figures.

    ``precision``: ``float32``, ``bfloat16`` or ``auto`` (``bert_cls.serving.precision``); ``check_texts``:
    ``(texts, pairs or None)`` held out from training, on which bfloat16 is checked against float32.
    """
    base = Path(export_base)
    cfg.require("--export-dir", base, cfg.not_a_file)
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=base, prefix=".write-test-")
        probe.close()
    except OSError as exc:
        raise BertClsError(f"--export-dir {base} is not writable ({exc.strerror}): choose a writable directory") from None
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise BertClsError(f"--version must be a positive integer, got {version}")
    target = base / str(version)
    if target.exists():
        raise BertClsError(f"{target} already exists: TF Serving versions are immutable, export with a new --version")
    root, signatures, choice = serving_signatures(classifier, precision, check_texts)
    remove_stale_staging(base)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f"{STAGING_PREFIX}{version}-{os.getpid()}-"))
    try:
        tf.saved_model.save(root, str(staging), signatures=signatures)
        _write_warmup(staging / "assets.extra" / WARMUP_FILE, model_name, probe_inputs(classifier))
        longest = classifier.config.family.max_length(classifier.encoder.config)
        write_json(staging / "assets.extra" / METADATA_FILE, {"precision": dataclasses.asdict(choice), MAX_TOKENS_KEY: longest})
        report = verify_export(staging, classifier, signatures) if verify else {}
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a container running as another user
        os.rename(staging, target)  # atomic on one filesystem
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {
        "path": str(target),
        "version": version,
        "model_name": model_name,
        "precision": dataclasses.asdict(choice),
        **report,
    }


def export_model(config: ExportConfig) -> dict:
    """``bert-cls export``: loads a trained model and exports it."""
    classifier = BertClassifier.load(config.model, max_length=config.max_length)
    return export_classifier(
        classifier,
        config.export_dir,
        config.version,
        config.model_name,
        verify=config.verify,
        precision=config.precision,
        check_texts=read_check_texts(config.model) if config.precision != "float32" else None,
    )
