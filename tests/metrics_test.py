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
