"""Export a trained classifier as a versioned SavedModel that TensorFlow Serving loads as is.

Signatures (names are constants below, shared with the server and the client):

* ``serving_default``: ``text`` (``tf.string [None]``) -> ``probabilities``
  (``float32 [None, num_labels]``), ``label_id`` (``int64 [None]``), ``label`` (``tf.string [None]``).
* ``encoded``: ``input_ids``/``attention_mask``/``token_type_ids`` (``int32 [None, None]``) -> same outputs.

``assets.extra/tf_serving_warmup_requests`` holds a few ``PredictionLog`` records.
The version is written beside ``BASE`` under a temporary name, verified in a
fresh process that imports only TensorFlow and TF Text, and renamed into place,
so a polling server never sees half a model and a failed export changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bert_cls.errors import BertClsError

from bert_cls.serving.constants import DEFAULT_MODEL_NAME, ENCODED_SIGNATURE, SERVING_SIGNATURE, TEXT_INPUT

WARMUP_FILE = "tf_serving_warmup_requests"
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


def _serving_module(classifier):
    from bert_cls.keras_compat import tf
    from bert_cls.model import ENCODED_INPUTS

    class ServingModule(tf.Module):
        def __init__(self):
            super().__init__(name="bert_cls_serving")
            self.text_model = classifier.text_model
            self.encoded_model = classifier.encoded_model
            self.label_names = tf.constant(list(classifier.config.label_names))

        def _outputs(self, logits):
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
            label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {"probabilities": probabilities, "label_id": label_id, "label": tf.gather(self.label_names, label_id)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_INPUT)])
        def serve_text(self, text):
            return self._outputs(self.text_model(text, training=False))

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=n) for n in ENCODED_INPUTS])
        def serve_encoded(self, input_ids, attention_mask, token_type_ids):
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self._outputs(self.encoded_model(inputs, training=False))

    return ServingModule()


def next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def _write_warmup(path: Path, model_name: str, texts) -> None:
    from bert_cls.keras_compat import tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in ([texts[0]], list(texts[:4]), list(texts)):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_SIGNATURE)
            )
            request.inputs[TEXT_INPUT].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


# Runs in a fresh interpreter: only TensorFlow and TF Text, as TF Serving has them.
_VERIFY_SCRIPT = r"""
import json, sys
export_dir, request_file = sys.argv[1], sys.argv[2]
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
proto = saved_model_pb2.SavedModel()
proto.ParseFromString(open(export_dir + "/saved_model.pb", "rb").read())
ops = set()
for meta in proto.meta_graphs:
    ops.update(n.op for n in meta.graph_def.node)
    for fn in meta.graph_def.library.function:
        ops.update(n.op for n in fn.node_def)
    fn_names = {fn.signature.name for fn in meta.graph_def.library.function}
ops -= fn_names
core = {op for op in ops if op_def_registry.get(op) is not None}
import tensorflow_text  # registers TF Text ops, as TF Serving's binary does
text_ops = {op for op in ops - core if op_def_registry.get(op) is not None}
unknown = sorted(ops - core - text_ops)
loaded = tf.saved_model.load(export_dir)
request = json.load(open(request_file))
out = {"ops": sorted(ops), "text_ops": sorted(text_ops), "unknown_ops": unknown,
       "signatures": sorted(loaded.signatures.keys()),
       "modules_loaded": sorted(m for m in ("transformers", "bert_cls", "torch") if m in sys.modules)}
