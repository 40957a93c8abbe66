"""``bert-cls pretrain``: masked-LM (BERT) or replaced-token-detection (ELECTRA) pretraining, from scratch or
continued, committed every ``--save-steps``; the objectives are in ``bert_cls.pretraining.objectives``.

The output directory is a standard Hugging Face checkpoint (``config.json``, ``vocab.txt``,
``tokenizer_config.json``, ``special_tokens_map.json``, ``tf_model.h5`` of a ``TFBertForMaskedLM`` or, with
``--objective electra``, the discriminator's ``TFElectraForPreTraining``, and a ``README.md`` model card once
finished) that ``bert-cls train --pretrained DIR`` and
``TFAutoModel.from_pretrained(DIR)`` load, beside the run's own files: ``pretrain_config.json`` (the flags, to
tell a resume from a different run), ``pretrain_state.json`` (the commit point), ``backup/`` (model and optimizer),
``history.csv``, ``pretraining_curves.png``, ``pretrain_metrics.json`` and TensorBoard logs in ``logs/``.

Why a loop of its own instead of ``Model.fit``: pretraining runs for hours, so it commits every ``--save-steps``
steps, mid-epoch, and a resumed run must continue with the very batch and masks it would have seen. The data
stream is a pure function of the seed (seeded shuffles, masks drawn from (seed, batch number)), so resuming
skips the batches already trained on and, with dropout 0, ends with the weights of a run never interrupted (equal
to float rounding: 1.5e-8 in the test). ELECTRA's generator samples with uniform draws made beside the masks.

Commit, every ``--save-steps`` steps, at ``--max-time`` and at the end:
1. model and optimizer to ``backup/step-N`` (the previous backup stays intact);
2. the Hugging Face files, each replaced atomically;
3. ``pretrain_state.json`` replaced atomically: the steps are now done;
4. ``history.csv``, TensorBoard and the plot from the state; older backups deleted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from bert_cls import hardware
from bert_cls.data import pipeline
from bert_cls.config import progress_verbosity
from bert_cls.errors import BertClsError, warn
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.families import family_of
from bert_cls.modeling.pretrained import resolve_checkpoint
from bert_cls.modeling.tokenizer_files import read_vocab
from bert_cls.modeling.tokenizer import BertTokenizerLayer
from bert_cls.pretraining.config import RUN_CONFIG, SHAPE_DEFAULTS, PretrainConfig
from bert_cls.pretraining.corpus import TRAIN, Corpus, open_corpus
from bert_cls.pretraining.masking import Masker
from bert_cls.pretraining import objectives
from bert_cls.pretraining import vocabulary as vocab_lib
from bert_cls.training import run as train_lib
from bert_cls.training.callbacks import write_history_csv
from bert_cls.training.plots import plot_pretraining
from bert_cls.json_files import write_json

from transformers import BertConfig, ElectraConfig

STATE_FILE = "pretrain_state.json"
METRICS_JSON = "pretrain_metrics.json"
HISTORY_CSV = "history.csv"
CURVES_PNG = "pretraining_curves.png"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
MODEL_CARD = "README.md"
# Batch numbers of the held-out batches' masks: far from any training batch's number.
VALIDATION_SEED_OFFSET = 2**40
TRAIN_LOG_EVERY = 50  # steps between TensorBoard training scalars


@dataclasses.dataclass
class PretrainState:
    """The committed progress of a run (``pretrain_state.json``)."""

    total_steps: int
    steps_done: int = 0
    elapsed_seconds: float = 0.0
    history: list = dataclasses.field(default_factory=list)
    backup: Optional[str] = None
    finished: bool = False

    def save(self, directory) -> None:
        write_json(Path(directory) / STATE_FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, directory) -> Optional["PretrainState"]:
        path = Path(directory) / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


# ---- the output directory ---------------------------------------------------------------------------


def prepare_output_dir(config: PretrainConfig) -> Optional[PretrainState]:
    """Creates the output directory, or returns the committed state of the same run to resume."""
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise BertClsError(f"--output-dir {out} is a file: pass a directory")
    if out.is_dir() and any(out.iterdir()) and not config.overwrite:
        existing = out / RUN_CONFIG
        if not existing.is_file():
            raise BertClsError(
                f"--output-dir {out} is not empty and holds no bert-cls pretraining run: choose another "
                "directory or pass --overwrite"
            )
        previous, current = PretrainConfig.with_defaults(json.loads(existing.read_text())), config.fingerprint()
        if previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise BertClsError(
                f"--output-dir {out} holds a different pretraining run (differs in {', '.join(changed)}): "
                "use another directory or --overwrite"
            )
        state = PretrainState.load(out)
        if state is not None and state.finished and finish_complete(out):
            raise BertClsError(f"--output-dir {out} already holds this finished run: pass --overwrite to pretrain again")
        return state  # a finished run whose last steps (card, plot, cleanup) were cut short is completed
    if config.overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_CONFIG, config.fingerprint())
    return None


def prepare_vocabulary(config: PretrainConfig, corpus: Corpus, out: Path, checkpoint, write: bool = True) -> tuple:
    """(vocabulary, lower_case): the checkpoint's, or learned from the training texts (once: a resume reads
    ``vocab.txt``). ``write=False`` (a non-chief worker): the same vocabulary, its files left to the chief."""
    if checkpoint is not None:
        vocabulary, lower_case = checkpoint.vocabulary(), checkpoint.lower_case
        if vocab_lib.MASK_TOKEN not in vocabulary:
            raise BertClsError(
                f"checkpoint {checkpoint.path} has no {vocab_lib.MASK_TOKEN} in its vocabulary: masked-LM pretraining needs one"
            )
    elif (out / vocab_lib.VOCAB_FILE).is_file():
        return read_vocab(out / vocab_lib.VOCAB_FILE), config.lower_case
    else:
        texts = (t for text, pair in corpus.rows(TRAIN) for t in ((text, pair) if pair is not None else (text,)))
        started = time.perf_counter()
        vocabulary, lower_case = (
            vocab_lib.train_wordpiece(
                texts, config.vocab_size, config.lower_case, config.min_frequency, length=corpus.counts[TRAIN]
            ),
            config.lower_case,
        )
        if len(vocabulary) > config.vocab_size:  # WordPiece keeps every character, so no text becomes [UNK]
            warn(
                f"--vocab-size {config.vocab_size} is below what the texts need: their characters alone take "
                f"{len(vocabulary)} pieces with the special tokens, so the vocabulary has {len(vocabulary)}"
            )
        if config.verbose:
            print(
                f"learned a WordPiece vocabulary of {len(vocabulary)} pieces in {time.perf_counter() - started:.1f}s", flush=True
            )
    if write:
        vocab_lib.write_tokenizer_files(out, vocabulary, lower_case, config.max_length)
    return vocabulary, lower_case


# ---- the model and its step -------------------------------------------------------------------------


def scratch_config(config: PretrainConfig, vocabulary: list):
    """The ``BertConfig`` (or, for ELECTRA, the discriminator's ``ElectraConfig``) of a model from scratch."""
    shape = dict(
        vocab_size=len(vocabulary),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=4 * config.hidden_size,
        max_position_embeddings=config.max_length,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        pad_token_id=vocabulary.index("[PAD]"),
    )
    if config.objective == objectives.ELECTRA:
        # Embeddings as wide as the hidden layers: the discriminator computes what a BERT of the same shape does.
        return ElectraConfig(embedding_size=config.hidden_size, architectures=["ElectraForPreTraining"], **shape)
    return BertConfig(architectures=["BertForMaskedLM"], **shape)


def make_objective(config: PretrainConfig, vocabulary: list, checkpoint):
    """The run's objective with its models built (``bert_cls.pretraining.objectives``)."""
    if config.objective == objectives.ELECTRA:
        return objectives.ReplacedTokenDetection(
            scratch_config(config, vocabulary), config.generator_size, config.discriminator_weight
        )
    return objectives.MaskedLM(None if checkpoint is not None else scratch_config(config, vocabulary), checkpoint)


def make_steps(objective, optimizer, strategy, batch_spec):
    """(train_step, eval_step): each takes a distributed batch and returns the objective's sums, summed.

    ``batch_spec`` is the distributed training stream's ``element_spec`` (batch size and length unknown): the
    training step is traced once for every batch shape, as TensorFlow's distributed-input guide advises, instead of
    again for each new shape. With one replica the held-out batches are plain tensors of that spec too; with several
    they are per-replica values of another spec, so that step relaxes its shapes as it meets them."""

    def replica_train(batch):
        with tf.GradientTape() as tape:
            sums = objective.sums(batch, training=True)
            # Normalized by every replica's counts: each replica's gradient is summed across replicas.
            loss = objective.loss(sums, lambda value: tf.distribute.get_replica_context().all_reduce("sum", value))
        variables = objective.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return sums

    def summed(fn, spec):
        traced = dict(input_signature=[spec]) if spec is not None else dict(reduce_retracing=True)

        @tf.function(**traced)
        def step(batch):
            results = strategy.run(fn, args=(batch,))
            return [strategy.reduce("SUM", r, axis=None) for r in results]

        return step

    eval_spec = batch_spec if strategy.num_replicas_in_sync == 1 else None
    return summed(replica_train, batch_spec), summed(lambda batch: objective.sums(batch, training=False), eval_spec)


# ---- data -------------------------------------------------------------------------------------------


class Encoder:
    """Raw-string batches -> masked model inputs, in the ``tf.data`` graph (no Python loop over texts)."""

    def __init__(self, tokenizer: BertTokenizerLayer, masker: Masker, seed: int, noise: bool = False):
        self.tokenizer, self.masker, self.seed, self.noise = tokenizer, masker, seed, noise

    def __call__(self, number, features):
        encoded = self.tokenizer(features)
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(number, tf.int64)])
        masked, chosen = self.masker(encoded["input_ids"], encoded["attention_mask"], seed)
        batch = {**encoded, "input_ids": masked, "chosen": chosen, "targets": encoded["input_ids"]}
        if self.noise:  # ELECTRA's sampling draws, one per token, from the batch's seed (a stream apart from the masks')
            noise_seed = tf.random.experimental.stateless_fold_in(seed, 1)
            batch["sample_noise"] = tf.random.stateless_uniform(tf.shape(masked), noise_seed)
        return batch


