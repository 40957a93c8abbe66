"""Fine-tuning: the BERT recipe (AdamW, linear warmup and decay) with resumable runs.

``train(TrainConfig(...))`` is the one training function: ``bert-cls train`` and
every Keras Tuner trial call it. An output directory holds a loadable model
(``classifier_config.json``, ``vocab.txt``, ``weights/``), ``run_config.json``,
``history.csv``, ``training_curves.png`` and ``metrics.json``. A killed run
restarted with the same command resumes from its last finished epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from bert_cls import data as data_lib
from bert_cls.errors import BertClsError

RUN_CONFIG = "run_config.json"
HISTORY_CSV = "history.csv"
METRICS_JSON = "metrics.json"
CURVES_PNG = "training_curves.png"
BACKUP_DIR = "backup"


def arg_field(default, help_text, **kwargs):
    """A dataclass field carrying its ``--flag`` help text (see ``cli.add_dataclass_arguments``)."""
    return dataclasses.field(default=default, metadata={"help": help_text, **kwargs})


@dataclasses.dataclass
class TrainConfig:
    """Arguments of ``bert-cls train``; the CLI flags are generated from these fields."""

    output_dir: str = arg_field(None, "directory for the model, history, plots and metrics", required=True)
    data: Optional[str] = arg_field(None, "'sample' (bundled 4,000-review NSMC sample) or 'nsmc' (download)", choices=["sample", "nsmc"])
    train_file: Optional[str] = arg_field(None, "training TSV with a header row (default: from --data)")
    test_file: Optional[str] = arg_field(None, "test TSV evaluated after training (default: from --data)")
    text_column: str = arg_field("document", "column holding the text")
    label_column: str = arg_field("label", "column holding the integer class id 0..K-1")
    label_names: Optional[str] = arg_field(None, "comma-separated class names in id order (NSMC: negative,positive)")
    pretrained: str = arg_field("bert-base-multilingual-cased", "Hugging Face id, local checkpoint directory, or all-MiniLM-L6-v2 (offline)")
    epochs: int = arg_field(3, "training epochs")
    batch_size: int = arg_field(32, "global batch size")
    max_length: int = arg_field(128, "max tokens per text, [CLS]/[SEP] included; longer texts are truncated")
    learning_rate: float = arg_field(5e-5, "peak learning rate of AdamW")
    dropout: float = arg_field(0.1, "dropout rate before the classification layer")
    weight_decay: float = arg_field(0.01, "AdamW weight decay (not applied to biases and LayerNorm)")
    warmup_ratio: float = arg_field(0.1, "fraction of training steps with linear warmup")
    validation_split: float = arg_field(0.1, "fraction of the training file held out (stratified) for validation")
    max_train_samples: Optional[int] = arg_field(None, "use at most this many training rows (stratified), before the split")
    patience: int = arg_field(2, "early stopping: epochs without validation-accuracy gain")
    seed: int = arg_field(42, "seed for the split, shuffling and initialization")
    bucket_by_length: bool = arg_field(True, "batch texts of similar length together (less padding)")
    mixed_precision: str = arg_field("no", "'no', 'mixed_float16' (GPU) or 'mixed_bfloat16'", choices=["no", "mixed_float16", "mixed_bfloat16"])
    jit_compile: bool = arg_field(False, "compile the training step with XLA")
    strategy: str = arg_field("default", "tf.distribute: 'default', 'mirrored' (all local GPUs) or 'multi-worker' (TF_CONFIG)", choices=["default", "mirrored", "multi-worker"])
    cache_dir: Optional[str] = arg_field(None, "cache for downloads (NSMC, Hugging Face checkpoints)")
    verbose: int = arg_field(1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch")

    def fingerprint(self) -> dict:
        """What must match for a rerun to resume this run instead of conflicting with it."""
        skip = {"verbose", "cache_dir", "output_dir"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    def parsed_label_names(self):
        return [n.strip() for n in self.label_names.split(",")] if self.label_names else None


@dataclasses.dataclass
class TrainResult:
    metrics: dict
    output_dir: Path
    classifier: object = None
    history: list = dataclasses.field(default_factory=list)


def load_training_data(config: TrainConfig):
    """(train, validation, test-or-None) datasets for a config, with the same split every time."""
    train_file, test_file, default_names = data_lib.resolve_data_files(
        config.data, config.train_file, config.test_file, config.cache_dir or data_lib.DEFAULT_CACHE_DIR
    )
    names = config.parsed_label_names() or default_names
    kwargs = dict(text_column=config.text_column, label_column=config.label_column, label_names=names)
    full = data_lib.load_tsv(train_file, **kwargs)
    if len(np.unique(full.labels)) < 2:
        raise BertClsError(f"{train_file} has a single class ({full.labels[0]}): a classifier needs at least two")
    if config.max_train_samples:
        full = full.subset(data_lib.stratified_sample(full.labels, config.max_train_samples, config.seed))
    train_idx, val_idx = data_lib.stratified_split(full.labels, config.validation_split, config.seed)
    train, val = full.subset(train_idx), full.subset(val_idx)
    train.dropped_empty = full.dropped_empty
    test = data_lib.load_tsv(test_file, **kwargs) if test_file else None
    if test is not None and test.labels.max() >= full.num_labels:
        raise BertClsError(f"{test_file} has label {test.labels.max()}, unseen in {train_file}")
    return train, val, test


def prepare_output_dir(config: TrainConfig, overwrite: bool) -> bool:
    """Creates the output directory; returns True when resuming an interrupted run."""
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise BertClsError(f"--output-dir {out} is a file: pass a directory")
    existing = out / RUN_CONFIG
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        if not existing.is_file():
            raise BertClsError(f"--output-dir {out} is not empty and holds no bert-cls run: choose another directory or pass --overwrite")
        previous = json.loads(existing.read_text())
        if previous != config.fingerprint():
            changed = sorted(k for k in set(previous) | set(config.fingerprint()) if previous.get(k) != config.fingerprint().get(k))
            raise BertClsError(
                f"--output-dir {out} holds a different run (differs in {', '.join(changed)}): use another directory or --overwrite"
            )
        if (out / METRICS_JSON).is_file():
            raise BertClsError(f"--output-dir {out} already holds this finished run: pass --overwrite to train it again")
        return True
    if overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_CONFIG).write_text(json.dumps(config.fingerprint(), indent=2))
    return False


def make_strategy(name: str):
    from bert_cls.keras_compat import tf

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


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    from bert_cls.keras_compat import keras
    from bert_cls.schedules import WarmupLinearDecay

    total = max(1, steps_per_epoch * config.epochs)
    schedule = WarmupLinearDecay(config.learning_rate, total, int(total * config.warmup_ratio))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    return optimizer


def _throughput_callback(num_examples: int):
    from bert_cls.keras_compat import keras

    class Throughput(keras.callbacks.Callback):
        """Adds ``examples_per_second`` (training steps only, validation excluded) to the epoch logs."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["examples_per_second"] = num_examples / max(self.last - self.start, 1e-9)

    return Throughput()