res = loaded.signatures["serving_default"](text=tf.constant(request["texts"]))
out["serving_default"] = {k: v.numpy().tolist() if k != "label" else [x.decode() for x in v.numpy()] for k, v in res.items()}
enc = {k: tf.constant(v, tf.int32) for k, v in request["encoded"].items()}
res = loaded.signatures["encoded"](**enc)
out["encoded"] = {k: v.numpy().tolist() if k != "label" else [x.decode() for x in v.numpy()] for k, v in res.items()}
print("VERIFY_JSON" + json.dumps(out))
"""


def verify_export(export_dir: Path, classifier, texts=PROBE_TEXTS) -> dict:
    """Loads the export as TF Serving would and compares it with the in-memory model."""
    from bert_cls.keras_compat import tf

    texts = list(texts)
    encoded = {k: v.numpy().tolist() for k, v in classifier.tokenizer(tf.constant(texts)).items()}
    expected = classifier.predict_proba(texts)
    expected_encoded = tf.nn.softmax(classifier.encoded_model(
        {k: tf.constant(v, tf.int32) for k, v in encoded.items()}, training=False)).numpy()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"texts": texts, "encoded": encoded}, handle)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        # Absolute path: the child runs elsewhere so that the working directory's modules stay invisible.
        [sys.executable, "-c", _VERIFY_SCRIPT, str(Path(export_dir).resolve()), handle.name],
        capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
    )
    os.unlink(handle.name)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("VERIFY_JSON")]
    if proc.returncode != 0 or not marker:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BertClsError(f"the export at {export_dir} does not load in plain TensorFlow + TF Text: {tail}")
    result = json.loads(marker[0][len("VERIFY_JSON"):])
    if result["unknown_ops"]:
        raise BertClsError(f"the export uses ops TF Serving does not link: {result['unknown_ops']}")
    if result["modules_loaded"]:
        raise BertClsError(f"loading the export imported {result['modules_loaded']}; it must need only TensorFlow")
    diffs = {
        "serving_default": float(np.abs(np.array(result["serving_default"]["probabilities"]) - expected).max()),
        "encoded": float(np.abs(np.array(result["encoded"]["probabilities"]) - expected_encoded).max()),
    }
    label_names = classifier.config.label_names
    if result["serving_default"]["label"] != [label_names[i] for i in expected.argmax(-1)]:
        raise BertClsError("the exported model's labels differ from the in-memory model's")
    if max(diffs.values()) >= PARITY_TOLERANCE:
        raise BertClsError(f"exported outputs differ from the in-memory model by {diffs} (tolerance {PARITY_TOLERANCE})")
    return {"max_abs_diff": diffs, "ops": len(result["ops"]), "text_ops": result["text_ops"],
            "signatures": result["signatures"]}


def export_classifier(classifier, export_base, version=None, model_name=DEFAULT_MODEL_NAME, verify=True) -> dict:
    """Writes ``export_base/<version>`` atomically; returns the path, version and verification figures."""
    from bert_cls.keras_compat import tf

    base = Path(export_base)
    if base.exists() and not base.is_dir():
        raise BertClsError(f"--export-dir {base} is a file: pass a directory")
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
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f".export-{version}-"))
    try:
        module = _serving_module(classifier)
        tf.saved_model.save(
            module, str(staging),
            signatures={SERVING_SIGNATURE: module.serve_text, ENCODED_SIGNATURE: module.serve_encoded},
        )
        _write_warmup(staging / "assets.extra" / WARMUP_FILE, model_name, PROBE_TEXTS)
        (staging / "assets.extra" / "bert_cls.json").write_text(
            json.dumps({"label_names": classifier.config.label_names, "max_length": classifier.config.max_length})
        )
        report = verify_export(staging, classifier) if verify else {}
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a container running as another user
        os.rename(staging, target)  # atomic on one filesystem
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {"path": str(target), "version": version, "model_name": model_name, **report}


def cmd_export(args) -> int:
    from bert_cls.model import BertClassifier

    classifier = BertClassifier.load(args.model, max_length=args.max_length)
    report = export_classifier(classifier, args.export_dir, args.version, args.model_name, verify=not args.no_verify)
    print(f"exported version {report['version']} to {report['path']}")
    if "max_abs_diff" in report:
        print(f"verified in plain TensorFlow + TF Text: signatures {report['signatures']}, {report['ops']} op types "
              f"(TF Text: {', '.join(report['text_ops'])}), max |diff| {max(report['max_abs_diff'].values()):.2e}")
    return 0


def add_export_arguments(parser) -> None:
    parser.add_argument("--export-dir", required=True, help="model base path that TF Serving watches; versions go in numbered subdirectories")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="name TF Serving serves the model under (default: %(default)s)")
    parser.add_argument("--version", type=int, help="version number (default: one above the highest present)")


def register_cli(sub) -> None:
    p = sub.add_parser("export", help="export a trained model as a SavedModel for TensorFlow Serving",
                       description=__doc__.split("\n\n")[0] + " The export is verified in a fresh process before it is moved into place.")
    p.add_argument("--model", required=True, help="output directory of `bert-cls train`")
    add_export_arguments(p)
    p.add_argument("--max-length", type=int, help="override the model's max sequence length for serving")
    p.add_argument("--no-verify", action="store_true", help="skip the load-and-compare check (not recommended)")
    p.set_defaults(func=cmd_export)
