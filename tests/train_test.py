import csv
import json

import pytest

from bert_cls.errors import BertClsError
from bert_cls.train import train
from conftest import tiny_train_config, write_tsv


def test_train_writes_model_history_plot_and_metrics(tmp_path, tiny_tsv, tiny_checkpoint):
    train_file, test_file = tiny_tsv
    config = tiny_train_config(tmp_path / "run", train_file, pretrained=str(tiny_checkpoint),
                               test_file=str(test_file), epochs=6, patience=6)
    result = train(config)
    out = tmp_path / "run"
    for name in ("classifier_config.json", "vocab.txt", "run_config.json", "history.csv",
                 "training_curves.png", "metrics.json"):
        assert (out / name).is_file(), name
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert float(rows[0]["examples_per_second"]) > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] == result.metrics["validation"]["accuracy"]
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    # the toy task is learnable: the best epoch beats chance on validation
    assert metrics["validation"]["accuracy"] > 0.6
    assert result.classifier.dropout_layer.rate == pytest.approx(config.dropout)


def test_killed_run_resumes_instead_of_starting_over(tmp_path, tiny_tsv, tiny_checkpoint):
    from bert_cls.keras_compat import keras

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    config = tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), epochs=4, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[Kill()])
    assert not (tmp_path / "run" / "metrics.json").exists()

    class Record(keras.callbacks.Callback):
        epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    result = train(config, extra_callbacks=[Record()])
    assert Record.epochs == [2, 3]  # epochs 0 and 1 were not redone
    assert [int(r["epoch"]) for r in result.history] == [0, 1, 2, 3]


def test_output_dir_with_other_run_is_not_touched(tmp_path, tiny_tsv, tiny_checkpoint):
    config = tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), epochs=1)
    train(config)
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.raises(BertClsError, match="differs in learning_rate"):
        train(tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), epochs=1, learning_rate=0.5))
    with pytest.raises(BertClsError, match="already holds this finished run"):
        train(config)
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before
    train(config, overwrite=True)


def test_foreign_directory_and_single_class(tmp_path, tiny_tsv, tiny_checkpoint):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(BertClsError, match="not empty and holds no bert-cls run"):
        train(tiny_train_config(tmp_path / "mine", tiny_tsv[0], pretrained=str(tiny_checkpoint)))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    one_class = write_tsv(tmp_path / "one.tsv", [("좋다", 1)] * 10)
    with pytest.raises(BertClsError, match="single class"):
        train(tiny_train_config(tmp_path / "x", one_class, pretrained=str(tiny_checkpoint)))


def test_max_length_above_position_limit_fails_before_writing(tmp_path, tiny_tsv, tiny_checkpoint):
    with pytest.raises(BertClsError, match="--max-length 100 is outside 3..64"):
        train(tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), max_length=100))
    assert not (tmp_path / "run").exists()


def test_float16_without_a_gpu_is_refused_not_emulated(tmp_path, tiny_tsv, tiny_checkpoint):
    from bert_cls.keras_compat import tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: mixed_float16 is allowed")
    with pytest.raises(BertClsError, match="mixed_float16 needs a GPU"):
        train(tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), mixed_precision="mixed_float16"))
    assert not (tmp_path / "run").exists()


def test_xla_trains_on_ids_and_saves_a_loadable_text_model(tmp_path, tiny_tsv, tiny_checkpoint):
    """--jit-compile moves tokenization into tf.data; the saved model still takes strings."""
    from bert_cls.model import BertClassifier

    config = tiny_train_config(tmp_path / "run", tiny_tsv[0], pretrained=str(tiny_checkpoint), epochs=1, jit_compile=True)
    result = train(config)
    restored = BertClassifier.load(tmp_path / "run")
    texts = ["good movie", "최악이고 지루한 영화"]
    import numpy as np

    np.testing.assert_allclose(restored.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-5)
