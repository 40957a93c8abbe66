"""Config of ``bert-cls tune`` beyond ``TrainConfig``'s fields (light: no TensorFlow or Keras Tuner)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg
from bert_cls.errors import BertClsError
from bert_cls.serving.contract import DEFAULT_MODEL_NAME
from bert_cls.training.config import TrainConfig

ALGORITHMS = ("random", "bayesian", "hyperband")
OBJECTIVES = {"val_accuracy": "max", "val_macro_f1": "max", "val_micro_f1": "max", "val_loss": "min"}
# TrainConfig fields a search sets per trial (or not at all), so `bert-cls tune` has no flag for them.
PER_TRIAL_FIELDS = ("output_dir", "learning_rate", "dropout", "overwrite")


@dataclasses.dataclass
class TuneConfig(cfg.Config):
    """Arguments of ``bert-cls tune`` beyond those of ``bert-cls train``."""

    tuning_dir: str = arg("bert-cls-tuning", "directory for the search state, trials and reports")
    project_name: str = arg("search", "subdirectory of --tuning-dir for this search")
    max_trials: int = arg(10, "trials to run (Hyperband sizes its brackets from --epochs instead)", check=cfg.at_least(1))
    algorithm: str = arg("random", "search algorithm", choices=list(ALGORITHMS))
    objective: Optional[str] = arg(
        None, "what to optimize on the validation split (default: train's --monitor)", choices=list(OBJECTIVES)
    )
    learning_rate_min: float = arg(1e-5, "lower end of the log-scale learning-rate range")
    learning_rate_max: float = arg(1e-4, "upper end of the log-scale learning-rate range")
    dropout_min: float = arg(0.0, "lower end of the classifier-dropout range")
    dropout_max: float = arg(0.5, "upper end of the classifier-dropout range")
    export_dir: Optional[str] = arg(None, "export the best model as a new version under this TF Serving base path")
    model_name: str = cfg.model_name(DEFAULT_MODEL_NAME)
    precision: str = cfg.export_precision()
    retrain_best: bool = arg(False, "retrain the best hyperparameters on the whole training file before exporting")
    overwrite: bool = cfg.overwrite("a previous search in the same directory")

    def __post_init__(self):
        super().__post_init__()
        if self.algorithm not in ALGORITHMS:
            raise BertClsError(f"unknown --algorithm {self.algorithm!r}: use one of {', '.join(ALGORITHMS)}")
        if not 0 < self.learning_rate_min < self.learning_rate_max:
            raise BertClsError(
                f"learning-rate range [{self.learning_rate_min}, {self.learning_rate_max}] must be positive and increasing"
            )
        if not 0 <= self.dropout_min < self.dropout_max < 1:
            raise BertClsError(f"dropout range [{self.dropout_min}, {self.dropout_max}] must be increasing within [0, 1)")

    def objective_for(self, train_config: TrainConfig) -> str:
        """``--objective``, or what training's ``--monitor`` follows (val_micro_f1 for multi-label data)."""
        if self.objective == "val_micro_f1" and not train_config.multi_label:
            raise BertClsError("--objective val_micro_f1 is for --multi-label data: use val_accuracy or val_macro_f1")
        return self.objective or train_config.monitor

    def search_space(self, train_config: TrainConfig) -> dict:
        """What a resumed search must share with the one on disk."""
        data = {k: v for k, v in train_config.fingerprint().items() if k not in ("learning_rate", "dropout", "epochs")}
        return {
            "algorithm": self.algorithm,
            "objective": self.objective_for(train_config),
            "learning_rate": [self.learning_rate_min, self.learning_rate_max],
            "dropout": [self.dropout_min, self.dropout_max],
            "training": data,
        }
