"""Keras Tuner search over learning rate and classifier dropout, and export of the best model.

keras-tuner 1.4 is built on Keras 3 and rejects ``tf_keras`` models in its
build/fit path, so ``BertTuner`` subclasses ``keras_tuner.BaseTuner`` and
overrides ``run_trial``, the documented extension point: it reads the trial's
hyperparameters, calls the same ``train()`` as ``bert-cls train`` and returns
the metrics dict. Random search, Bayesian optimization and Hyperband oracles,
resumable searches and Keras Tuner's distributed mode (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``) all come from Keras Tuner.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import keras_tuner as kt
from keras_tuner.engine import base_tuner  # public path of BaseTuner, the tuner without Keras model handling
from keras_tuner.src import config as kt_config

from bert_cls.errors import BertClsError, warn
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier, read_check_texts
from bert_cls.serving.export import export_classifier
from bert_cls.training.config import TrainConfig
from bert_cls.training.run import PreparedData, prepare_data, train
from bert_cls.tuning.config import OBJECTIVES, TuneConfig
from bert_cls.tuning.report import TRIAL_SUMMARY, collect_trials, few_rows_warning, format_table, noise_note, write_reports

SEARCH_SPACE_FILE = "search_space.json"


def _hyperparameters(tune: TuneConfig):
    hp = kt.HyperParameters()
    hp.Float("learning_rate", tune.learning_rate_min, tune.learning_rate_max, sampling="log")
    hp.Float("dropout", tune.dropout_min, tune.dropout_max)
    return hp


class BertTuner(base_tuner.BaseTuner):
    """Runs each trial through ``bert_cls.training.run.train`` on data prepared once per search."""

    def __init__(self, train_config: TrainConfig, data: PreparedData, **kwargs):
        super().__init__(**kwargs)
        self.train_config, self.data = train_config, data

    def run_trial(self, trial, *args, **kwargs):
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        summary_file = trial_dir / TRIAL_SUMMARY
        if summary_file.is_file():  # a finished trial re-queued after a restart: report, don't retrain
            return json.loads(summary_file.read_text())["metrics"]
        hp = trial.hyperparameters
        config = dataclasses.replace(
            self.train_config,
            output_dir=str(trial_dir / "model"),
            learning_rate=hp.get("learning_rate"),
            dropout=hp.get("dropout"),
            # Hyperband sets a per-bracket budget; the other algorithms train for --epochs.
            epochs=int(hp.values.get("tuner/epochs", self.train_config.epochs)),
        )
        started = time.perf_counter()
        try:
            result = train(config, data=self.data, evaluate_test=False)
        except BertClsError as exc:
            raise kt.errors.FatalError(str(exc)) from None
        except Exception as exc:  # e.g. out of memory: report, mark failed, go on with the next trial
            print(f"trial {trial.trial_id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            raise kt.errors.FailedTrialError(f"{type(exc).__name__}: {exc}") from None
        best = max(result.history, key=lambda r: r.get(config.monitor, -1)) if result.history else {}
        validation = result.metrics["validation"]
        metrics = {
            "val_accuracy": validation["accuracy"],
            "val_macro_f1": validation["macro_f1"],
            "val_loss": best.get("val_loss", float("nan")),
        }
        if "micro_f1" in validation:  # multi-label
            metrics["val_micro_f1"] = validation["micro_f1"]
        summary = {
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "learning_rate": config.learning_rate,
            "dropout": config.dropout,
            "epochs": config.epochs,
            "seconds": time.perf_counter() - started,
            "metrics": metrics,
            "model_dir": config.output_dir,
        }
        write_json(summary_file, summary)
        return metrics


def make_oracle(train_config: TrainConfig, tune: TuneConfig):
    objective = kt.Objective(tune.objective, OBJECTIVES[tune.objective])
    common = dict(
        objective=objective,
        hyperparameters=_hyperparameters(tune),
        seed=train_config.seed,
        max_consecutive_failed_trials=max(3, tune.max_trials),
    )
    if tune.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=tune.max_trials, **common)
    if tune.algorithm == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=train_config.epochs, factor=3, **common)
    return kt.oracles.RandomSearchOracle(max_trials=tune.max_trials, **common)


def make_tuner(train_config: TrainConfig, tune: TuneConfig, data: PreparedData) -> BertTuner:
    # A failed trial is reported in one line by run_trial; its traceback stays in the trial's trial.json.
    kt_config.DEBUG = False
    return BertTuner(
        train_config,
        data,
        oracle=make_oracle(train_config, tune),
        directory=tune.tuning_dir,
        project_name=tune.project_name,
        overwrite=tune.overwrite,
    )


def _check_search_space(project_dir: Path, space: dict, overwrite: bool) -> None:
    path = project_dir / SEARCH_SPACE_FILE
    if path.is_file() and not overwrite:
        previous = json.loads(path.read_text())
        if isinstance(previous.get("training"), dict):
            previous["training"] = TrainConfig.completed_fingerprint(previous["training"], space["training"])
        if previous != space:
            changed = sorted(k for k in set(previous) | set(space) if previous.get(k) != space.get(k))
            raise BertClsError(
                f"{project_dir} holds a search with a different {', '.join(changed)}: "
                "use another --tuning-dir/--project-name, or --overwrite to start over"
            )


def tune(train_config: TrainConfig, tune_config: TuneConfig) -> dict:
    """Runs (or resumes) the search; returns the best trial, reports and, with ``export_dir``, the export."""
    tune_config = dataclasses.replace(tune_config, objective=tune_config.objective_for(train_config))
    data = prepare_data(train_config)  # once for every trial; fails fast on data/checkpoint problems
    validation_rows = len(data.validation)
    if few_rows_warning(validation_rows):
        warn(few_rows_warning(validation_rows))
    project_dir = Path(tune_config.tuning_dir) / tune_config.project_name
    space = tune_config.search_space(train_config)
    _check_search_space(project_dir, space, tune_config.overwrite)
    tuner = make_tuner(train_config, tune_config, data)
    project_dir.mkdir(parents=True, exist_ok=True)
    write_json(project_dir / SEARCH_SPACE_FILE, space)
    try:
        tuner.search()
    except kt.errors.FatalError as exc:
        raise BertClsError(f"search stopped: {exc}") from None
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return {"worker": os.environ["KERASTUNER_TUNER_ID"]}

    rows = collect_trials(tuner, tune_config.objective, validation_rows)
    done = [r for r in rows if r[tune_config.objective] is not None]
    if not done:
        raise BertClsError(f"no trial finished (see {project_dir}); fix the failure reported above and rerun")
    ranked = sorted(done, key=lambda r: r[tune_config.objective], reverse=OBJECTIVES[tune_config.objective] == "max")
    best = ranked[0]
    best_hp = {
        "trial_id": best["trial_id"],
        "learning_rate": best["learning_rate"],
        "dropout": best["dropout"],
        "objective": tune_config.objective,
        "value": best[tune_config.objective],
        "model_dir": best["model_dir"],
    }
    reports = write_reports(rows, tune_config.objective, project_dir, best_hp)
    print(format_table(rows, tune_config.objective))
    print(
        f"best: trial {best['trial_id']} learning_rate={best['learning_rate']:.3g} dropout={best['dropout']:.3f} "
        f"{tune_config.objective}={best[tune_config.objective]:.4f}"
    )
    note = noise_note(ranked, validation_rows)
    if note:
        print(note)
    outcome = {"best": best_hp, "trials": rows, "reports": reports}
    if tune_config.export_dir:
        outcome["export"] = export_best(train_config, tune_config, best_hp, project_dir)
    return outcome


def export_best(train_config: TrainConfig, tune_config: TuneConfig, best_hp: dict, project_dir: Path) -> dict:
    model_dir = best_hp["model_dir"]
    if tune_config.retrain_best:
        retrained = dataclasses.replace(
            train_config,
            output_dir=str(project_dir / f"best_retrained_trial_{best_hp['trial_id']}"),
            learning_rate=best_hp["learning_rate"],
            dropout=best_hp["dropout"],
            max_train_samples=None,
        )
        print(f"retraining trial {best_hp['trial_id']}'s hyperparameters on the whole training file", flush=True)
        model_dir = str(train(retrained).output_dir)
    report = export_classifier(
        BertClassifier.load(model_dir),
        tune_config.export_dir,
        model_name=tune_config.model_name,
        precision=tune_config.precision,
        check_texts=read_check_texts(model_dir),
    )
    print(f"exported the best model as version {report['version']} to {report['path']} ({report['precision']['precision']})")
    return report
