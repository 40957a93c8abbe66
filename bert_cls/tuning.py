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

import csv
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Optional

from bert_cls.errors import BertClsError
from bert_cls.train import TrainConfig, arg_field, train

ALGORITHMS = ("random", "bayesian", "hyperband")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}
SEARCH_SPACE_FILE = "search_space.json"
TRIAL_SUMMARY = "trial_summary.json"


@dataclasses.dataclass
class TuneConfig:
    """Arguments of ``bert-cls tune`` beyond those of ``bert-cls train``."""

    tuning_dir: str = arg_field("bert-cls-tuning", "directory for the search state, trials and reports")
    project_name: str = arg_field("search", "subdirectory of --tuning-dir for this search")
    max_trials: int = arg_field(10, "trials to run (Hyperband sizes its brackets from --epochs instead)")
    algorithm: str = arg_field("random", "search algorithm", choices=list(ALGORITHMS))
    objective: str = arg_field("val_accuracy", "what to optimize on the validation split", choices=list(OBJECTIVES))
    learning_rate_min: float = arg_field(1e-5, "lower end of the log-scale learning-rate range")
    learning_rate_max: float = arg_field(1e-4, "upper end of the log-scale learning-rate range")
    dropout_min: float = arg_field(0.0, "lower end of the classifier-dropout range")
    dropout_max: float = arg_field(0.5, "upper end of the classifier-dropout range")
    export_dir: Optional[str] = arg_field(None, "export the best model as a new version under this TF Serving base path")
    model_name: str = arg_field("bert_cls", "model name written into the export's warm-up requests")
    retrain_best: bool = arg_field(False, "retrain the best hyperparameters on the whole training file before exporting")

    def validate(self) -> None:
        if self.max_trials < 1:
            raise BertClsError(f"--max-trials must be at least 1, got {self.max_trials}")
        if not 0 < self.learning_rate_min < self.learning_rate_max:
            raise BertClsError(
                f"learning-rate range [{self.learning_rate_min}, {self.learning_rate_max}] must be positive and increasing"
            )
        if not 0 <= self.dropout_min < self.dropout_max < 1:
            raise BertClsError(f"dropout range [{self.dropout_min}, {self.dropout_max}] must be increasing within [0, 1)")

    def search_space(self, train_config: TrainConfig) -> dict:
        """What a resumed search must share with the one on disk."""
        data = {k: v for k, v in train_config.fingerprint().items() if k not in ("learning_rate", "dropout", "epochs")}
        return {
            "algorithm": self.algorithm, "objective": self.objective,
            "learning_rate": [self.learning_rate_min, self.learning_rate_max],
            "dropout": [self.dropout_min, self.dropout_max], "training": data,
        }


def _hyperparameters(tune: TuneConfig):
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Float("learning_rate", tune.learning_rate_min, tune.learning_rate_max, sampling="log")
    hp.Float("dropout", tune.dropout_min, tune.dropout_max)
    return hp


