import pytest
import tensorflow as tf

from bert_cls.serving import export as export_lib
from bert_cls.errors import BertClsError


def test_export_writes_verified_versioned_savedmodel(tiny_classifier, tmp_path, monkeypatch):
    """The one test that runs the verification process (the others pass verify=False). The base path is
    relative: the check's subprocess runs in another directory and must still find the export."""
    monkeypatch.chdir(tmp_path)
    modules, real_init = [], export_lib.ServingModule.__init__

    def recording(self, classifier):
        real_init(self, classifier)
        modules.append(self)

    monkeypatch.setattr(export_lib.ServingModule, "__init__", recording)
    report = export_lib.export_classifier(tiny_classifier, "base", model_name="toy")
    # One trace per signature, used for saving and for the check (tf.saved_model.save would trace a tf.function
    # again in its save context)
    (module,) = modules
    assert module.serving_default.experimental_get_tracing_count() == 1
    assert module.serve_encoded.experimental_get_tracing_count() == 1
    target = tmp_path / "base" / "1"
    assert report["version"] == 1 and report["path"] == "base/1"
    assert set(report["signatures"]) == {"serving_default", "encoded"}
    assert max(report["max_abs_diff"].values()) < export_lib.PARITY_TOLERANCE
    assert "FastWordpieceTokenizeWithOffsets" in report["text_ops"]
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["1"]  # no staging leftovers

    loaded = tf.saved_model.load(str(target))
    serving = loaded.signatures["serving_default"]
    assert serving.structured_input_signature[1]["text"].dtype == tf.string
    out = serving(text=tf.constant(["good movie", "최악"]))
    assert out["probabilities"].shape == (2, 2) and out["probabilities"].dtype == tf.float32
    assert out["label_id"].dtype == tf.int64
    assert set(out["label"].numpy().tolist()) <= {b"negative", b"positive"}
    encoded = loaded.signatures["encoded"].structured_input_signature[1]
    assert {k: v.dtype for k, v in encoded.items()} == {k: tf.int32 for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_warmup_requests_are_prediction_logs(tiny_export):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(str(tiny_export / "1" / "assets.extra" / export_lib.WARMUP_FILE)))
    assert len(records) == 3
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.name == "toy"
    assert "text" in log.predict_log.request.inputs


def test_next_version_and_existing_version_is_refused(tiny_classifier, tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "other").mkdir()
    assert export_lib.next_version(tmp_path) == 4
    with pytest.raises(BertClsError, match="already exists"):
        export_lib.export_classifier(tiny_classifier, tmp_path, version=3, verify=False)


def test_failed_verification_leaves_base_as_it_was(tiny_classifier, tmp_path, monkeypatch):
    (tmp_path / "1").mkdir()

    def broken(*args, **kwargs):
        raise BertClsError("verification failed")

    monkeypatch.setattr(export_lib, "verify_export", broken)
    with pytest.raises(BertClsError, match="verification failed"):
        export_lib.export_classifier(tiny_classifier, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_unwritable_export_dir(tiny_classifier, tmp_path):
    (tmp_path / "f").write_text("x")  # a path below a file cannot be created, even by root
    with pytest.raises(BertClsError, match="not writable"):
        export_lib.export_classifier(tiny_classifier, tmp_path / "f" / "base", verify=False)


def test_export_dir_that_is_a_file(tiny_classifier, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(BertClsError, match="is a file"):
        export_lib.export_classifier(tiny_classifier, tmp_path / "f", verify=False)


def test_verification_refuses_foreign_modules_and_unknown_ops(tiny_classifier, tiny_export, monkeypatch):
    """An export whose fresh-process load pulls in transformers, or uses an op TF Serving lacks, is refused.
    The check module runs in this process here (same code as in the child, without its start-up cost)."""
    from bert_cls.serving import verify_export

    def tampered(**changes):
        def run(export_dir, request):
            result = verify_export.run(str(export_dir), request)
            assert result["unknown_ops"] == []  # the real result: every op is TensorFlow's or TF Text's
            return {**result, **changes}

        return run

    # in this process bert_cls and transformers are loaded by the test itself: the child's list would be empty
    monkeypatch.setattr(export_lib, "_run_verify_process", tampered(modules_loaded=[]))
    assert export_lib.verify_export(tiny_export / "1", tiny_classifier)["max_abs_diff"]["serving_default"] < 1e-4
    monkeypatch.setattr(export_lib, "_run_verify_process", tampered(modules_loaded=["transformers"]))
    with pytest.raises(BertClsError, match=r"imported \['transformers'\]"):
        export_lib.verify_export(tiny_export / "1", tiny_classifier)
    monkeypatch.setattr(export_lib, "_run_verify_process", tampered(unknown_ops=["PyFunc"]))
    with pytest.raises(BertClsError, match="ops TF Serving does not link"):
        export_lib.verify_export(tiny_export / "1", tiny_classifier)
