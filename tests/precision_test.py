"""The export's precision (bert_cls.serving.precision): a bfloat16 export stores bfloat16 constants, keeps the
float32 signatures, carries a valid warm-up file and is verified in a fresh process; the self-check against
float32 falls back with one line; --precision auto on a CPU without native bfloat16 is float32 without trying."""

import json

import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2

from bert_cls.serving import export as export_lib
from bert_cls.serving import precision as precision_lib
from bert_cls.serving.export import METADATA_FILE, WARMUP_FILE, export_classifier

TEXTS = ["정말 재밌다", "최악이고 지루한 영화", "good movie", "bad movie", "시간 아깝네요", ""] * 5


def _graph(version_dir):
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    return proto.meta_graphs[0]


def _stored_variables(version_dir) -> list:
    import tensorflow as tf

    names = [name for name, _ in tf.train.list_variables(str(version_dir / "variables" / "variables"))]
    return [n for n in names if n != "_CHECKPOINTABLE_OBJECT_GRAPH"]


def _const_dtypes(meta_graph) -> set:
    nodes = list(meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
        nodes += list(function.node_def)
    return {n.attr["dtype"].type for n in nodes if n.op == "Const"}


def test_a_bfloat16_export_stores_bfloat16_constants_and_keeps_the_signatures(tiny_classifier, tmp_path):
    import tensorflow as tf

    report = export_classifier(tiny_classifier, tmp_path, precision="bfloat16", check_texts=(TEXTS, None))
    version = tmp_path / "1"
    assert report["precision"]["precision"] == "bfloat16"
    assert report["max_abs_diff"]["serving_default (session)"] < export_lib.PARITY_TOLERANCE  # verified
    meta_graph = _graph(version)
    assert tf.bfloat16.as_datatype_enum in _const_dtypes(meta_graph)
    assert _stored_variables(version) == [], "a frozen export has no variables to restore"
    serving = meta_graph.signature_def["serving_default"]
    assert serving.inputs["text"].dtype == tf.string.as_datatype_enum
    assert serving.outputs["probabilities"].dtype == tf.float32.as_datatype_enum
    assert serving.outputs["label_id"].dtype == tf.int64.as_datatype_enum
    encoded = meta_graph.signature_def["encoded"]
    assert encoded.inputs["input_ids"].dtype == tf.int32.as_datatype_enum
    assert json.loads((version / "assets.extra" / METADATA_FILE).read_text())["precision"]["precision"] == "bfloat16"

    # The warm-up records replay against the export in a TF 1 session, as TF Serving replays them.
    from tensorflow_serving.apis import prediction_log_pb2

    import tensorflow_text  # noqa: F401

    records = list(tf.data.TFRecordDataset(str(version / "assets.extra" / WARMUP_FILE)).as_numpy_iterator())
    assert len(records) == 3
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version))
        for record in records:
            request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
            feed = {serving.inputs[k].name: tf.make_ndarray(v) for k, v in request.inputs.items()}
            probabilities = session.run(serving.outputs["probabilities"].name, feed)
            assert probabilities.dtype == np.float32
            np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_bfloat16_agrees_with_float32_on_the_check_texts(tiny_classifier):
    _, signatures, choice = export_lib.serving_signatures(tiny_classifier, "bfloat16", (TEXTS, None))
    assert choice.precision == "bfloat16" and choice.texts_checked == len(TEXTS)
    assert choice.label_agreement >= precision_lib.MIN_AGREEMENT
    assert 0 < choice.max_probability_difference < 0.05  # computed in bfloat16, so not equal; close
    assert choice.float32_texts_per_second > 0 and choice.bfloat16_texts_per_second > 0


def test_the_self_check_falls_back_to_float32_with_one_line(tiny_classifier, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision_lib, "MIN_AGREEMENT", 1.01)  # no model can pass: the fallback must show
    report = export_classifier(tiny_classifier, tmp_path, precision="bfloat16", check_texts=(TEXTS, None), verify=False)
    assert report["precision"]["precision"] == "float32"
    assert "agree with float32 on only" in report["precision"]["reason"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "exporting float32" in line]
    assert len(warnings) == 1
    assert _stored_variables(tmp_path / "1"), "the fallback is the ordinary float32 export, with its variables"


def test_auto_is_float32_on_a_cpu_without_native_bfloat16(monkeypatch):
    monkeypatch.setattr(precision_lib.hardware, "native_bfloat16", lambda: "")

    def measure():
        raise AssertionError("bfloat16 must not even be tried")

    choice = precision_lib.choose("auto", measure)
    assert choice.precision == "float32" and "no native bfloat16" in choice.reason


def test_auto_keeps_float32_where_bfloat16_is_not_faster(monkeypatch):
    monkeypatch.setattr(precision_lib.hardware, "native_bfloat16", lambda: "avx512_bf16")
    figures = dict(
        texts_checked=10,
        label_agreement=1.0,
        max_probability_difference=0.01,
        float32_texts_per_second=100.0,
        bfloat16_texts_per_second=90.0,
    )
    assert precision_lib.choose("auto", lambda: figures).precision == "float32"
    assert precision_lib.choose("auto", lambda: {**figures, "bfloat16_texts_per_second": 150.0}).precision == "bfloat16"
    # asked for explicitly, bfloat16 is kept even where it is slower (the agreement check still applies)
    assert precision_lib.choose("bfloat16", lambda: figures).precision == "bfloat16"


@pytest.mark.parametrize("requested", ["float32"])
def test_float32_is_never_measured(requested):
    choice = precision_lib.choose(requested, lambda: pytest.fail("measured"))
    assert choice.precision == "float32" and choice.reason == "--precision float32"  # what `export` prints