def make_tuner(train_config: TrainConfig, tune: TuneConfig, overwrite: bool = False):
    import keras_tuner as kt
    from keras_tuner.engine import base_tuner  # public path of BaseTuner, the tuner without Keras model handling
    from keras_tuner.src import config as kt_config

    # A failed trial is reported in one line by run_trial; its traceback stays in the trial's trial.json.
    kt_config.DEBUG = False

    objective = kt.Objective(tune.objective, OBJECTIVES[tune.objective])
    common = dict(objective=objective, hyperparameters=_hyperparameters(tune), seed=train_config.seed,
                  max_consecutive_failed_trials=max(3, tune.max_trials))
    if tune.algorithm == "random":
        oracle = kt.oracles.RandomSearchOracle(max_trials=tune.max_trials, **common)
    elif tune.algorithm == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(max_trials=tune.max_trials, **common)
    elif tune.algorithm == "hyperband":
        oracle = kt.oracles.HyperbandOracle(max_epochs=train_config.epochs, factor=3, **common)
    else:
        raise BertClsError(f"unknown --algorithm {tune.algorithm!r}: use one of {', '.join(ALGORITHMS)}")

    class BertTuner(base_tuner.BaseTuner):
        """Runs each trial through ``bert_cls.train.train``."""

        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            config = dataclasses.replace(
                train_config,
                output_dir=str(Path(self.get_trial_dir(trial.trial_id)) / "model"),
                learning_rate=hp.get("learning_rate"),
                dropout=hp.get("dropout"),
                # Hyperband sets a per-bracket budget; the other algorithms train for --epochs.
                epochs=int(hp.values.get("tuner/epochs", train_config.epochs)),
            )
            summary_file = Path(self.get_trial_dir(trial.trial_id)) / TRIAL_SUMMARY
            if summary_file.is_file():  # a finished trial re-queued after a restart: report, don't retrain
                return json.loads(summary_file.read_text())["metrics"]
            started = time.perf_counter()
            try:
                result = train(config, evaluate_test=False)
            except BertClsError as exc:
                raise kt.errors.FatalError(str(exc)) from None
            except Exception as exc:  # e.g. out of memory: report, mark failed, go on with the next trial
                print(f"trial {trial.trial_id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                raise kt.errors.FailedTrialError(f"{type(exc).__name__}: {exc}") from None
            best = max(result.history, key=lambda r: r.get("val_accuracy", -1)) if result.history else {}
            metrics = {"val_accuracy": result.metrics["validation"]["accuracy"], "val_loss": best.get("val_loss", float("nan"))}
            summary = {"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "learning_rate": config.learning_rate,
                       "dropout": config.dropout, "epochs": config.epochs, "seconds": time.perf_counter() - started,
                       "metrics": metrics, "model_dir": config.output_dir}
            summary_file.write_text(json.dumps(summary, indent=2))
            return metrics

    return BertTuner(oracle=oracle, directory=tune.tuning_dir, project_name=tune.project_name, overwrite=overwrite)


def _check_search_space(project_dir: Path, space: dict, overwrite: bool) -> None:
    path = project_dir / SEARCH_SPACE_FILE
    if path.is_file() and not overwrite:
        previous = json.loads(path.read_text())
        if previous != space:
            changed = sorted(k for k in set(previous) | set(space) if previous.get(k) != space.get(k))
            raise BertClsError(
                f"{project_dir} holds a search with a different {', '.join(changed)}: "
                "use another --tuning-dir/--project-name, or --overwrite to start over"
            )


def collect_trials(tuner, objective: str) -> list:
    """One row per trial: hyperparameters, status, objective and seconds."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        summary_file = Path(tuner.get_trial_dir(trial_id)) / TRIAL_SUMMARY
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        value = trial.metrics.get_best_value(objective) if trial.metrics.exists(objective) else None
        rows.append({
            "trial_id": trial_id,
            "status": trial.status,
            "learning_rate": trial.hyperparameters.get("learning_rate"),
            "dropout": trial.hyperparameters.get("dropout"),
            "epochs": summary.get("epochs"),
            objective: value,
            "seconds": summary.get("seconds"),
            "tuner_id": summary.get("tuner_id"),
            "model_dir": summary.get("model_dir"),
        })
    return rows


def write_reports(rows: list, objective: str, project_dir: Path, best: Optional[dict]) -> dict:
    from bert_cls.plots import plot_trials

    fields = list(rows[0]) if rows else ["trial_id"]
    with open(project_dir / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (project_dir / "trials.json").write_text(json.dumps(rows, indent=2))
    if best is not None:
        (project_dir / "best_hyperparameters.json").write_text(json.dumps(best, indent=2))
    png = plot_trials(rows, objective, project_dir / "trials.png")
    return {"csv": str(project_dir / "trials.csv"), "json": str(project_dir / "trials.json"), "png": str(png),
            "best": str(project_dir / "best_hyperparameters.json")}


def format_table(rows: list, objective: str) -> str:
    header = f"{'trial':>6} {'status':>10} {'learning_rate':>14} {'dropout':>8} {objective:>13} {'seconds':>8}"
    lines = [header]
    for r in rows:
        value = f"{r[objective]:.4f}" if r[objective] is not None else "-"
        seconds = f"{r['seconds']:.0f}" if r["seconds"] is not None else "-"
        lines.append(f"{r['trial_id']:>6} {r['status']:>10} {r['learning_rate']:>14.3g} {r['dropout']:>8.3f} {value:>13} {seconds:>8}")
    return "\n".join(lines)


def tune(train_config: TrainConfig, tune_config: TuneConfig, overwrite: bool = False) -> dict:
    """Runs (or resumes) the search; returns the best trial, reports and, with ``export_dir``, the export."""
    import keras_tuner as kt

    tune_config.validate()
    # Fail fast on data/checkpoint problems, before any trial starts.
    from bert_cls.model import check_max_length
    from bert_cls.pretrained import resolve_checkpoint
    from bert_cls.train import load_training_data

    load_training_data(train_config)
    check_max_length(train_config.max_length, resolve_checkpoint(train_config.pretrained, train_config.cache_dir).bert_config())

    project_dir = Path(tune_config.tuning_dir) / tune_config.project_name
    space = tune_config.search_space(train_config)
    _check_search_space(project_dir, space, overwrite)
    tuner = make_tuner(train_config, tune_config, overwrite=overwrite)
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / SEARCH_SPACE_FILE).write_text(json.dumps(space, indent=2))
    try:
        tuner.search()
    except kt.errors.FatalError as exc:
        raise BertClsError(f"search stopped: {exc}") from None
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return {"worker": os.environ["KERASTUNER_TUNER_ID"]}

    rows = collect_trials(tuner, tune_config.objective)
    done = [r for r in rows if r[tune_config.objective] is not None]
    if not done:
        raise BertClsError(f"no trial finished (see {project_dir}); fix the failure reported above and rerun")
    pick = max if OBJECTIVES[tune_config.objective] == "max" else min
    best = pick(done, key=lambda r: r[tune_config.objective])
    best_hp = {"trial_id": best["trial_id"], "learning_rate": best["learning_rate"], "dropout": best["dropout"],
               "objective": tune_config.objective, "value": best[tune_config.objective], "model_dir": best["model_dir"]}
    reports = write_reports(rows, tune_config.objective, project_dir, best_hp)
    print(format_table(rows, tune_config.objective))
    print(f"best: trial {best['trial_id']} learning_rate={best['learning_rate']:.3g} dropout={best['dropout']:.3f} "
          f"{tune_config.objective}={best[tune_config.objective]:.4f}")
    outcome = {"best": best_hp, "trials": rows, "reports": reports}
    if tune_config.export_dir:
        outcome["export"] = export_best(train_config, tune_config, best_hp, project_dir)
    return outcome


def export_best(train_config: TrainConfig, tune_config: TuneConfig, best_hp: dict, project_dir: Path) -> dict:
    from bert_cls.export import export_classifier
    from bert_cls.model import BertClassifier

    model_dir = best_hp["model_dir"]
    if tune_config.retrain_best:
        retrained = dataclasses.replace(
            train_config, output_dir=str(project_dir / f"best_retrained_trial_{best_hp['trial_id']}"),
            learning_rate=best_hp["learning_rate"], dropout=best_hp["dropout"], max_train_samples=None,
        )
        print(f"retraining trial {best_hp['trial_id']}'s hyperparameters on the whole training file", flush=True)
        model_dir = str(train(retrained).output_dir)
    report = export_classifier(BertClassifier.load(model_dir), tune_config.export_dir, model_name=tune_config.model_name)
    print(f"exported the best model as version {report['version']} to {report['path']}")
    return report


def cmd_tune(args) -> int:
    from bert_cls.cli import dataclass_from_args

    train_config = dataclass_from_args(TrainConfig, args, output_dir="(per trial)")
    tune_config = dataclass_from_args(TuneConfig, args)
    tune(train_config, tune_config, overwrite=args.overwrite)
    return 0


def register_cli(sub) -> None:
    from bert_cls.cli import add_dataclass_arguments

    p = sub.add_parser(
        "tune", help="Keras Tuner search over learning rate and dropout; export the best model",
        description="Searches learning rate (log scale) and classifier dropout with Keras Tuner, each trial "
        "running `bert-cls train`'s training. Rerunning the same command resumes the search. "
        "Distributed: set KERASTUNER_TUNER_ID (chief/tuner0/...), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
    )
    add_dataclass_arguments(p, TrainConfig, skip=("output_dir", "learning_rate", "dropout"))
    add_dataclass_arguments(p, TuneConfig)
    p.add_argument("--overwrite", action="store_true", help="discard a previous search in the same directory")
    p.set_defaults(func=cmd_tune)
