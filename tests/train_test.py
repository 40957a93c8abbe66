import csv
import json

import numpy as np
import pytest

from bert_cls.errors import BertClsError
from bert_cls.modeling.classifier import BertClassifier
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.training import callbacks as callbacks_lib
from bert_cls.training import run as run_lib
from bert_cls.training.config import TrainConfig
from bert_cls.training.run import train
from bert_cls.training.state import RunState


def _history_epochs(out):
    with open(out / "history.csv") as handle:
        return [int(r["epoch"]) for r in csv.DictReader(handle)]


def test_train_writes_model_history_plot_and_metrics(tmp_path, tiny_tsv, train_config):
    # 3e-3: the tiny random checkpoint needs a few epochs to leave chance at 1e-3 (measured), less at 3e-3
    config = train_config(tmp_path / "run", test_file=str(tiny_tsv[1]), epochs=6, patience=6, learning_rate=3e-3)
    result = train(config)
    out = tmp_path / "run"
    for name in (
        "classifier_config.json",
        "vocab.txt",
        "run_config.json",
        "history.csv",
        "training_curves.png",
        "metrics.json",
        "train_state.json",
    ):
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
    # the reported validation accuracy is the best epoch's, and the saved model is that epoch's
    best = max(float(r["val_accuracy"]) for r in rows)
    assert metrics["validation"]["accuracy"] == pytest.approx(best, abs=1e-6)
    assert float(rows[metrics["best_epoch"] - 1]["val_accuracy"]) == pytest.approx(best)
    # per-epoch checkpoints are gone once the run is finished; the model loads
    assert not (out / "backup").exists() and not list((out / "weights").glob("epoch-*"))
    texts = ["good movie", "최악이고 지루한 영화"]
    np.testing.assert_allclose(BertClassifier.load(out).predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-6)


