"""Loads an export the way TF Serving would and prints what it computes: the export check's child process.

``bert_cls.serving.export.verify_export`` runs this file by path in a fresh, isolated
interpreter (``python -I``), so nothing but TensorFlow and TF Text is importable in the
sense that matters: the file imports no ``bert_cls`` module, and the result reports
whether ``transformers``, ``bert_cls`` or ``torch`` got loaded anyway.

    python -I verify_export.py EXPORT_DIR REQUEST_JSON

``REQUEST_JSON`` holds ``{"signatures": {"text": NAME, "encoded": NAME}, "text_inputs": {input: texts},
"encoded": {input: ids}}``. The last stdout line is ``VERIFY_JSON`` followed
by ``{"ops", "text_ops", "unknown_ops", "signatures", "modules_loaded", "text": outputs,
"encoded": outputs, "session": outputs}``: ``text`` and ``encoded`` from ``tf.saved_model.load``, ``session``
from the MetaGraph in a TF1 session by tensor names, as TF Serving's C++ loader runs it.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

MARKER = "VERIFY_JSON"
WATCHED_MODULES = ("transformers", "bert_cls", "torch")


def graph_ops(export_dir: str) -> set:
    """Every op type in the SavedModel's graphs and functions (function names themselves excluded)."""
    proto = saved_model_pb2.SavedModel()
    with open(f"{export_dir}/saved_model.pb", "rb") as handle:
        proto.ParseFromString(handle.read())
    ops, function_names = set(), set()
    for meta in proto.meta_graphs:
        ops.update(n.op for n in meta.graph_def.node)
        for function in meta.graph_def.library.function:
            ops.update(n.op for n in function.node_def)
            function_names.add(function.signature.name)
    return ops - function_names


def classify_ops(ops: set) -> dict:
    """Core TensorFlow ops, TF Text ops (registered by importing tensorflow_text) and anything else."""
    core = {op for op in ops if op_def_registry.get(op) is not None}
    import tensorflow_text  # noqa: F401  (registers TF Text ops, as TF Serving's binary links them)

    text_ops = {op for op in ops - core if op_def_registry.get(op) is not None}
    return {"ops": sorted(ops), "text_ops": sorted(text_ops), "unknown_ops": sorted(ops - core - text_ops)}


def _plain(outputs: dict) -> dict:
    """Outputs (tensors or arrays) as JSON-ready lists, strings decoded."""
    arrays = {k: np.asarray(v) for k, v in outputs.items()}
    return {
        k: np.char.decode(a.astype(bytes), "utf-8").tolist() if a.dtype.kind in "SO" else a.tolist() for k, a in arrays.items()
    }


def run_in_session(export_dir: str, signature_name: str, inputs: dict) -> dict:
    """The signature run the way TF Serving's C++ server runs it: the MetaGraph loaded into a TF1 session
    (``tf.compat.v1.saved_model.loader.load``, tag ``serve``) and its tensors fed and fetched by the
    SignatureDef's tensor names."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta_graph.signature_def[signature_name]
        feeds = {signature.inputs[name].name: np.asarray(values, dtype=object) for name, values in inputs.items()}
        fetches = {name: info.name for name, info in signature.outputs.items()}
        outputs = session.run(fetches, feeds)
    return _plain(outputs)


def run(export_dir: str, request: dict) -> dict:
    result = classify_ops(graph_ops(export_dir))
    loaded = tf.saved_model.load(export_dir)
    names = request["signatures"]
    result["signatures"] = sorted(loaded.signatures.keys())
    texts = {name: tf.constant(values, tf.string) for name, values in request["text_inputs"].items()}
    result["text"] = _plain(loaded.signatures[names["text"]](**texts))
    result["session"] = run_in_session(export_dir, names["text"], request["text_inputs"])
    encoded = {k: tf.constant(v, tf.int32) for k, v in request["encoded"].items()}
    result["encoded"] = _plain(loaded.signatures[names["encoded"]](**encoded))
    result["modules_loaded"] = sorted(m for m in WATCHED_MODULES if m in sys.modules)
    return result


def main(argv) -> int:
    export_dir, request_file = argv
    with open(request_file) as handle:
        request = json.load(handle)
    print(MARKER + json.dumps(run(export_dir, request)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
