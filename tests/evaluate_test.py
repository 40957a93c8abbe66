"""Evaluation: length-sorted prediction over in-memory and streamed datasets gives the in-order results."""

import numpy as np

from bert_cls.data import stream
from bert_cls.data.files import read_dataset
from bert_cls.training import evaluate


def test_streamed_dataset_predicts_in_sorted_windows_in_file_order(tiny_classifier, tmp_path, write_tsv, monkeypatch):
    rows = [("good movie " * (i % 7 + 1), i % 2) for i in range(23)]
    path = write_tsv(tmp_path / "d.tsv", rows)
    monkeypatch.setattr(evaluate, "SORT_WINDOW", 5)  # several windows, the last one partial
    streamed = stream.FileDataset.everything(stream.count_files(path, stream.Columns()), stream.Columns())
    in_memory = read_dataset(path)
    expected = tiny_classifier.predict_proba(in_memory.texts, batch_size=1)  # one text per batch: no sorting at all
    probabilities, labels = evaluate.predict_dataset(tiny_classifier, streamed, batch_size=3)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(labels, in_memory.labels)  # from the same pass over the file
    probabilities, labels = evaluate.predict_dataset(tiny_classifier, in_memory, batch_size=3, verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(labels, in_memory.labels)
    metrics = evaluate.evaluate_dataset(tiny_classifier, streamed, batch_size=3, verbose=0)
    assert metrics["num_examples"] == 23
    assert metrics["accuracy"] == float((expected.argmax(-1) == in_memory.labels).mean())