def _features(corpus: Corpus):
    spec = {"text": tf.TensorSpec((), tf.string)}
    if corpus.has_pairs:
        spec["text_pair"] = tf.TensorSpec((), tf.string)

    def generate():
        for text, pair in corpus.rows(TRAIN):
            yield {"text": text, "text_pair": pair} if corpus.has_pairs else {"text": text}

    return tf.data.Dataset.from_generator(generate, output_signature=spec)


def training_stream(corpus: Corpus, config: PretrainConfig, encoder: Encoder, start_step: int):
    """Endless batches of masked inputs from step ``start_step`` on: the same stream on every (re)run."""
    ds = _features(corpus).shuffle(
        min(corpus.counts[TRAIN], pipeline.SHUFFLE_BUFFER), seed=config.seed, reshuffle_each_iteration=True
    )
    if config.bucket_by_length:
        ds = pipeline.group_by_token_length(ds, config.batch_size, encoder.tokenizer.token_lengths, config.seed)
        ds = ds.map(lambda features: features)  # group_by_token_length yields 1-tuples of features
    else:
        ds = ds.batch(config.batch_size)
    ds = ds.repeat().enumerate().skip(start_step)
    return ds.map(encoder, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def validation_batches(corpus: Corpus, config: PretrainConfig, encoder: Encoder) -> list:
    """The held-out texts as masked batches, masked once: every save scores the same tokens."""
    texts, pairs = corpus.validation_texts(config.max_validation_texts)
    order = np.argsort([len(t) + len(p or "") for t, p in zip(texts, pairs or [None] * len(texts))], kind="stable")
    features = {"text": np.asarray(texts, dtype=object)[order]}
    if pairs is not None:
        features["text_pair"] = np.asarray(pairs, dtype=object)[order]
    ds = tf.data.Dataset.from_tensor_slices(features).batch(config.batch_size).enumerate()
    return list(ds.map(lambda i, f: encoder(i + VALIDATION_SEED_OFFSET, f)))


# ---- the loop ---------------------------------------------------------------------------------------


def total_steps(config: PretrainConfig, corpus: Corpus) -> int:
    if config.max_steps:
        return config.max_steps
    return max(1, math.ceil(config.epochs * corpus.counts[TRAIN] / config.batch_size))


@dataclasses.dataclass
class Session:
    """What one invocation works with."""

    config: PretrainConfig
    out: Path
    corpus: Corpus
    state: PretrainState
    objective: object  # bert_cls.pretraining.objectives: MaskedLM or ReplacedTokenDetection
    optimizer: object
    checkpoint: object  # tf.train.Checkpoint of the objective's models and the optimizer
    strategy: object
    vocabulary: list
    lower_case: bool


def commit(session: Session, row: dict) -> None:
    """Steps 1-4 of the module docstring."""
    state, out = session.state, session.out
    backup = f"{BACKUP_DIR}/step-{state.steps_done}"
    session.checkpoint.write(str(out / backup))  # 1
    session.objective.save(out)  # 2
    state.history = [r for r in state.history if r["step"] < row["step"]] + [row]
    state.backup = backup
    state.save(out)  # 3: the commit
    finish_commit(session)  # 4


def finish_commit(session: Session) -> None:
    state, out = session.state, session.out
    if state.history:
        write_history_csv(state.history, out / HISTORY_CSV, key="step")
    for path in (out / BACKUP_DIR).glob("step-*"):
        if f"{BACKUP_DIR}/{path.name.split('.')[0]}" != state.backup:
            path.unlink(missing_ok=True)


class Interval:
    """Sums of the training steps since the last save (the objective's sums), sequences and time."""

    def __init__(self, objective):
        self.objective = objective
        self.sums, self.sequences, self.started = np.zeros(len(objective.sum_names)), 0, time.perf_counter()

    def add(self, sums, batch) -> None:
        self.sums += [float(v) for v in sums]
        ids = batch["input_ids"]
        self.sequences += int(sum(p.shape[0] for p in (ids.values if hasattr(ids, "values") else (ids,))))

    def metrics(self) -> dict:
        return self.objective.metrics(self.sums)

    def row(self, state: PretrainState, held_out: dict, learning_rate: float) -> dict:
        return {
            "step": state.steps_done,
            **self.metrics(),
            **{f"val_{key}": value for key, value in held_out.items()},
            "learning_rate": learning_rate,
            "sequences_per_second": self.sequences / (time.perf_counter() - self.started),
            "elapsed_seconds": state.elapsed_seconds,
        }


def score(objective, eval_step, batches) -> dict:
    """The objective's figures (loss, masked-token accuracy, ...) on the held-out batches."""
    sums = np.zeros(len(objective.sum_names))
    for batch in batches:
        sums += [float(v) for v in eval_step(batch)]
    return objective.metrics(sums)


def _learning_rate(optimizer) -> float:
    rate = optimizer.learning_rate  # the schedule, or (Keras' optimizers) the variable holding its current value
    return float(keras.backend.get_value(rate(optimizer.iterations) if callable(rate) else rate))


def _save(session: Session, interval: Interval, held_out: tuple, writer, bar) -> None:
    """Scores, logs and commits the steps since the last save."""
    state = session.state
    row = interval.row(state, held_out, _learning_rate(session.optimizer))
    with writer.as_default(step=state.steps_done):
        for key, value in row.items():
            if key not in ("step", "learning_rate", "elapsed_seconds"):
                tf.summary.scalar(key, value)
    commit(session, row)
    if session.config.verbose == 2 or (session.config.verbose and state.finished):
        replaced = (
            f", replaced-token accuracy {row['val_replaced_accuracy']:.4f} (all original: {row['val_original_share']:.4f})"
            if "val_replaced_accuracy" in row
            else ""
        )
        bar.write(
            f"step {state.steps_done}/{state.total_steps}: loss {row['loss']:.4f}, masked accuracy "
            f"{row['masked_accuracy']:.4f}; held out: loss {row['val_loss']:.4f}, masked accuracy "
            f"{row['val_masked_accuracy']:.4f}{replaced} ({row['sequences_per_second']:.0f} sequences/s)"
        )
        sys.stdout.flush()  # a log file (stdout block-buffered) shows each save as it happens


def train_loop(session: Session, encoder: Encoder) -> None:
    """Steps from the last commit to ``total_steps`` (or ``--max-time``), saving every ``--save-steps``."""
    config, state, strategy = session.config, session.state, session.strategy
    objective = session.objective
    stream = strategy.experimental_distribute_dataset(training_stream(session.corpus, config, encoder, state.steps_done))
    train_step, eval_step = make_steps(objective, session.optimizer, strategy, stream.element_spec)
    held_out = validation_batches(session.corpus, config, encoder)
    if strategy.num_replicas_in_sync > 1:  # each replica scores whole batches: the same averages, no uneven shards
        held_out = [strategy.experimental_distribute_values_from_function(lambda _, b=b: b) for b in held_out]
    batches = iter(stream)
    writer = tf.summary.create_file_writer(str(session.out / LOGS_DIR))
    started, elapsed_before, interval = time.perf_counter(), state.elapsed_seconds, Interval(objective)
    bar = tqdm(
        total=state.total_steps,
        initial=state.steps_done,
        unit="step",
        disable=config.verbose != 1,
        file=sys.stdout,
        dynamic_ncols=True,
    )
    while not state.finished:
        batch = next(batches)
        interval.add(train_step(batch), batch)
        state.steps_done += 1
        state.elapsed_seconds = elapsed_before + time.perf_counter() - started
        bar.update(1)
        if state.steps_done % 10 == 0:
            figures = interval.metrics()
            postfix = {"loss": f"{figures['loss']:.3f}", "acc": f"{figures['masked_accuracy']:.3f}"}
            if "replaced_accuracy" in figures:
                postfix["replaced"] = f"{figures['replaced_accuracy']:.3f}"
            bar.set_postfix(postfix)
        if state.steps_done % TRAIN_LOG_EVERY == 0:
            with writer.as_default(step=state.steps_done):
                tf.summary.scalar("learning_rate", _learning_rate(session.optimizer))
        out_of_time = config.max_time_seconds is not None and state.elapsed_seconds >= config.max_time_seconds
        state.finished = state.steps_done >= state.total_steps or out_of_time
        if state.steps_done % config.save_steps == 0 or state.finished:
            _save(session, interval, score(objective, eval_step, held_out), writer, bar)
            interval = Interval(objective)
        if out_of_time:
            bar.write(f"--max-time reached after {state.steps_done} of {state.total_steps} steps")
    bar.close()
    writer.flush()


# ---- the run ----------------------------------------------------------------------------------------


def _start_session(config: PretrainConfig) -> tuple:
    corpus = open_corpus(config)  # input errors before anything is written
    checkpoint = resolve_checkpoint(config.pretrained, config.cache_dir) if config.pretrained else None
    if checkpoint is not None and checkpoint.family.model_type != "bert":
        raise BertClsError(
            f"bert-cls pretrain continues BERT checkpoints; {config.pretrained} is "
            f"{checkpoint.family.model_type}: pass a BERT checkpoint or none"
        )
    if checkpoint is not None and config.max_length > checkpoint.encoder_config().max_position_embeddings:
        raise BertClsError(
            f"--max-length {config.max_length} is over the checkpoint's position limit "
            f"{checkpoint.encoder_config().max_position_embeddings}: lower --max-length"
        )
    state = prepare_output_dir(config)
    # The strategy before TensorFlow runs any op (multi-worker collectives). Every worker commits its own steps;
    # non-chief workers write theirs aside, so --output-dir must be on a filesystem all workers share.
    strategy = train_lib.make_strategy(config.strategy)
    chief = train_lib.is_chief(strategy)
    out = Path(config.output_dir)
    vocabulary, lower_case = prepare_vocabulary(config, corpus, out, checkpoint, write=chief)
    if not chief:
        out = out / f".worker-{strategy.cluster_resolver.task_id}"
        out.mkdir(exist_ok=True)
        state = PretrainState.load(out)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("float32" if config.mixed_precision == "no" else config.mixed_precision)
    with strategy.scope():
        objective = make_objective(config, vocabulary, checkpoint)
        state = state or PretrainState(total_steps=total_steps(config, corpus))
        optimizer = train_lib.adamw(
            config.learning_rate, state.total_steps, config.warmup_ratio, config.weight_decay, objective.count_params()
        )
        optimizer.build(objective.trainable_variables)
    session = Session(
        config,
        out,
        corpus,
        state,
        objective,
        optimizer,
        tf.train.Checkpoint(**objective.trackables, optimizer=optimizer),
        strategy,
        vocabulary,
        lower_case,
    )
    if state.backup:
        session.checkpoint.read(str(out / state.backup)).assert_existing_objects_matched()
        finish_commit(session)
    else:
        state.save(out)
    return session


def _announce(session: Session) -> None:
    config, counts, objective = session.config, session.corpus.counts, session.objective
    source = config.pretrained or (
        f"a new {config.layers}-layer, {config.hidden_size}-wide {objective.architecture}, vocabulary of "
        f"{len(session.vocabulary)}"
    )
    resuming = f"; resuming after step {session.state.steps_done}" if session.state.steps_done else ""
    print(
        f"pretraining {source} ({objective.count_params():,} parameters) on {counts[TRAIN]:,} texts, scoring on "
        f"{min(counts['held_out'], config.max_validation_texts):,} held out ({counts['excluded']:,} excluded, "
        f"{counts['empty']:,} empty); {session.state.total_steps:,} steps of {config.batch_size}{resuming}",
        flush=True,
    )


def write_model_card(session: Session, metrics: dict) -> None:
    config, model, model_config = session.config, session.objective.model, session.objective.model.config
    command = " ".join(["bert-cls", "pretrain", *sys.argv[2:]]) if sys.argv[1:2] == ["pretrain"] else "(Python API)"
    card = f"""# {session.out.name}

{session.objective.card_heading}, pretrained with `bert-cls pretrain`.

- Architecture: {model_config.num_hidden_layers} layers, hidden size {model_config.hidden_size}, \
{model_config.num_attention_heads} heads, {model.count_params():,} parameters, max length \
{model_config.max_position_embeddings}
- Vocabulary: {len(session.vocabulary)} WordPiece pieces ({"uncased" if session.lower_case else "cased"})
- Started from: {config.pretrained or "random weights"}
- Data: {", ".join(str(p) for p in session.corpus.files)} ({metrics["train_texts"]:,} texts; \
{metrics["excluded_texts"]:,} left out by --exclude-file)
- Steps: {metrics["steps"]:,} of batch {config.batch_size} ({metrics["epochs"]:.2f} epochs), \
{metrics["pretraining_seconds"] / 60:.1f} minutes on {metrics["cpu"]}
{session.objective.card_lines(metrics)}

Command:

```
{command}
```

Fine-tune it with `bert-cls train --pretrained {session.out}`; transformers loads it with
`TFAutoModel.from_pretrained("{session.out}")`.
"""
    (session.out / MODEL_CARD).write_text(card, encoding="utf-8")


def finish_complete(out: Path) -> bool:
    """Whether ``finish`` ran to its end: metrics, plot and card written, the backup deleted (its last step)."""
    return all((out / name).is_file() for name in (METRICS_JSON, CURVES_PNG, MODEL_CARD)) and not (out / BACKUP_DIR).exists()


def finish(session: Session) -> dict:
    state, config = session.state, session.config
    last = state.history[-1]
    metrics = {
        "steps": state.steps_done,
        "total_steps": state.total_steps,
        "epochs": state.steps_done * config.batch_size / session.corpus.counts[TRAIN],
        "train_texts": session.corpus.counts[TRAIN],
        "held_out_texts": session.corpus.counts["held_out"],
        "excluded_texts": session.corpus.counts["excluded"],
        "empty_texts": session.corpus.counts["empty"],
        **{key: value for key, value in last.items() if key.startswith("val_")},
        "objective": config.objective,
        "pretraining_seconds": state.elapsed_seconds,
        "cpu": hardware.cpu_model(),
        "mixed_precision": config.mixed_precision,
        "parameters": session.objective.count_params(),
    }
    write_json(session.out / METRICS_JSON, metrics)
    plot_pretraining(state.history, session.out / CURVES_PNG)
    write_model_card(session, metrics)
    shutil.rmtree(session.out / BACKUP_DIR, ignore_errors=True)
    return metrics


def _model_shape(config: PretrainConfig) -> tuple:
    """``(family, encoder config)`` of the model this run trains, for ``--mixed-precision auto``'s timing."""
    if config.pretrained:
        checkpoint = resolve_checkpoint(config.pretrained, config.cache_dir)
        return checkpoint.family, checkpoint.encoder_config()
    # The discriminator's shape for ELECTRA: the generator adds a quarter-wide encoder beside it.
    shape = {key: getattr(config, key) or default for key, default in SHAPE_DEFAULTS.items()}
    encoder_config = BertConfig(
        vocab_size=shape["vocab_size"],
        hidden_size=shape["hidden_size"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=4 * shape["hidden_size"],
        max_position_embeddings=config.max_length,
    )
    return family_of("bert"), encoder_config


def pretrain(config: PretrainConfig) -> dict:
    """Pretrains (or resumes pretraining) as ``config`` says; returns ``pretrain_metrics.json``'s contents."""
    config, _ = train_lib.resolve_precision(config, lambda: _model_shape(config))
    config = dataclasses.replace(config, verbose=progress_verbosity(config.verbose))
    train_lib.check_precision_device(config.mixed_precision)
    try:
        session = _start_session(config)
        if config.verbose:
            _announce(session)
        masker = Masker(
            session.vocabulary,
            _special_ids(session.vocabulary),
            session.vocabulary.index(vocab_lib.MASK_TOKEN),
            config.mask_rate,
            config.whole_word_masking,
            session.objective.mask_shares,
        )
        tokenizer = BertTokenizerLayer(session.vocabulary, session.lower_case, config.max_length)
        if session.state.finished:  # trained and committed; only finish's files are missing
            print(f"{session.out} finished training before it was stopped: completing its model card and plot", flush=True)
        else:
            train_loop(session, Encoder(tokenizer, masker, config.seed, noise=session.objective.needs_noise))
        if not session.state.finished:
            return {"steps": session.state.steps_done, "total_steps": session.state.total_steps, "finished": False}
        return finish(session)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _special_ids(vocabulary: list) -> list:
    """Ids never masked: BERT's special tokens and the ``[unusedN]`` placeholders some vocabularies reserve."""
    return [
        i
        for i, piece in enumerate(vocabulary)
        if piece in vocab_lib.ALL_SPECIAL_TOKENS or (piece.startswith("[") and piece.endswith("]"))
    ]