class Kill(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at a chosen moment of a chosen epoch."""

    def __init__(self, epoch, moment="begin"):
        super().__init__()
        self.epoch, self.moment = epoch, moment

    def on_epoch_begin(self, epoch, logs=None):
        if self.moment == "begin" and epoch == self.epoch:
            raise KeyboardInterrupt


TWIN = dict(epochs=3, patience=10, learning_rate=1e-3)  # dropout 0.1 (the default) and bfloat16 where native


@pytest.fixture(scope="module")
def twin(tmp_path_factory, train_config):
    """An uninterrupted run that the resumed runs of this module must equal: (result, output directory)."""
    out = tmp_path_factory.mktemp("twin") / "run"
    return train(train_config(out, **TWIN)), out


def _history(out):
    with open(out / "history.csv") as handle:
        return list(csv.DictReader(handle))


def assert_same_run(result, out, twin) -> None:
    """history.csv equal column by column (all but the wall-clock throughput), and the final weights equal."""
    twin_result, twin_out = twin
    expected, got = _history(twin_out), _history(out)
    assert [r["epoch"] for r in got] == [r["epoch"] for r in expected] and set(got[0]) == set(expected[0])
    for column in sorted(set(expected[0]) - {"examples_per_second"}):
        np.testing.assert_allclose(
            [float(r[column]) for r in got], [float(r[column]) for r in expected], rtol=1e-5, atol=1e-6, err_msg=column
        )
    for a, b in zip(result.classifier.text_model.weights, twin_result.classifier.text_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.name)


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_killed_run_resumes_instead_of_starting_over(tmp_path, train_config):
    config = train_config(tmp_path / "run", epochs=4, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[Kill(2)])
    assert not (tmp_path / "run" / "metrics.json").exists()
    record = Record()
    result = train(config, extra_callbacks=[record])
    assert record.epochs == [2, 3]  # epochs 0 and 1 were not redone
    assert [int(r["epoch"]) for r in result.history] == [0, 1, 2, 3]
    assert _history_epochs(tmp_path / "run") == [1, 2, 3, 4]  # numbered as Keras prints them


# The moments of an epoch's end at which a kill used to leave a run inconsistent, as (object,
# method, which call to kill after): after the backup and the commit of epoch 1, after epoch 0's
# best weights (the first epoch always improves), after epoch 1's history.csv (the first write
# is the repair pass before fitting).
KILL_POINTS = {
    "after_backup": (tf.train.Checkpoint, "write", 2),
    "after_best_weights": (keras.Model, "save_weights", 1),
    "after_commit": (RunState, "save", 3),
    "after_history": (callbacks_lib, "write_history_csv", 3),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_kill_between_the_steps_of_an_epoch_commit_resumes_exactly(tmp_path, train_config, twin, monkeypatch, point):
    """Killed at any step of epoch 1's commit, the rerun never repeats a committed epoch, history.csv has
    one row per epoch, early stopping's counter and best value continue, and the run equals an uninterrupted one."""
    config = train_config(tmp_path / "run", **TWIN)
    owner, name, nth = KILL_POINTS[point]
    real = getattr(owner, name)
    calls = []

    def killing(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == nth:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(owner, name, killing)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(owner, name, real)
    committed = RunState.load(tmp_path / "run").epochs_finished
    assert committed in (0, 1, 2)
    rows = _history_epochs(tmp_path / "run")
    assert rows == list(range(1, len(rows) + 1)) and len(rows) <= committed  # never a row the state does not hold
    record = Record()
    result = train(config, extra_callbacks=[record])
    assert record.epochs == list(range(committed, 3))  # resumes after the last committed epoch
    assert _history_epochs(tmp_path / "run") == [1, 2, 3]
    assert [int(r["epoch"]) for r in result.history] == [0, 1, 2]
    assert_same_run(result, tmp_path / "run", twin)


def test_interrupted_run_loads_with_a_warning_and_resumes_with_its_patience(tmp_path, train_config, capsys):
    """An interrupted run's directory loads (best epoch so far) with one warning line; the rerun continues
    early stopping's count: one epoch without gain before the kill plus one after reach patience 2."""
    config = train_config(tmp_path / "run", epochs=6, patience=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[Kill(2)])
    capsys.readouterr()
    BertClassifier.load(tmp_path / "run")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "interrupted after epoch 2 of 6" in err[0]

    state = RunState.load(tmp_path / "run")
    state.wait, state.best_value = 1, 2.0  # one epoch without gain so far, and a best no epoch can beat
    state.save(tmp_path / "run")
    record = Record()
    train(config, extra_callbacks=[record])
    assert record.epochs == [2]  # a restarted counter would have trained epochs 2 and 3
    final = RunState.load(tmp_path / "run")
    assert final.stopped_early and final.wait == 2 and final.epochs_finished == 3
    assert _history_epochs(tmp_path / "run") == [1, 2, 3]


def test_run_interrupted_before_its_first_epoch_does_not_load(tmp_path, train_config):
    with pytest.raises(KeyboardInterrupt):
        train(train_config(tmp_path / "early", epochs=3), extra_callbacks=[Kill(0)])
    with pytest.raises(BertClsError, match="interrupted before its first epoch finished"):
        BertClassifier.load(tmp_path / "early")


def test_a_run_stopped_after_metrics_json_is_completed_by_a_rerun(tmp_path, train_config, monkeypatch):
    """Killed between metrics.json and the cleanup after it: the rerun reports the kept weights and cleans up."""
    from bert_cls.training import callbacks as callbacks_lib
    from bert_cls.training import run as run_lib

    def killed(directory):
        raise KeyboardInterrupt

    config = train_config(tmp_path / "run", epochs=1)
    with monkeypatch.context() as patch:
        patch.setattr(run_lib.callbacks_lib, "remove_training_checkpoints", killed)
        with pytest.raises(KeyboardInterrupt):
            train(config)
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / callbacks_lib.BACKUP_DIR).is_dir()
    result = train(config)
    assert result.metrics["epochs_run"] == 1 and not (tmp_path / "run" / callbacks_lib.BACKUP_DIR).exists()
    with pytest.raises(BertClsError, match="already holds this finished run"):
        train(config)


def test_output_dir_with_other_run_is_not_touched(tmp_path, train_config):
    config = train_config(tmp_path / "run", epochs=1)
    train(config)
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.raises(BertClsError, match="differs in learning_rate"):
        train(train_config(tmp_path / "run", epochs=1, learning_rate=0.5))
    with pytest.raises(BertClsError, match="already holds this finished run"):
        train(config)
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before
    train(train_config(tmp_path / "run", epochs=1, overwrite=True))


def test_foreign_directory_and_single_class(tmp_path, train_config, write_tsv):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(BertClsError, match="not empty and holds no bert-cls run"):
        train(train_config(tmp_path / "mine"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    one_class = write_tsv(tmp_path / "one.tsv", [("좋다", 1)] * 10)
    with pytest.raises(BertClsError, match="single class"):
        train(train_config(tmp_path / "x", train_file=str(one_class)))


def test_max_length_above_position_limit_fails_before_writing(tmp_path, train_config):
    with pytest.raises(BertClsError, match="--max-length 100 is outside 3..64"):
        train(train_config(tmp_path / "run", max_length=100))
    assert not (tmp_path / "run").exists()


def test_float16_without_a_gpu_is_refused_not_emulated(tmp_path, train_config):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: mixed_float16 is allowed")
    with pytest.raises(BertClsError, match="mixed_float16 needs a GPU"):
        train(train_config(tmp_path / "run", mixed_precision="mixed_float16"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "native, seconds, expected",
    [
        ("amx_bf16", {"float32": 0.9, "mixed_bfloat16": 0.5}, "mixed_bfloat16"),
        ("amx_bf16", {"float32": 0.5, "mixed_bfloat16": 0.9}, "no"),  # never the slower one
        ("", None, "no"),  # no native bfloat16: float32 without a timing
    ],
)
def test_auto_precision_is_the_faster_one_and_is_recorded(tmp_path, train_config, monkeypatch, capsys, native, seconds, expected):
    import json

    from bert_cls import hardware
    from bert_cls.modeling.keras_compat import keras
    from bert_cls.training import precision_timing

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: auto is float32 there")
    monkeypatch.setattr(hardware, "native_bfloat16", lambda: native)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no timings from another test
    timed = []

    def step_seconds(family, encoder_config, batch_size, policy):
        assert seconds is not None, "a CPU without native bfloat16 must not be timed"
        timed.append(policy)
        return seconds[policy]

    monkeypatch.setattr(precision_timing, "step_seconds", step_seconds)
    config = train_config(tmp_path / "run", epochs=1, max_steps=2, verbose=1, mixed_precision="auto")
    assert TrainConfig.__dataclass_fields__["mixed_precision"].default == "auto"  # what users get
    result = train(config)
    recorded = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert recorded["mixed_precision"] == expected
    assert recorded["mixed_precision_choice"]["used"] == ("float32" if expected == "no" else expected)
    if seconds:
        assert sorted(timed) == ["float32", "mixed_bfloat16"]
        assert recorded["mixed_precision_choice"]["step_seconds"] == seconds
    # Trained in bfloat16 or not, the returned classifier computes in float32, as the restored and served one.
    assert keras.mixed_precision.global_policy().name == "float32"
    texts = ["good movie", "최악이고 지루한 영화"]
    np.testing.assert_allclose(
        result.classifier.predict_proba(texts), BertClassifier.load(tmp_path / "run").predict_proba(texts), atol=1e-6
    )
    assert f"--mixed-precision auto: {'mixed_bfloat16' if expected != 'no' else 'float32'}" in capsys.readouterr().out
    # A rerun with the same flags is the same run (auto resolves the same way), not "a different run".
    with pytest.raises(BertClsError, match="already holds this finished run"):
        train(config)


def test_precision_timing_is_measured_once_per_cpu_and_model(tmp_path, tiny_checkpoint, monkeypatch):
    from bert_cls.modeling.pretrained import resolve_checkpoint
    from bert_cls.training import precision_timing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    first = precision_timing.measured_choice(checkpoint.family, checkpoint.encoder_config(), 4)
    assert not first["cached"] and set(first["seconds"]) == {"float32", "mixed_bfloat16"}
    assert all(s > 0 for s in first["seconds"].values())
    assert first["choice"] == min(first["seconds"], key=first["seconds"].get)
    assert keras_policy() == "float32"  # the timing leaves the global policy as it found it
    again = precision_timing.measured_choice(checkpoint.family, checkpoint.encoder_config(), 4)
    assert again == {**first, "cached": True}
    assert precision_timing.cache_file().is_file()


def keras_policy() -> str:
    from bert_cls.modeling.keras_compat import keras

    return keras.mixed_precision.global_policy().name


def test_xla_trains_on_ids_and_saves_a_loadable_text_model(tmp_path, train_config):
    """--jit-compile moves tokenization into tf.data; the saved model still takes strings."""
    result = train(train_config(tmp_path / "run", epochs=1, jit_compile=True))
    restored = BertClassifier.load(tmp_path / "run")
    texts = ["good movie", "최악이고 지루한 영화"]
    np.testing.assert_allclose(restored.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-5)


def test_gpu_path_tokenizes_in_tf_data_with_the_length_tokenizer(tmp_path, train_config, monkeypatch):
    """On a GPU (simulated: the decision is forced) tf.data tokenizes with the tokenizer that measures lengths."""
    monkeypatch.setattr(run_lib, "tokenizes_in_pipeline", lambda config: True)
    result = train(train_config(tmp_path / "run", epochs=1))
    assert result.metrics["epochs_run"] == 1
    restored = BertClassifier.load(tmp_path / "run")
    texts = ["good movie", "최악이고 지루한 영화"]
    np.testing.assert_allclose(restored.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-5)


def test_three_steps_compose_to_train(tmp_path, train_config):
    """prepare once, then fit and report: what the tuner does for each trial."""
    data = run_lib.prepare_data(train_config(tmp_path / "a"))
    run = run_lib.prepare_run(train_config(tmp_path / "a", epochs=1), data)
    assert not run.resuming and run.state.epochs_finished == 0
    fitted = run_lib.fit_run(run)
    assert fitted.state.epochs_finished == 1 and fitted.state.best_weights == "weights/epoch-1"
    result = run_lib.report_run(run, fitted)
    assert result.metrics["epochs_run"] == 1 and (tmp_path / "a" / "metrics.json").is_file()


def _toy_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(rows)
    return path


def test_string_labels_and_a_validation_file_from_training_to_a_served_label(tmp_path, train_config, tiny_tsv):
    """CSV with string labels -> train with --validation-file -> export -> gRPC: the label is the name."""
    from bert_cls.data.files import read_dataset
    from bert_cls.serving.client import ServingClient
    from bert_cls.serving.export import export_classifier
    from bert_cls.serving.process import ServerProcess

    toy = read_dataset(tiny_tsv[0])
    rows = [(t, "pos" if y else "neg") for t, y in zip(toy.texts, toy.labels)]
    train_csv, val_csv = _toy_csv(tmp_path / "train.csv", rows[:90]), _toy_csv(tmp_path / "val.csv", rows[90:])
    columns = dict(text_column="text", label_column="sentiment", label_names=None)
    bad = _toy_csv(tmp_path / "bad.csv", rows[90:93] + [("good movie", "neutral")])
    with pytest.raises(BertClsError, match=r"bad\.csv:5: label 'neutral' is not one of the training data's classes \(neg, pos\)"):
        train(train_config(tmp_path / "x", train_file=str(train_csv), validation_file=str(bad), **columns))
    result = train(train_config(tmp_path / "run", train_file=str(train_csv), validation_file=str(val_csv), **columns))
    assert result.metrics["validation_examples"] == len(rows) - 90 and result.metrics["train_examples"] == 90
    assert result.classifier.config.label_names == ["neg", "pos"]
    assert list(result.metrics["validation"]["per_class"]) == ["neg", "pos"]
    export_classifier(BertClassifier.load(tmp_path / "run"), tmp_path / "export", model_name="toy", verify=False)
    with ServerProcess(tmp_path / "export", "toy") as server, ServingClient(server.address, "toy") as client:
        predictions = client.predict(["good movie", "최악이고 지루한 영화"])
    expected = result.classifier.predict_proba(["good movie", "최악이고 지루한 영화"]).argmax(-1)
    assert [p.label for p in predictions] == [["neg", "pos"][i] for i in expected]


def test_monitor_macro_f1_picks_the_best_epoch_by_it(tmp_path, train_config):
    result = train(train_config(tmp_path / "run", epochs=3, patience=3, monitor="val_macro_f1"))
    values = [r["val_macro_f1"] for r in result.history]
    state = RunState.load(tmp_path / "run")
    assert state.best_value == pytest.approx(max(values)) and state.best_epoch == int(np.argmax(values))
    assert result.metrics["validation"]["macro_f1"] == pytest.approx(max(values), abs=1e-6)


def test_class_weights_reach_the_loss(tmp_path, train_config):
    """Adam is scale-invariant, so weighting every class by 10 trains the same model with a 10x loss."""
    plain = train(train_config(tmp_path / "plain", epochs=1))
    weighted = train(train_config(tmp_path / "weighted", epochs=1, class_weight="negative=10,positive=10"))
    assert weighted.history[0]["loss"] == pytest.approx(10 * plain.history[0]["loss"], rel=1e-3)
    assert weighted.metrics["validation"]["accuracy"] == pytest.approx(plain.metrics["validation"]["accuracy"])


def test_class_weight_parsing(tiny_tsv, train_config, tmp_path):
    data = run_lib.load_training_data(train_config(tmp_path / "x"))[0]
    counts = data.class_counts()
    balanced = run_lib.parse_class_weight("balanced", data)
    assert balanced == pytest.approx({i: counts.sum() / (2 * c) for i, c in enumerate(counts)})
    assert run_lib.parse_class_weight("positive=3", data) == {0: 1.0, 1: 3.0}
    for spec, message in [
        ("neutral=2", "names from negative, positive"),
        ("positive=x", "is not a number"),
        ("positive=0", "must be positive"),
        ("heavy", "use 'balanced' or name=weight"),
    ]:
        with pytest.raises(BertClsError, match=message):
            run_lib.parse_class_weight(spec, data)


def test_a_run_started_by_an_older_version_still_resumes(tmp_path, train_config):
    """run_config.json without the flags added since (validation_file, format, ...) means their defaults."""
    config = train_config(tmp_path / "run", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[Kill(1)])
    old = json.loads((tmp_path / "run" / "run_config.json").read_text())
    for added in ("validation_file", "format", "quoting", "monitor", "class_weight", "max_steps"):
        del old[added]
    (tmp_path / "run" / "run_config.json").write_text(json.dumps(old))
    record = Record()
    train(config, extra_callbacks=[record])
    assert record.epochs == [1]
    with pytest.raises(BertClsError, match="differs in monitor"):
        train(train_config(tmp_path / "run", epochs=2, monitor="val_macro_f1", overwrite=False))


def test_tensorboard_logs_epoch_scalars_and_a_profile(tmp_path, train_config):
    train(train_config(tmp_path / "run", epochs=2, profile_steps="2,3"))
    logs = tmp_path / "run" / "logs"
    scalars = {}
    for split in ("train", "validation"):
        files = [str(p) for p in (logs / split).glob("events.out.tfevents.*")]
        scalars[split] = {
            value.tag for f in files for event in tf.compat.v1.train.summary_iterator(f) for value in event.summary.value
        }
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_examples_per_second"} <= scalars["train"]
    assert "epoch_loss" in scalars["validation"]
    traces = list((logs / "plugins" / "profile").rglob("*.xplane.pb"))
    assert traces, "no profiler trace for --profile-steps 2,3"
    with pytest.raises(BertClsError, match="--profile-steps must be two step numbers"):
        train_config(tmp_path / "x", profile_steps="5")


def test_optimizer_update_is_fused_only_where_it_pays():
    from bert_cls.modeling.keras_compat import keras
    from bert_cls.training.run import FUSED_UPDATE_MIN_PARAMETERS, fused_update

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("with a GPU Keras fuses the update itself")
    assert not keras.optimizers.AdamW().jit_compile  # Keras' own choice on a CPU
    assert not fused_update(keras.optimizers.AdamW(), FUSED_UPDATE_MIN_PARAMETERS - 1).jit_compile  # tiny models
    assert fused_update(keras.optimizers.AdamW(), FUSED_UPDATE_MIN_PARAMETERS).jit_compile  # MiniLM and up


def test_too_little_validation_data_is_refused_before_anything_is_written(tmp_path, train_config, write_tsv):
    two_rows = write_tsv(tmp_path / "two.tsv", [("좋다", 1), ("별로", 0)])
    with pytest.raises(BertClsError, match="the 1 validation rows hold no example of .* the 1 training rows have"):
        train(train_config(tmp_path / "a", train_file=str(two_rows)))
    one_row = tmp_path / "one.tsv"
    one_row.write_text("document\tlabel\n좋다\tfun,sad\n", encoding="utf-8")
    with pytest.raises(BertClsError, match=r"no validation rows \(training on 1, validating on 0\).*--validation-split"):
        train(train_config(tmp_path / "a", train_file=str(one_row), multi_label=True, label_names=None))
    rare = write_tsv(tmp_path / "rare.tsv", [("좋다", 1)] * 30 + [("별로", 0)])
    with pytest.raises(BertClsError, match="validation rows hold no example of negative"):
        train(train_config(tmp_path / "b", train_file=str(rare)))
    only_positive = write_tsv(tmp_path / "val.tsv", [("좋다", 1)] * 5)
    with pytest.raises(BertClsError, match=f"add rows of every class to {only_positive}"):
        train(train_config(tmp_path / "c", validation_file=str(only_positive)))
    assert not any((tmp_path / d).exists() for d in "abc")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(label_names="a,a"), "--label-names names a more than once"),
        (dict(label_names="a,,b"), "--label-names 'a,,b' has an empty name"),
        (dict(label_columns="x,y,x", multi_label=True), "--label-columns names x more than once"),
        (dict(warmup_ratio=float("nan")), "--warmup-ratio must be a finite number, got nan"),
        (dict(learning_rate=float("inf")), "--learning-rate must be a finite number, got inf"),
        (dict(weight_decay=-0.1), "--weight-decay must be at least 0.0"),
        (dict(epochs=99999999999999999999), "--epochs must be at most"),
        (dict(epochs=10_001), "--epochs must be at most 10000"),
        (dict(seed=2**64), "--seed must be at most"),
    ],
)
def test_bad_names_and_numbers_are_one_line_errors(tmp_path, train_config, overrides, message):
    with pytest.raises(BertClsError, match=message):
        train_config(tmp_path / "run", **overrides)


def test_numbers_past_their_range_are_refused_by_every_command(capsys):
    from bert_cls.cli import main

    for argv in (
        ["tune", "--learning-rate-max", "inf"],
        ["tune", "--dropout-min", "nan"],
        ["pretrain", "--output-dir", "x", "--train-file", "y", "--epochs", "inf"],
        ["serve", "--model-base-path", "x", "--port", "70000"],
        ["serve", "--model-base-path", "x", "--poll-seconds", "nan"],
        ["query", "--timeout", "inf", "x"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("finite" in err or "at most" in err), (argv, err)


@pytest.mark.parametrize("killed_at", [1, 2])
def test_a_resumed_run_reports_the_history_and_weights_of_an_uninterrupted_one(tmp_path, train_config, twin, killed_at):
    """Killed after an epoch's commit and rerun: history.csv equals an uninterrupted twin's column by column
    (training metrics, validation metrics, learning rate) and so do the final weights; dropout is on, and the
    next epoch's data order and dropout masks are the ones the twin drew."""
    config = train_config(tmp_path / "run", **TWIN)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[Kill(killed_at)])
    assert_same_run(train(config), tmp_path / "run", twin)


class PoisonWeights(keras.callbacks.Callback):
    """Sets a weight to NaN when an epoch begins: the loss of that epoch is not finite."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            weight = self.model.trainable_weights[-1]
            weight.assign(tf.fill(weight.shape, float("nan")))


def test_a_loss_that_stops_being_finite_stops_at_once_and_keeps_the_last_good_epoch(tmp_path, train_config):
    config = train_config(tmp_path / "run", epochs=3, patience=10)
    with pytest.raises(
        BertClsError,
        match=r"loss became nan at epoch 2, step 1, so training stopped: lower "
        r"--learning-rate .* the 1 finished epoch\(s\) before it are kept",
    ):
        train(config, extra_callbacks=[PoisonWeights(1)])
    assert RunState.load(tmp_path / "run").epochs_finished == 1 and _history_epochs(tmp_path / "run") == [1]
    assert not (tmp_path / "run" / "metrics.json").exists()
    json.loads((tmp_path / "run" / "train_state.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    with pytest.raises(BertClsError, match="at epoch 1, step 1.* no epoch finished"):
        train(train_config(tmp_path / "first", epochs=2), extra_callbacks=[PoisonWeights(0)])


def test_strict_json_names_the_value_it_cannot_write(tmp_path):
    from bert_cls.json_files import write_json

    with pytest.raises(BertClsError, match=r"cannot write \['validation'\]\['loss'\] as JSON"):
        write_json(tmp_path / "m.json", {"validation": {"accuracy": 0.5, "loss": float("inf")}})
    assert not (tmp_path / "m.json").exists()
