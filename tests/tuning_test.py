import functools
import json
import os
import subprocess
import sys
import time

import pytest

from bert_cls.errors import BertClsError
from bert_cls.tuning import tuner as tuning
from bert_cls.tuning.config import TuneConfig


@pytest.fixture
def configs(tmp_path, train_config):
    """``configs(**tune_overrides)``: (TrainConfig, TuneConfig) of a small search on the tiny task."""

    def make(**tune_overrides):
        values = dict(tuning_dir=str(tmp_path / "tuning"), max_trials=3, learning_rate_min=1e-4, learning_rate_max=3e-3)
        values.update(tune_overrides)
        return train_config("(per trial)", epochs=1), TuneConfig(**values)

    return make


@pytest.mark.slow
def test_three_trial_search_picks_the_best_and_hyperparameters_reach_the_model(tmp_path, configs, monkeypatch):
    from bert_cls.training import run as run_lib

    seen, optimizers = [], []
    real_train, real_make_optimizer = tuning.train, run_lib.make_optimizer

    def recording_make_optimizer(*args):  # the optimizer the trial trains with
        optimizers.append(real_make_optimizer(*args))
        return optimizers[-1]

    def recording_train(config, *args, **kwargs):
        result = real_train(config, *args, **kwargs)
        seen.append(
            {
                "learning_rate": config.learning_rate,
                "peak_in_optimizer": optimizers[-1]._learning_rate.peak,  # the schedule; .learning_rate is its current value
                "dropout": config.dropout,
                "dropout_in_layer": result.classifier.dropout_layer.rate,
            }
        )
        return result

    monkeypatch.setattr(tuning, "train", recording_train)
    monkeypatch.setattr(run_lib, "make_optimizer", recording_make_optimizer)
    # export_test runs the export check; here the best model only has to land as version 1
    monkeypatch.setattr(tuning, "export_classifier", functools.partial(tuning.export_classifier, verify=False))
    train_config, tune_config = configs(export_dir=str(tmp_path / "export"))
    outcome = tuning.tune(train_config, tune_config)

    assert len(seen) == 3
    assert len({s["learning_rate"] for s in seen}) == 3  # three different points were tried
    for s in seen:
        assert s["peak_in_optimizer"] == pytest.approx(s["learning_rate"])
        assert s["dropout_in_layer"] == pytest.approx(s["dropout"])
        assert 1e-4 <= s["learning_rate"] <= 3e-3 and 0 <= s["dropout"] <= 0.5
    rows = outcome["trials"]
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)
    assert outcome["best"]["value"] == max(r["val_accuracy"] for r in rows)
    project = tmp_path / "tuning" / "search"
    best = json.loads((project / "best_hyperparameters.json").read_text())
    assert best["trial_id"] == outcome["best"]["trial_id"]
    assert len(json.loads((project / "trials.json").read_text())) == 3
    assert (project / "trials.csv").read_text().count("\n") == 4
    header = (project / "trials.csv").read_text().splitlines()[0].split(",")
    assert "val_accuracy_se" in header and "validation_rows" in header
    assert all(r["val_accuracy_se"] is not None and r["validation_rows"] > 0 for r in rows)
    assert (project / "trials.png").stat().st_size > 1000
    assert outcome["export"]["version"] == 1 and (tmp_path / "export" / "1" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_interrupted_search_resumes_with_the_remaining_trials(configs, monkeypatch):
    calls = []
    real_train = tuning.train

    def flaky_train(config, *args, **kwargs):
        calls.append(config.output_dir)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second trial
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(tuning, "train", flaky_train)
    train_config, tune_config = configs()
    with pytest.raises(KeyboardInterrupt):
        tuning.tune(train_config, tune_config)
    first_trial_dir = calls[0]
    outcome = tuning.tune(train_config, tune_config)
    assert calls.count(first_trial_dir) == 1  # the finished trial was not redone
    assert len([r for r in outcome["trials"] if r["status"] == "COMPLETED"]) == 3


@pytest.mark.slow
def test_failed_trial_is_reported_and_the_search_goes_on(configs, monkeypatch, capsys):
    from bert_cls.modeling.keras_compat import tf

    real_train = tuning.train
    calls = []

    def oom_once(config, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(tuning, "train", oom_once)
    outcome = tuning.tune(*configs())
    statuses = sorted(r["status"] for r in outcome["trials"])
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED"]
    assert "failed: ResourceExhaustedError" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(max_trials=0), "--max-trials must be at least 1"),
        (dict(learning_rate_min=1e-3, learning_rate_max=1e-5), "learning-rate range"),
        (dict(learning_rate_min=0.0), "learning-rate range"),
        (dict(dropout_min=0.6, dropout_max=0.5), "dropout range"),
        (dict(algorithm="grid"), "unknown --algorithm"),
    ],
)
def test_bad_search_settings(configs, overrides, message):
    with pytest.raises(BertClsError, match=message):
        tuning.tune(*configs(max_trials=overrides.pop("max_trials", 1), **overrides))


