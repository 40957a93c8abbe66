"""Training callbacks: throughput, and the per-epoch commit that makes resuming exact.

Keras' own ``CSVLogger``, ``ModelCheckpoint``, ``EarlyStopping`` and ``BackupAndRestore``
each write their own file at their own moment, so a run killed between two of them
resumes inconsistently (a ``history.csv`` row for an epoch that is then redone, a patience
counter back at zero). ``EpochCommit`` does their four jobs with one commit point instead:

1. the model and optimizer state go to ``backup/epoch-N`` (a new checkpoint: the last
   committed one stays intact);
2. if the monitored value improved, the weights go to ``weights/epoch-N``;
3. ``train_state.json`` is replaced atomically: the epoch is now finished;
4. ``history.csv`` is rewritten from the state and checkpoints of older epochs are deleted.

Killed before step 3, the epoch is redone from the previous backup and leaves no trace;
killed after it, the run resumes at the next epoch and step 4 is repeated. An epoch whose loss or metrics are
not finite stops training at once and is not committed (``EpochCommit.diverged`` says where).
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np

from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.training import dropout_seeds
from bert_cls.training.state import RunState

HISTORY_CSV = "history.csv"
BACKUP_DIR = "backup"
EPOCH_WEIGHTS_DIR = "weights"


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's randomness (data order, dropout): a function of the run's seed and the epoch only,
    so a resumed epoch draws what it would have drawn in the uninterrupted run."""
    return dropout_seeds.derived_seed(seed, epoch)


class EpochSeed(keras.callbacks.Callback):
    """Dropout's draws as a function of (seed, epoch), so a resumed epoch draws what the uninterrupted run did.

    Each Keras dropout layer draws from a generator of its own, reset at each epoch's start
    (:mod:`bert_cls.training.dropout_seeds`): the training step is traced once. A model with layers that draw
    through TensorFlow's legacy stateful ops (DeBERTa-v2) instead gets the global seed set from ``epoch_seed``
    and its training step retraced each epoch, since those ops keep their position in the traced kernels."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self.dropouts, self.legacy = [], False

    def on_train_begin(self, logs=None):
        self.dropouts, self.legacy = dropout_seeds.prepare(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        dropout_seeds.reset(self.dropouts, self.seed, epoch)
        if self.legacy:
            tf.random.set_seed(epoch_seed(self.seed, epoch))
            self.model.train_function = self.model.make_train_function(force=True)


class Throughput(keras.callbacks.Callback):
    """Adds ``examples_per_second`` (training steps only, validation excluded) to the epoch logs."""

    def __init__(self, num_examples: int):
        super().__init__()
        self.num_examples = num_examples

    def on_epoch_begin(self, epoch, logs=None):
        self.start = self.last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["examples_per_second"] = self.num_examples / max(self.last - self.start, 1e-9)


def write_history_csv(rows: list, path: Path, key: str = "epoch") -> None:
    """``history.csv`` (one row per finished epoch, or per ``key``), replaced atomically."""
    fields = [key] + sorted({k for row in rows for k in row if k != key})
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


class EpochCommit(keras.callbacks.Callback):
    """Best checkpoint, early stopping, backup and history in one atomic commit per epoch.

    Args:
        directory: where this worker writes (the output directory on the chief).
        state: the committed state to continue from (a fresh ``RunState`` for a new run).
        weights_model: the model whose weights are "the classifier" (``text_model``).
        checkpoint: a ``tf.train.Checkpoint`` of the fitted model and its optimizer.
        monitor, patience: as ``EarlyStopping``'s (mode max).
    """

    def __init__(self, directory, state: RunState, weights_model, checkpoint, monitor="val_accuracy", patience=2):
        super().__init__()
        self.directory, self.state = Path(directory), state
        self.weights_model, self.checkpoint = weights_model, checkpoint
        self.monitor, self.patience = monitor, patience
        self.epoch = 0
        self.diverged = None  # (epoch, step or None, loss) where the loss stopped being finite

    def on_train_batch_end(self, batch, logs=None):
        # Keras' TerminateOnNaN, with the step remembered and no commit of the epoch: stop at once.
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss) and self.diverged is None:
            self.diverged = (self.epoch, batch + 1, float(loss))
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.diverged is not None or not all(np.isfinite(np.asarray(v)).all() for v in logs.values()):
            self.diverged = self.diverged or (epoch, None, float(logs.get("loss", np.nan)))
            self.model.stop_training = True
            return  # a non-finite epoch is never committed: the last good one stays the run's state
        state, out = self.state, self.directory
        backup = f"{BACKUP_DIR}/epoch-{epoch + 1}"
        self.checkpoint.write(str(out / backup))  # 1
        current = logs.get(self.monitor)
        improved = current is not None and (state.best_value is None or current > state.best_value)
        if improved:
            weights = f"{EPOCH_WEIGHTS_DIR}/epoch-{epoch + 1}"
            self.weights_model.save_weights(str(out / weights))  # 2
            state.best_value, state.best_epoch, state.best_weights, state.wait = float(current), epoch, weights, 0
        else:
            state.wait += 1
        row = {"epoch": epoch, **{k: float(np.asarray(v)) for k, v in logs.items()}}
        state.history = [r for r in state.history if r["epoch"] != epoch] + [row]
        state.epochs_finished, state.backup = epoch + 1, backup
        state.stopped_early = state.wait >= self.patience and state.epochs_finished < state.epochs_planned
        state.save(out)  # 3: the commit
        self.finish_commit()  # 4
        if state.stopped_early:
            self.model.stop_training = True

    def finish_commit(self) -> None:
        """Step 4, also run on resume: history from the state; checkpoints the state does not name deleted."""
        # Epochs numbered from 1 in the file, as Keras prints them ("Epoch 1/3"); the state keeps Keras' 0-based index.
        write_history_csv([{**row, "epoch": row["epoch"] + 1} for row in self.state.history], self.directory / HISTORY_CSV)
        keep = {self.state.backup, self.state.best_weights}
        for path in [*(self.directory / BACKUP_DIR).glob("epoch-*"), *(self.directory / EPOCH_WEIGHTS_DIR).glob("epoch-*")]:
            prefix = f"{path.parent.name}/{path.name.split('.')[0]}"
            if prefix not in keep:
                path.unlink(missing_ok=True)

    def restore(self) -> None:
        """Model and optimizer as the last committed epoch left them."""
        if self.state.backup:
            self.checkpoint.read(str(self.directory / self.state.backup)).assert_existing_objects_matched()


def remove_training_checkpoints(directory: Path) -> None:
    """After the final save: the backups and per-epoch weights are no longer needed."""
    shutil.rmtree(directory / BACKUP_DIR, ignore_errors=True)
    for path in (directory / EPOCH_WEIGHTS_DIR).glob("epoch-*"):
        path.unlink(missing_ok=True)
