"""A training run's committed progress: ``train_state.json`` in its output directory.

The file is the run's single commit point (see ``training/callbacks.py``): an epoch is
finished exactly when this file says so. It holds the history rows, the best epoch and its
weights, early stopping's wait counter and the training checkpoint to resume from, and is
replaced atomically (write beside, then ``os.replace``). Light module: no TensorFlow, so
commands that only load a model can read it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

from bert_cls.json_files import write_json

STATE_FILE = "train_state.json"


@dataclasses.dataclass
class RunState:
    epochs_planned: int
    epochs_finished: int = 0
    history: list = dataclasses.field(default_factory=list)
    best_value: Optional[float] = None
    best_epoch: Optional[int] = None  # 0-based, as Keras counts
    best_weights: Optional[str] = None  # checkpoint prefix, relative to the output directory
    wait: int = 0  # epochs since the last improvement (early stopping's counter)
    backup: Optional[str] = None  # model + optimizer checkpoint prefix of the last finished epoch
    stopped_early: bool = False

    @property
    def done(self) -> bool:
        return self.stopped_early or self.epochs_finished >= self.epochs_planned

    def save(self, directory) -> None:
        """Atomically replaces ``directory/train_state.json``: the commit of a finished epoch."""
        write_json(Path(directory) / STATE_FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, directory) -> Optional["RunState"]:
        path = Path(directory) / STATE_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))