def test_tuning_dir_from_another_search_space(configs):
    train_config, tune_config = configs(max_trials=1)
    tuning.tune(train_config, tune_config)
    _, other = configs(max_trials=1, dropout_max=0.3)
    with pytest.raises(BertClsError, match="different dropout"):
        tuning.tune(train_config, other)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_other_algorithms_run(configs, algorithm):
    train_config, tune_config = configs(max_trials=2, algorithm=algorithm)
    outcome = tuning.tune(train_config, tune_config)
    assert any(r["status"] == "COMPLETED" for r in outcome["trials"])


@pytest.mark.slow
def test_distributed_chief_and_two_workers(tmp_path, tiny_tsv, tiny_checkpoint):
    """Keras Tuner's own distributed mode: one chief oracle and two workers on loopback."""
    from bert_cls.serving.process import free_port

    port = free_port()
    args = [
        sys.executable,
        "-m",
        "bert_cls",
        "tune",
        "--train-file",
        str(tiny_tsv[0]),
        "--pretrained",
        str(tiny_checkpoint),
        "--label-names",
        "negative,positive",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-length",
        "16",
        "--max-trials",
        "4",
        "--tuning-dir",
        str(tmp_path / "tuning"),
        "--verbose",
        "0",
    ]
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    output = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chief = subprocess.Popen(args, env={**env, "KERASTUNER_TUNER_ID": "chief"}, **output)
    workers = [subprocess.Popen(args, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, **output) for i in range(2)]
    try:
        deadline = time.monotonic() + 400
        while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
            # a chief that dies leaves the workers waiting for its oracle: fail at once, with what it printed
            if chief.poll() is not None and chief.returncode != 0:
                pytest.fail(f"the chief exited with {chief.returncode}: {chief.communicate()[0][-3000:]}")
            time.sleep(1)
        for worker in workers:
            out, _ = worker.communicate(timeout=10)
            assert worker.returncode == 0, out[-2000:]
        out, _ = chief.communicate(timeout=120)
        assert chief.returncode == 0, out[-2000:]
    finally:
        for process in [chief, *workers]:
            process.kill()
    project = tmp_path / "tuning" / "search"
    summaries = [json.loads(p.read_text()) for p in project.glob("trial_*/trial_summary.json")]
    assert len(summaries) == 4
    assert {s["tuner_id"] for s in summaries} == {"tuner0", "tuner1"}  # both workers ran trials
    assert len({s["trial_id"] for s in summaries}) == 4  # and no trial ran twice
    oracle = json.loads((project / "oracle.json").read_text())
    assert len(oracle["end_order"]) == 4  # the chief's oracle holds every result


def test_objective_follows_the_monitor_unless_given(configs, train_config):
    _, tune_config = configs()
    macro = train_config("(per trial)", monitor="val_macro_f1")
    assert tune_config.objective_for(macro) == "val_macro_f1"
    assert tune_config.search_space(macro)["objective"] == "val_macro_f1"
    assert TuneConfig(objective="val_loss").objective_for(macro) == "val_loss"
