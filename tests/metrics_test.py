import pytest

from bert_cls.training.metrics import classification_metrics


def test_metrics_by_hand():
    m = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["neg"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["neg"]["support"] == 2


def test_class_never_predicted_has_zero_precision():
    m = classification_metrics([0, 1, 2], [0, 0, 0], ["a", "b", "c"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_keras_macro_f1_equals_the_report_macro_f1():
    """The metric early stopping follows (--monitor val_macro_f1) is the macro-F1 metrics.json reports."""
    import numpy as np

    from bert_cls.training.macro_f1 import MacroF1

    rng = np.random.default_rng(0)
    y_true = rng.choice(4, size=300, p=[0.7, 0.2, 0.1, 0.0])  # class 3 never occurs
    logits = rng.normal(size=(300, 4)).astype("float32")
    metric = MacroF1(4)
    for start in range(0, 300, 64):  # accumulates over batches, as during validation
        metric.update_state(y_true[start : start + 64], logits[start : start + 64])
    expected = classification_metrics(y_true, logits.argmax(-1), ["a", "b", "c", "d"])["macro_f1"]
    assert abs(float(metric.result()) - expected) < 1e-6
    metric.reset_state()
    assert float(metric.result()) == 0.0
