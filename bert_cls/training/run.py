"""A training run in three steps: prepare, fit, report. ``train()`` is the three in a row.

* ``prepare_data``: the validated datasets and the pretrained checkpoint (shared by every
  trial of a search: the tuner calls it once).
* ``prepare_run``: the output directory (new, or the committed state of an interrupted run).
* ``fit_run``: strategy, model, ``tf.data`` pipelines, callbacks, ``fit``, best weights.
* ``report_run``: evaluation, plots and ``metrics.json``.

An output directory holds a loadable model (``classifier_config.json``, ``vocab.txt``,
``weights/``), ``run_config.json``, ``train_state.json``, ``history.csv``,
``training_curves.png``, ``metrics.json`` and TensorBoard logs in ``logs/``. Rerunning a killed run's command resumes
it from its last committed epoch (see ``training/callbacks.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import platform
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from bert_cls import hardware
from bert_cls.config import progress_verbosity
from bert_cls.data import files as data_files
from bert_cls.data import pipeline, stream
from bert_cls.data.columns import Columns
from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.training import precision_timing
from bert_cls.training.adamw import AdamW
from bert_cls.modeling.classifier import CHECK_TEXTS, BertClassifier, check_max_length, write_check_texts
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import Checkpoint, resolve_checkpoint
from bert_cls.modeling.schedules import WarmupLinearDecay
from bert_cls.modeling.tokenizer import XLA_PAD_MULTIPLE
from bert_cls.training import callbacks as callbacks_lib
from bert_cls.training.config import RUN_CONFIG, METRICS_JSON, TrainConfig
from bert_cls.training.evaluate import dataset_metrics, evaluate_dataset, predict_dataset
from bert_cls.training.macro_f1 import MacroF1
from bert_cls.training.metrics import tune_thresholds
from bert_cls.training.multi_label_f1 import MultiLabelF1, SubsetAccuracy
from bert_cls.training.plots import plot_history
from bert_cls.training.state import RunState

CURVES_PNG = "training_curves.png"
LOGS_DIR = "logs"  # TensorBoard: `tensorboard --logdir runs/`


@dataclasses.dataclass
class PreparedData:
    """Datasets and checkpoint of a config: what every trial of a search shares."""

    train: stream.FileDataset
    validation: stream.FileDataset
    test: Optional[stream.FileDataset]
    checkpoint: Checkpoint
    class_weight: Optional[dict] = None  # class id -> loss weight


@dataclasses.dataclass
class PreparedRun:
    config: TrainConfig
    data: PreparedData
    output_dir: Path
    state: RunState
    resuming: bool


@dataclasses.dataclass
class FittedRun:
    classifier: BertClassifier
    state: RunState
    chief: bool
    write_dir: Path  # where this worker committed its epochs (the output directory on the chief)
    train_seconds: float


@dataclasses.dataclass
class TrainResult:
    metrics: dict
    output_dir: Path
    classifier: object = None
    history: list = dataclasses.field(default_factory=list)


# ---- 1. prepare --------------------------------------------------------------------------------------


def load_training_data(config: TrainConfig):
    """(train, validation, test-or-None) datasets for a config, with the same split every time.

    Nothing is held in memory but counts: each dataset reads its files again on every pass
    (``bert_cls.data.stream``).
    """
    train_file, test_file, default_names = data_files.resolve_data_files(
        config.data, config.train_file, config.test_file, config.cache_dir or data_files.DEFAULT_CACHE_DIR
    )
    columns = Columns.of(config)
    census = stream.count_files(train_file, columns, label_names=config.parsed_label_names() or default_names)
    present = np.flatnonzero(census.class_counts)
    if len(present) < 2 and not census.multi_label:
        raise BertClsError(f"{train_file} has a single class ({census.label_names[present[0]]}): a classifier needs at least two")
    full = stream.FileDataset.everything(census, columns)
    if config.max_train_samples:
        full = full.sample(config.max_train_samples, config.seed)

    def held_out(spec):  # validation and test data: only classes the training data has
        counted = stream.count_files(spec, columns, label_names=census.label_names, strict_label_names=True)
        return stream.FileDataset.everything(counted, columns)

    if config.validation_file:
        train, val = full, held_out(config.validation_file)
    else:
        train, val = full.split(config.validation_split, config.seed)
    check_validation(train, val, config.validation_file)
    return train, val, (held_out(test_file) if test_file else None)


def check_validation(train: stream.FileDataset, val: stream.FileDataset, validation_file: Optional[str]) -> None:
    """Refuses, before training, a validation set that cannot pick an epoch: no rows, or none of a class that
    training has (its accuracy and F1 would be computed without it)."""
    fix = (
        f"add rows of every class to {validation_file}"
        if validation_file
        else "use more data, raise --validation-split or pass --validation-file"
    )
    if len(val) == 0:
        raise BertClsError(f"no validation rows (training on {len(train)}, validating on 0): {fix}")
    missing = [name for name, t, v in zip(train.label_names, train.class_counts(), val.class_counts()) if t and not v]
    if missing:
        raise BertClsError(
            f"the {len(val)} validation rows hold no example of {', '.join(map(str, missing))} (a class "
            f"the {len(train)} training rows have): {fix}"
        )


def prepare_data(config: TrainConfig) -> PreparedData:
    """Everything that can be wrong with the input, checked before anything is written."""
    check_precision_device(config.mixed_precision)
    train_ds, val_ds, test_ds = load_training_data(config)
    checkpoint = resolve_checkpoint(config.pretrained, config.cache_dir)
    check_max_length(config.max_length, checkpoint.encoder_config())
    return PreparedData(train_ds, val_ds, test_ds, checkpoint, parse_class_weight(config.class_weight, train_ds))


def check_precision_device(mixed_precision: str) -> None:
    if mixed_precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        raise BertClsError(
            "--mixed-precision mixed_float16 needs a GPU (on CPU it is emulated and slow): use no or mixed_bfloat16"
        )


def parse_class_weight(spec: Optional[str], train) -> Optional[dict]:
    """``--class-weight``: 'balanced' (n / (classes x n_class), as scikit-learn) or 'name=weight,...'."""
    if not spec:
        return None
    names, counts = list(train.label_names), train.class_counts()
    if spec == "balanced":
        present = counts > 0
        return {i: float(counts.sum() / (present.sum() * c)) for i, c in enumerate(counts) if c > 0}
    weights = {i: 1.0 for i in range(len(names))}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise BertClsError(
                f"--class-weight {part.strip()!r}: use 'balanced' or name=weight with names from {', '.join(names)}"
            )
        try:
            weights[names.index(name)] = float(value)
        except ValueError:
            raise BertClsError(f"--class-weight {part.strip()!r}: {value!r} is not a number") from None
        if not weights[names.index(name)] > 0:
            raise BertClsError(f"--class-weight {part.strip()!r}: weights must be positive")
    return weights


def prepare_output_dir(config: TrainConfig, precision_choice: Optional[dict] = None) -> Optional[RunState]:
    """Creates the output directory; returns the committed state when resuming an interrupted run.
    ``precision_choice`` (how ``--mixed-precision auto`` chose) is recorded beside the config, not compared."""
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise BertClsError(f"--output-dir {out} is a file: pass a directory")
    existing = out / RUN_CONFIG
    if out.is_dir() and any(out.iterdir()) and not config.overwrite:
        if not existing.is_file():
            raise BertClsError(
                f"--output-dir {out} is not empty and holds no bert-cls run: choose another directory or pass --overwrite"
            )
        current = config.fingerprint()
        recorded = {k: v for k, v in json.loads(existing.read_text()).items() if k != PRECISION_CHOICE}
        previous = TrainConfig.completed_fingerprint(recorded, current)
        if previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise BertClsError(
                f"--output-dir {out} holds a different run (differs in {', '.join(changed)}): use another directory "
                "or --overwrite"
            )
        # metrics.json marks a finished run; a backup beside it means the cleanup after it was cut short: resume,
        # which reports the kept best weights again and cleans up.
        if (out / METRICS_JSON).is_file() and not (out / callbacks_lib.BACKUP_DIR).exists():
            raise BertClsError(f"--output-dir {out} already holds this finished run: pass --overwrite to train it again")
        return RunState.load(out)
    if config.overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_CONFIG, {**config.fingerprint(), **({PRECISION_CHOICE: precision_choice} if precision_choice else {})})
    return None


# run_config.json's record of how --mixed-precision auto chose (reasons and timings vary; never compared)
PRECISION_CHOICE = "mixed_precision_choice"


def resolve_precision(config, model_shape) -> tuple:
    """``--mixed-precision auto`` made concrete: ``(config, how it was chosen or None)``.

    float32 on a CPU without native bfloat16 (emulated bfloat16 is slower) and wherever a GPU is present (there
    mixed_float16 is the user's explicit choice); on a CPU with native bfloat16 the faster of float32 and
    mixed_bfloat16 in a timed training step of this model (``training.precision_timing``; ``model_shape()``
    gives its ``(family, encoder config)``). A run being resumed keeps the precision it started in."""
    if config.mixed_precision != "auto":
        return config, None
    recorded = _recorded_precision(config)
    native, timing = hardware.native_bfloat16(), None
    if recorded:
        use, why = recorded, "the interrupted run in --output-dir trains in it"
    elif not native:
        use, why = "no", "this CPU has no native bfloat16"
    elif tf.config.list_physical_devices("GPU"):
        use, why = "no", "a GPU is present"
    elif getattr(config, "strategy", "default") == "multi-worker":
        # Timing would run ops before the strategy is made (TensorFlow refuses that) and could differ per worker.
        use, why = "no", "--strategy multi-worker: every worker must decide alike, so it is not timed"
    else:
        timing = precision_timing.measured_choice(*model_shape(), config.batch_size)
        use = "no" if timing["choice"] == "float32" else timing["choice"]
        seconds = timing["seconds"]
        why = (
            f"a training step took {seconds['float32'] * 1e3:.0f} ms in float32 and "
            f"{seconds['mixed_bfloat16'] * 1e3:.0f} ms in mixed_bfloat16 on this CPU ({native})"
            + (", timed earlier" if timing["cached"] else "")
        )
    shown = "float32" if use == "no" else use
    if config.verbose:
        other = "no" if use != "no" else "mixed_bfloat16"
        print(f"--mixed-precision auto: {shown} ({why}); --mixed-precision {other} chooses the other", flush=True)
    choice = {"requested": "auto", "used": shown, "reason": why}
    if timing:
        choice["step_seconds"] = timing["seconds"]
    return dataclasses.replace(config, mixed_precision=use), choice


def _recorded_precision(config) -> Optional[str]:
    """The concrete precision an earlier invocation recorded in ``--output-dir`` (resuming), if any."""
    path = Path(config.output_dir) / RUN_CONFIG
    if config.overwrite or not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text()).get("mixed_precision")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if recorded in ("no", "mixed_bfloat16", "mixed_float16") else None


def prepare_run(config: TrainConfig, data: Optional[PreparedData] = None) -> PreparedRun:
    data = data or prepare_data(config)
    # run_config.json records the concrete precision, so a rerun resumes only in the same one.
    config, precision_choice = resolve_precision(config, lambda: (data.checkpoint.family, data.checkpoint.encoder_config()))
    state = prepare_output_dir(config, precision_choice)
    resuming = state is not None
    if state is None:
        state = RunState(epochs_planned=config.epochs)
        state.save(config.output_dir)  # a started run: `load` can tell it from a finished one
    return PreparedRun(config, data, Path(config.output_dir), state, resuming)


# ---- 2. fit ------------------------------------------------------------------------------------------


def make_strategy(name: str):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


# Below this many parameters the update is cheap and XLA's one-time compile (seconds) costs more than it saves.
FUSED_UPDATE_MIN_PARAMETERS = 1_000_000


def fused_update(optimizer, parameters: int):
    """Compiles the optimizer's per-variable update with XLA on CPUs too (Keras does it only with a GPU), for
    models of at least ``FUSED_UPDATE_MIN_PARAMETERS`` parameters.

    AdamW's update is memory traffic over every parameter (m, v and the weights, the whole word-embedding matrix
    included): MiniLM's took 88-103 ms of an 850 ms CPU step unfused and 39 ms fused (measured here, batch 32).
    Not on Apple silicon, where Keras reports XLA unsupported."""
    if parameters >= FUSED_UPDATE_MIN_PARAMETERS:
        optimizer.jit_compile = not (platform.system() == "Darwin" and platform.processor() == "arm")
    return optimizer


def adamw(learning_rate: float, total_steps: int, warmup_ratio: float, weight_decay: float, parameters: int = 0):
    """BERT's optimizer: AdamW with linear warmup and linear decay to 0 at ``total_steps``, no decay of biases and
    LayerNorm (fine-tuning and pretraining alike)."""
    total = max(1, total_steps)
    schedule = WarmupLinearDecay(learning_rate, total, int(total * warmup_ratio))
    optimizer = AdamW(learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    return fused_update(optimizer, parameters)


def make_optimizer(config: TrainConfig, steps_per_epoch: int, parameters: int = 0):
    return adamw(config.learning_rate, steps_per_epoch * config.epochs, config.warmup_ratio, config.weight_decay, parameters)


def steps_per_epoch(config: TrainConfig, num_examples: int) -> int:
    steps = math.ceil(num_examples / config.batch_size)
    return min(steps, config.max_steps) if config.max_steps else steps


def tokenizes_in_pipeline(config: TrainConfig) -> bool:
    # XLA cannot compile string ops, and on a GPU string ops inside the step would run on the
    # host mid-step. So with --jit-compile or a GPU the step runs on token ids and the same
    # tokenizer runs in the tf.data graph, overlapping with training (weights are shared).
    return config.jit_compile or bool(tf.config.list_physical_devices("GPU"))


def _build_model(run: PreparedRun, strategy):
    """(classifier, the model to fit) with the optimizer built, so a checkpoint restores into it."""
    config, data = run.config, run.data
    with strategy.scope():
        classifier = BertClassifier.from_checkpoint(
            data.checkpoint,
            data.train.label_names,
            max_length=config.max_length,
            dropout=config.dropout,
            text_pair=data.train.has_pairs,
            multi_label=data.train.multi_label,
            # Not under MultiWorkerMirroredStrategy: there a worker's empty share of a partial batch fails in the
            # fused graph's attention (Matrix size-incompatible); the saved weights are the same either way.
            fused=config.strategy != "multi-worker",
        )
        fit_model = classifier.encoded_model if tokenizes_in_pipeline(config) else classifier.text_model
        optimizer = make_optimizer(config, steps_per_epoch(config, len(data.train)), fit_model.count_params())
        fit_model.compile(
            optimizer=optimizer,
            **_loss_and_metrics(data.train),
            jit_compile=config.jit_compile,
        )
        optimizer.build(fit_model.trainable_variables)
    return classifier, fit_model


def _loss_and_metrics(train) -> dict:
    classes = len(train.label_names)
    if train.multi_label:  # a sigmoid per class
        return {
            "loss": keras.losses.BinaryCrossentropy(from_logits=True),
            "metrics": [SubsetAccuracy(), MultiLabelF1(classes, "micro"), MultiLabelF1(classes, "macro")],
        }
    return {
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), MacroF1(classes)],
    }


def worker_shard(strategy) -> Optional[tuple]:
    """(workers, this worker's index) in a multi-worker cluster, else None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    if workers < 2:
        return None
    index = resolver.task_id + (len(cluster.get("chief", [])) if resolver.task_type == "worker" else 0)
    return workers, index


def _datasets(run: PreparedRun, classifier: BertClassifier, strategy):
    config = run.config
    # Several training files: each worker reads its own files. One file: each reads it and keeps
    # its share of the elements (tf.data's DATA sharding).
    shard = worker_shard(strategy) if len(run.data.train.census.files) > 1 else None
    by_file, by_data = tf.data.Options(), tf.data.Options()
    by_file.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    by_data.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # A tokenizer of its own for tf.data (not the model's layer, which lives with the model under the strategy).
    data_tokenizer = classifier.pipeline_tokenizer()
    token_lengths = data_tokenizer.token_lengths

    def epoch_data(seed, reshuffle=True):
        return pipeline.make_tf_dataset(
            run.data.train,
            config.batch_size,
            shuffle=True,
            seed=seed,
            token_lengths=token_lengths if config.bucket_by_length else None,
            shard=shard,
            reshuffle=reshuffle,
        )

    steps = None
    if shard:  # each worker reads its own files, of their own lengths: Keras iterates them once per epoch
        fit_data = epoch_data(config.seed).with_options(by_file)
        if config.max_steps:
            fit_data = fit_data.take(config.max_steps)
    else:
        # The epochs still to run, one after another, each shuffled by a seed of its own (seed, epoch): a resumed
        # run trains on exactly the batches the uninterrupted run would have (tf.data's reshuffle_each_iteration
        # counts passes in this process, so a rerun would start again at the first epoch's order).
        steps = steps_per_epoch(config, len(run.data.train))
        # No reshuffling: Keras opens a dataset of exactly one epoch twice, and each epoch has its own seed.
        epochs = [
            epoch_data(callbacks_lib.epoch_seed(config.seed, e), reshuffle=False).repeat().take(steps)
            for e in range(run.state.epochs_finished, config.epochs)
        ]
        fit_data = functools.reduce(lambda a, b: a.concatenate(b), epochs).with_options(by_data)
    # Validation batches are length-sorted too: the metrics are sums over examples, so only the padding changes.
    val_data = pipeline.make_tf_dataset(run.data.validation, config.batch_size, token_lengths=token_lengths).with_options(by_data)
    if tokenizes_in_pipeline(config):
        tokenizer = classifier.pipeline_tokenizer(XLA_PAD_MULTIPLE) if config.jit_compile else data_tokenizer
        fit_data = pipeline.tokenize_in_pipeline(fit_data, tokenizer)
        val_data = pipeline.tokenize_in_pipeline(val_data, tokenizer)
    return fit_data, val_data, steps


def _announce(run: PreparedRun, strategy) -> None:
    train_ds, val_ds, checkpoint = run.data.train, run.data.validation, run.data.checkpoint
    dropped = f", {train_ds.dropped_empty} empty documents dropped" if train_ds.dropped_empty else ""
    resuming = f"; resuming after epoch {run.state.epochs_finished}" if run.resuming else ""
    print(
        f"training on {len(train_ds)} examples, validating on {len(val_ds)}{dropped}; "
        f"checkpoint {checkpoint.path} ({checkpoint.family.model_type}, {_tokenizer_words(checkpoint.tokenizer[0])}); "
        f"{strategy.num_replicas_in_sync} replicas in sync"
        + ("; tokenizing in the tf.data pipeline" if tokenizes_in_pipeline(run.config) else "")
        + resuming,
        flush=True,
    )


def _tokenizer_words(spec: dict) -> str:
    """``cased WordPiece``, ``uncased SentencePiece``: how the checkpoint reads text."""
    return f"{'uncased' if spec['lower_case'] else 'cased'} {'WordPiece' if spec['kind'] == 'wordpiece' else 'SentencePiece'}"


def _tensorboard(write_dir: Path, config: TrainConfig):
    """TensorBoard logs under ``logs/``: epoch scalars (loss, metrics, learning rate, examples_per_second, which
    ``Throughput`` adds before this runs) and, with ``--profile-steps``, the profiler's trace of those steps."""
    return keras.callbacks.TensorBoard(
        log_dir=str(write_dir / LOGS_DIR), profile_batch=config.profile_range(), write_graph=False, update_freq="epoch"
    )


def fit_run(run: PreparedRun, extra_callbacks=()) -> FittedRun:
    """Fits from the last committed epoch and leaves the classifier with the best epoch's weights."""
    config, out = run.config, run.output_dir
    # The strategy first: multi-worker collectives must be set up before TensorFlow runs any op.
    strategy = make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("float32" if config.mixed_precision == "no" else config.mixed_precision)
    chief = is_chief(strategy)
    # Every worker commits its own epochs; non-chief workers of a multi-worker run write
    # theirs aside, so --output-dir must be on a filesystem all workers share.
    write_dir = out if chief else out / f".worker-{strategy.cluster_resolver.task_id}"
    write_dir.mkdir(parents=True, exist_ok=True)
    state = run.state if chief else (RunState.load(write_dir) or RunState(epochs_planned=config.epochs))
    classifier, fit_model = _build_model(run, strategy)
    if chief:
        classifier.save(out, weights=False)  # config + vocab now; the weights come from the best epoch
    commit = callbacks_lib.EpochCommit(
        write_dir,
        state,
        classifier.text_model,
        tf.train.Checkpoint(model=fit_model, optimizer=fit_model.optimizer),
        monitor=config.monitor,
        patience=config.patience,
    )
    commit.restore()
    commit.finish_commit()  # completes a commit that a kill interrupted
    if config.verbose:
        _announce(run, strategy)
    started = time.perf_counter()
    if not state.done:
        fit_data, val_data, steps = _datasets(run, classifier, strategy)
        fit_model.fit(
            fit_data,
            validation_data=val_data,
            epochs=config.epochs,
            initial_epoch=state.epochs_finished,
            steps_per_epoch=steps,
            class_weight=run.data.class_weight,
            callbacks=[
                callbacks_lib.EpochSeed(config.seed),
                callbacks_lib.Throughput(len(run.data.train)),
                commit,
                _tensorboard(write_dir, config),
                *extra_callbacks,
            ],
            verbose=config.verbose,
        )
    train_seconds = time.perf_counter() - started
    if commit.diverged is not None:
        raise BertClsError(_diverged_message(commit.diverged, state, config, out))
    classifier.text_model.load_weights(str(write_dir / state.best_weights)).expect_partial()
    if config.mixed_precision != "no":
        classifier = _in_float32(classifier)
    if chief:
        classifier.save(out)
    return FittedRun(classifier, state, chief, write_dir, train_seconds)


def _diverged_message(diverged: tuple, state: RunState, config: TrainConfig, out: Path) -> str:
    epoch, step, loss = diverged
    where = f"epoch {epoch + 1}" + (f", step {step}" if step else "")
    kept = (
        f"the {state.epochs_finished} finished epoch(s) before it are kept in {out}"
        if state.epochs_finished
        else f"no epoch finished, {out} holds no model"
    )
    return (
        f"the training loss became {loss} at {where}, so training stopped: lower --learning-rate (now "
        f"{config.learning_rate:g}) and rerun with --overwrite; {kept}"
    )


def _in_float32(classifier: BertClassifier) -> BertClassifier:
    """The same weights in a classifier that computes in float32: evaluation, the returned classifier and every
    export then compute as the served model does (variables are float32 under a mixed policy, so they carry over)."""
    keras.mixed_precision.set_global_policy("float32")
    weights = classifier.text_model.get_weights()
    rebuilt = BertClassifier.from_config(classifier.config, classifier.tokenizer_resource)
    rebuilt.text_model.set_weights(weights)
    return rebuilt


# ---- 3. report ---------------------------------------------------------------------------------------


def report_run(run: PreparedRun, fitted: FittedRun, evaluate_test: bool = True) -> TrainResult:
    """Evaluates the best weights, writes plots and ``metrics.json`` (the run's "finished" mark)."""
    config, out, history = run.config, run.output_dir, fitted.state.history
    probabilities, labels = predict_dataset(fitted.classifier, run.data.validation, config.batch_size, verbose=0)
    if config.tune_thresholds:
        average = "macro" if config.monitor == "val_macro_f1" else "micro"  # the F1 the run follows
        fitted.classifier.config.thresholds = tune_thresholds(labels, probabilities, average)
        if fitted.chief:
            fitted.classifier.save(out, weights=False)  # the thresholds travel with the model
    metrics = {
        "validation": dataset_metrics(fitted.classifier, probabilities, labels),
        "train_examples": len(run.data.train),
        "validation_examples": len(run.data.validation),
        "dropped_empty_documents": run.data.train.dropped_empty,
        "epochs_run": len(history),
        "best_epoch": fitted.state.best_epoch + 1,
        "train_seconds_this_invocation": fitted.train_seconds,
        "examples_per_second": float(np.mean([r["examples_per_second"] for r in history])) if history else None,
        "pretrained": str(config.pretrained),
    }
    if run.data.test is not None and evaluate_test:
        metrics["test"] = evaluate_dataset(fitted.classifier, run.data.test, config.batch_size, verbose=0)
    if fitted.chief:
        plot_history(out / callbacks_lib.HISTORY_CSV, out / CURVES_PNG)
        kept = run.data.validation.sample(CHECK_TEXTS, config.seed)
        write_check_texts(out, ((text, pair) for text, pair, _ in kept.rows()))
        write_json(out / METRICS_JSON, metrics)
    callbacks_lib.remove_training_checkpoints(fitted.write_dir)
    return TrainResult(metrics=metrics, output_dir=out, classifier=fitted.classifier, history=history)


def train(
    config: TrainConfig, data: Optional[PreparedData] = None, extra_callbacks=(), evaluate_test: bool = True
) -> TrainResult:
    """Fine-tunes, keeps the best epoch by ``config.monitor``, evaluates and writes everything.

    ``data`` skips loading when the caller already prepared it (the tuner, once per search);
    ``evaluate_test=False`` skips the test file (tuning trials are judged on validation only).
    """
    run = prepare_run(dataclasses.replace(config, verbose=progress_verbosity(config.verbose)), data)
    try:
        return report_run(run, fit_run(run, extra_callbacks), evaluate_test)
    finally:
        # The policy is process-global: models built after this run (an export, the tuner's next trial, a
        # caller's own) start from float32 again, as the export must compute in float32.
        keras.mixed_precision.set_global_policy("float32")
