import numpy as np
import pytest

from bert_cls.errors import BertClsError
from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.classifier import BertClassifier, ClassifierConfig


def test_strings_in_logits_out(tiny_classifier):
    logits = tiny_classifier.text_model(tf.constant(["정말 재밌다", "bad movie", ""]))
    assert logits.shape == (3, 2)
    assert tiny_classifier.text_model.inputs[0].dtype == tf.string
    assert tiny_classifier.dropout_layer.rate == pytest.approx(0.1)


def test_text_path_equals_encoded_path(tiny_classifier):
    texts = tf.constant(["good movie", "최악이고 지루한 영화"])
    from_text = tiny_classifier.text_model(texts, training=False)
    from_ids = tiny_classifier.encoded_model(tiny_classifier.tokenizer(texts), training=False)
    np.testing.assert_allclose(from_text.numpy(), from_ids.numpy(), atol=1e-6)


def test_save_and_load_round_trip(tiny_classifier, tmp_path):
    texts = ["good movie", "시간 아깝네요"]
    tiny_classifier.save(tmp_path / "m")
    restored = BertClassifier.load(tmp_path / "m")
    import dataclasses
    import json

    def as_json(config):
        return json.dumps(dataclasses.asdict(config), sort_keys=True)

    assert as_json(restored.config) == as_json(tiny_classifier.config)
    np.testing.assert_allclose(restored.predict_proba(texts), tiny_classifier.predict_proba(texts), atol=1e-6)


def test_max_length_above_position_limit(tiny_classifier):
    config = ClassifierConfig(**{**tiny_classifier.config.__dict__, "max_length": 65})
    with pytest.raises(BertClsError, match="outside 3..64"):
        BertClassifier.from_config(config, tiny_classifier.tokenizer_resource)


def test_load_rejects_a_directory_that_is_not_a_model(tmp_path):
    with pytest.raises(BertClsError, match="not a trained bert-cls model"):
        BertClassifier.load(tmp_path)


def test_length_sorted_prediction_returns_every_text_in_input_order(tiny_classifier):
    """Batches of similar length, results in the caller's order, equal to one unsorted batch."""
    texts = ["정말 재밌다 " * 9, "good", "", "bad movie " * 3, "시간 아깝네요", "good movie " * 6, "최악"] * 3
    sorted_batches = tiny_classifier.predict_proba(texts, batch_size=4)
    one_batch = tf.nn.softmax(tiny_classifier.text_model(tf.constant(texts), training=False)).numpy()
    np.testing.assert_allclose(sorted_batches, one_batch, atol=1e-5)
    assert tiny_classifier.predict_proba([], batch_size=4).shape == (0, 2)


def test_sorted_batches_cover_every_index_once_by_length():
    from bert_cls.data.ordering import sorted_batches

    texts = ["ccc", "a", "", "bb", "dddd", "a"]
    batches = list(sorted_batches(texts, 4))
    assert [b.tolist() for b in batches] == [[2, 1, 5, 3], [0, 4]]  # stable among equal lengths


def test_classifiers_built_one_after_another_trace_their_predictions_once_each(tiny_classifier):
    """A tuning search builds a classifier per trial: no TensorFlow retracing warning, one trace per classifier."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        for _ in range(6):
            classifier = BertClassifier.from_config(tiny_classifier.config, tiny_classifier.tokenizer_resource)
            for size in (1, 3, 7):
                classifier.predict_proba(["good movie"] * size)
            assert classifier._probabilities.experimental_get_tracing_count() == 1
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "retracing" in r.getMessage()]