def _best_so_far(history_csv: Path):
    from bert_cls.plots import read_history

    if not history_csv.is_file():
        return None
    values = [r["val_accuracy"] for r in read_history(history_csv) if "val_accuracy" in r]
    return max(values) if values else None


def train(config: TrainConfig, overwrite: bool = False, extra_callbacks=(), evaluate_test: bool = True) -> TrainResult:
    """Fine-tunes, keeps the best epoch by validation accuracy, evaluates and writes everything.

    ``evaluate_test=False`` skips the test file (tuning trials are judged on validation only).
    """
    if config.epochs < 1 or config.batch_size < 1:
        raise BertClsError("--epochs and --batch-size must be at least 1")
    if not 0.0 <= config.dropout < 1.0:
        raise BertClsError(f"--dropout must be in [0, 1), got {config.dropout}")
    if config.learning_rate <= 0:
        raise BertClsError(f"--learning-rate must be positive, got {config.learning_rate}")
    if config.mixed_precision == "mixed_float16":
        from bert_cls.keras_compat import tf

        if not tf.config.list_physical_devices("GPU"):
            raise BertClsError("--mixed-precision mixed_float16 needs a GPU (on CPU it is emulated and slow): use no or mixed_bfloat16")
    train_ds, val_ds, test_ds = load_training_data(config)
    from bert_cls.pretrained import resolve_checkpoint

    checkpoint = resolve_checkpoint(config.pretrained, config.cache_dir)
    from bert_cls.model import check_max_length

    check_max_length(config.max_length, checkpoint.bert_config())
    resuming = prepare_output_dir(config, overwrite)
    out = Path(config.output_dir)

    from bert_cls.keras_compat import keras, tf
    from bert_cls.model import BertClassifier, WEIGHTS_PREFIX

    # The strategy first: multi-worker collectives must be set up before TensorFlow runs any op.
    strategy = make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("float32" if config.mixed_precision == "no" else config.mixed_precision)
    chief = is_chief(strategy)
    # Non-chief workers of a multi-worker run keep their own history aside; checkpoints use the
    # chief's paths on every worker (Keras redirects non-chief writes to temporary files), so
    # --output-dir must be on a filesystem all workers share.
    write_dir = out if chief else out / f".worker-{strategy.cluster_resolver.task_id}"
    write_dir.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        classifier = BertClassifier.from_checkpoint(
            checkpoint, train_ds.label_names, max_length=config.max_length, dropout=config.dropout
        )
        steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
        # XLA cannot compile string ops, and on a GPU string ops inside the step would run on the
        # host mid-step. So with --jit-compile or a GPU the step runs on token ids and the same
        # tokenizer runs in the tf.data graph, overlapping with training (weights are shared).
        tokenize_in_pipeline = config.jit_compile or bool(tf.config.list_physical_devices("GPU"))
        fit_model = classifier.encoded_model if tokenize_in_pipeline else classifier.text_model
        fit_model.compile(
            optimizer=make_optimizer(config, steps_per_epoch),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=config.jit_compile,
        )
    if chief:
        classifier.save(out)  # config + vocab now; weights are replaced by the best epoch below

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    fit_data = data_lib.make_tf_dataset(
        train_ds, config.batch_size, shuffle=True, seed=config.seed, bucket_by_length=config.bucket_by_length
    ).with_options(options)
    val_data = data_lib.make_tf_dataset(val_ds, config.batch_size, bucket_by_length=False).with_options(options)
    if tokenize_in_pipeline:
        from bert_cls.tokenizer import XLA_PAD_MULTIPLE

        pipeline_tokenizer = classifier.pipeline_tokenizer(XLA_PAD_MULTIPLE if config.jit_compile else 1)
        fit_data = data_lib.tokenize_in_pipeline(fit_data, pipeline_tokenizer)
        val_data = data_lib.tokenize_in_pipeline(val_data, pipeline_tokenizer)

    history_csv = write_dir / HISTORY_CSV
    callbacks = [
        _throughput_callback(len(train_ds)),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        keras.callbacks.ModelCheckpoint(
            str(out / WEIGHTS_PREFIX),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=_best_so_far(history_csv) if resuming else None,
        ),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience),
        keras.callbacks.BackupAndRestore(str(out / BACKUP_DIR)),
        *extra_callbacks,
    ]
    if config.verbose:
        dropped = f", {train_ds.dropped_empty} empty documents dropped" if train_ds.dropped_empty else ""
        print(
            f"training on {len(train_ds)} examples, validating on {len(val_ds)}{dropped}; "
            f"checkpoint {checkpoint.path} ({'uncased' if checkpoint.lower_case else 'cased'}); "
            f"{strategy.num_replicas_in_sync} replicas in sync"
            + ("; tokenizing in the tf.data pipeline" if tokenize_in_pipeline else "")
            + ("; resuming an interrupted run" if resuming else ""),
            flush=True,
        )
    started = time.perf_counter()
    fit_model.fit(
        fit_data, validation_data=val_data, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose
    )
    train_seconds = time.perf_counter() - started

    fit_model.load_weights(str(out / WEIGHTS_PREFIX)).expect_partial()
    if fit_model is not classifier.text_model and chief:
        classifier.save(out)  # rewrite the best weights in text_model's layout, which `load` expects
    from bert_cls.evaluate import evaluate_dataset
    from bert_cls.plots import plot_history, read_history

    history = read_history(history_csv)
    metrics = {
        "validation": evaluate_dataset(classifier, val_ds, config.batch_size, verbose=0),
        "train_examples": len(train_ds),
        "validation_examples": len(val_ds),
        "dropped_empty_documents": train_ds.dropped_empty,
        "epochs_run": len(history),
        "best_epoch": int(np.argmax([r.get("val_accuracy", -1) for r in history])) + 1 if history else None,
        "train_seconds_this_invocation": train_seconds,
        "examples_per_second": float(np.mean([r["examples_per_second"] for r in history])) if history else None,
        "pretrained": str(config.pretrained),
    }
    if test_ds is not None and evaluate_test:
        metrics["test"] = evaluate_dataset(classifier, test_ds, config.batch_size, verbose=0)
    if chief:
        plot_history(history_csv, out / CURVES_PNG)
        (out / METRICS_JSON).write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return TrainResult(metrics=metrics, output_dir=out, classifier=classifier, history=history)
