"""``bert-cls pretrain``: vocabulary training, masking statistics, a tiny run that learns, exact resume after a kill,
the output loaded by ``train --pretrained`` and by transformers, continued pretraining, one-line input errors, and
the shipped ``nsmc-small`` checkpoint."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bert_cls.cli import main
from bert_cls.errors import BertClsError

CORPUS = [
    "정말 재밌다",
    "감동 연기 좋은 영화",
    "good movie",
    "스토리 좋은 영화 정말",
    "재밌네요 good",
    "최악이고 지루한 영화",
    "시간 아깝네요",
    "bad movie",
    "별로 지루한 스토리",
    "최악 bad",
    "배우 연기 최고",
    "지루한 시간 최악",
    "영화관에서 봤어요",
]


@pytest.fixture(scope="module")
def corpus_tsv(tmp_path_factory, write_tsv):
    rows = [(f"{CORPUS[i % len(CORPUS)]} {CORPUS[(i * 7) % len(CORPUS)]}", i % 2) for i in range(400)]
    return write_tsv(tmp_path_factory.mktemp("corpus") / "corpus.tsv", rows)


def tiny_pretrain_config(output_dir, train_file, **overrides):
    from bert_cls.pretraining.config import PretrainConfig

    values = dict(
        output_dir=str(output_dir),
        train_file=str(train_file),
        vocab_size=200,
        layers=2,
        hidden_size=32,
        heads=2,
        max_length=32,
        batch_size=16,
        max_steps=30,
        save_steps=10,
        learning_rate=2e-3,
        dropout=0.0,
        validation_split=0.1,
        mixed_precision="no",
        verbose=0,
    )
    values.update(overrides)
    return PretrainConfig(**values)


# ---- vocabulary ---------------------------------------------------------------------------------------


def test_wordpiece_vocabulary_from_text_matches_transformers_tokenizer(tmp_path):
    import tensorflow as tf

    from transformers import BertTokenizer

    from bert_cls.modeling.tokenizer import BertTokenizerLayer
    from bert_cls.pretraining.vocabulary import ALL_SPECIAL_TOKENS, train_wordpiece, write_tokenizer_files

    texts = [f"{a} {b}" for a in CORPUS for b in CORPUS]
    vocab = train_wordpiece(texts, vocab_size=120, lower_case=False, min_frequency=1)
    assert vocab[: len(ALL_SPECIAL_TOKENS)] == list(ALL_SPECIAL_TOKENS)
    assert len(vocab) == len(set(vocab)) and any(p.startswith("##") for p in vocab)
    write_tokenizer_files(tmp_path, vocab, lower_case=False, max_length=32)
    reference = BertTokenizer.from_pretrained(str(tmp_path))
    assert reference.do_lower_case is False and reference.mask_token == "[MASK]"
    layer = BertTokenizerLayer(vocab, lower_case=False, max_length=32)
    probe = ["정말 재밌네요 영화관", "good bad movie", "처음 보는 글자"]
    ours = layer(tf.constant(probe))
    for row, text in enumerate(probe):
        expected = reference(text)["input_ids"]
        assert ours["input_ids"][row, : len(expected)].numpy().tolist() == expected


def test_vocabulary_smaller_than_the_special_tokens_is_refused():
    from bert_cls.pretraining.vocabulary import train_wordpiece

    with pytest.raises(BertClsError, match="--vocab-size 5 leaves no room"):
        train_wordpiece(CORPUS, vocab_size=5, lower_case=False)


# ---- corpus -------------------------------------------------------------------------------------------


def test_corpus_of_plain_text_lines_holds_out_a_share_and_leaves_out_excluded_texts(tmp_path, write_tsv):
    from bert_cls.pretraining.config import PretrainConfig
    from bert_cls.pretraining.corpus import HELD_OUT, TRAIN, open_corpus

    lines = [f"text number {i}" for i in range(2000)] + ["", "   "]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    test = write_tsv(tmp_path / "test.tsv", [("text number 7", 0), ("text number 8", 1), ("not in the corpus", 0)])
    config = PretrainConfig(
        output_dir=str(tmp_path / "o"),
        train_file=str(tmp_path / "corpus.txt"),
        format="txt",
        exclude_file=str(test),
        validation_split=0.1,
    )
    corpus = open_corpus(config)
    assert corpus.counts["excluded"] == 2 and corpus.counts["empty"] == 2
    assert corpus.counts[TRAIN] + corpus.counts[HELD_OUT] == 1998
    assert 150 < corpus.counts[HELD_OUT] < 250
    train, held = [t for t, _ in corpus.rows(TRAIN)], [t for t, _ in corpus.rows(HELD_OUT)]
    assert not set(train) & set(held) and "text number 7" not in train + held
    assert held == [t for t, _ in open_corpus(config).rows(HELD_OUT)], "the same split on every pass and rerun"


# ---- masking ------------------------------------------------------------------------------------------


def _masker(vocab, **kwargs):
    from bert_cls.pretraining.masking import Masker

    specials = [vocab.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    return Masker(vocab, specials, vocab.index("[MASK]"), **kwargs), specials


def test_masking_statistics_are_berts(vocab):
    import tensorflow as tf

    words = vocab(False)
    masker, specials = _masker(words, rate=0.15)
    rng = np.random.default_rng(0)
    ids = rng.integers(len(specials), len(words), size=(512, 64)).astype(np.int32)
    ids[:, 0], ids[:, 40] = words.index("[CLS]"), words.index("[SEP]")
    ids[:, 41:] = words.index("[PAD]")
    attention = (np.arange(64)[None, :] <= 40).astype(np.int32).repeat(512, 0)
    masked, chosen = (t.numpy() for t in masker(tf.constant(ids), tf.constant(attention), tf.constant([1, 2], tf.int64)))
    candidates = attention.astype(bool) & ~np.isin(ids, specials)
    assert not chosen[~candidates].any(), "special tokens and padding are never chosen"
    share = chosen.sum() / candidates.sum()
    assert 0.14 < share < 0.16, share
    to_mask = masked[chosen] == words.index("[MASK]")
    unchanged = masked[chosen] == ids[chosen]
    assert 0.78 < to_mask.mean() < 0.82
    random_share = (~to_mask & ~unchanged).mean()  # a random draw can land on the original token: counted unchanged
    assert 0.09 < random_share < 0.11 and 0.09 < unchanged.mean() < 0.11 + 1 / len(words) * 2
    assert (masked[~chosen] == ids[~chosen]).all()
    again = masker(tf.constant(ids), tf.constant(attention), tf.constant([1, 2], tf.int64))[1].numpy()
    other = masker(tf.constant(ids), tf.constant(attention), tf.constant([1, 3], tf.int64))[1].numpy()
    assert (again == chosen).all() and not (other == chosen).all(), "masks depend on the seed and only on it"


def test_whole_word_masking_masks_every_piece_of_a_word(vocab):
    import tensorflow as tf

    words = vocab(False)
    masker, _ = _masker(words, rate=0.3, whole_words=True)
    start, piece = words.index("movie"), words.index("##a")
    row = [words.index("[CLS]")] + [start, piece, piece, start, piece] * 6 + [words.index("[SEP]")]
    ids = tf.constant([row] * 200, tf.int32)
    chosen = masker(ids, tf.ones_like(ids), tf.constant([0, 5], tf.int64))[1].numpy()
    for r in chosen:
        for s in range(1, len(row) - 1):
            if row[s] == start:
                end = s + 1
                while end < len(row) - 1 and row[end] == piece:
                    end += 1
                assert len(set(r[s:end])) == 1, "a word is masked whole or not at all"
    assert 0.25 < chosen[:, 1:-1].mean() < 0.35


def test_electra_masking_leaves_the_replacements_to_the_generator(vocab):
    """ELECTRA's shares: 85% of the chosen tokens become [MASK], the rest stay; no random tokens."""
    import tensorflow as tf

    words = vocab(False)
    masker = _masker(words, rate=0.15, shares=(0.85, 0.0))[0]
    ids = np.random.default_rng(1).integers(5, len(words), size=(512, 48)).astype(np.int32)
    masked, chosen = (t.numpy() for t in masker(tf.constant(ids), tf.ones_like(ids), tf.constant([3, 4], tf.int64)))
    to_mask = masked[chosen] == words.index("[MASK]")
    assert 0.83 < to_mask.mean() < 0.87
    assert (masked[chosen][~to_mask] == ids[chosen][~to_mask]).all(), "the others stay as they were"


def test_inverse_cdf_sampling_draws_from_the_softmax():
    import tensorflow as tf

    from bert_cls.pretraining.objectives import sample_tokens

    probabilities = np.array([0.1, 0.6, 0.0, 0.3], np.float32)
    logits = tf.math.log(tf.constant(np.tile(probabilities + 1e-12, (20000, 1))))
    noise = tf.random.stateless_uniform([20000], [0, 1])
    drawn = sample_tokens(logits, noise).numpy()
    np.testing.assert_allclose(np.bincount(drawn, minlength=4) / 20000, probabilities, atol=0.01)
    edge = sample_tokens(tf.constant([[0.0, 0.0]]), tf.constant([0.9999999])).numpy()
    assert edge.tolist() == [1], "a draw at the top of the CDF stays in the vocabulary"


# ---- a run -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, corpus_tsv):
    from bert_cls.pretraining.run import pretrain

    out = tmp_path_factory.mktemp("pretrain") / "run"
    metrics = pretrain(tiny_pretrain_config(out, corpus_tsv))
    return out, metrics


def test_tiny_pretraining_lowers_held_out_masked_lm_loss(tiny_run):
    out, metrics = tiny_run
    history = json.loads((out / "pretrain_state.json").read_text())["history"]
    assert [r["step"] for r in history] == [10, 20, 30]
    vocab_size = len((out / "vocab.txt").read_text(encoding="utf-8").splitlines())
    # A model that guesses uniformly scores ln(vocabulary size); training keeps lowering the held-out loss.
    assert history[0]["val_loss"] < np.log(vocab_size)
    assert history[-1]["val_loss"] < history[1]["val_loss"] < history[0]["val_loss"] - 0.2
    assert metrics["steps"] == 30 and metrics["val_loss"] == history[-1]["val_loss"]
    for name in (
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "tf_model.h5",
        "README.md",
        "history.csv",
        "pretraining_curves.png",
        "pretrain_metrics.json",
    ):
        assert (out / name).is_file(), name
    assert not (out / "backup").exists()
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "step" and {"loss", "val_loss", "val_masked_accuracy", "sequences_per_second"} <= set(header)


def _fine_tune(checkpoint, output_dir, train_file):
    """One epoch of ``train --pretrained checkpoint`` on the tiny task."""
    from bert_cls.training.config import TrainConfig
    from bert_cls.training.run import train

    values = dict(epochs=1, batch_size=8, max_length=32, verbose=0, label_names="negative,positive", mixed_precision="no")
    return train(TrainConfig(output_dir=str(output_dir), train_file=str(train_file), pretrained=str(checkpoint), **values))


def test_output_loads_in_transformers_and_in_train(tiny_run, tmp_path, tiny_tsv):
    from transformers import AutoTokenizer, TFAutoModel

    out, _ = tiny_run
    model = TFAutoModel.from_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    encoded = tokenizer(["정말 재밌다"], return_tensors="tf")
    assert model(**encoded).last_hidden_state.shape[-1] == 32
    result = _fine_tune(out, tmp_path / "clf", tiny_tsv[0])
    assert result.metrics["validation"]["accuracy"] >= 0.0 and (tmp_path / "clf" / "metrics.json").is_file()


def test_continued_pretraining_keeps_the_checkpoint_vocabulary(tiny_checkpoint, corpus_tsv, tmp_path):
    from bert_cls.pretraining.run import pretrain

    config = tiny_pretrain_config(
        tmp_path / "more",
        corpus_tsv,
        pretrained=str(tiny_checkpoint),
        vocab_size=None,
        layers=None,
        hidden_size=None,
        heads=None,
        max_steps=10,
        save_steps=10,
    )
    metrics = pretrain(config)
    assert metrics["steps"] == 10
    assert (tmp_path / "more" / "vocab.txt").read_text() == (tiny_checkpoint / "vocab.txt").read_text()


@pytest.fixture(scope="module")
def electra_run(tmp_path_factory):
    """A tiny ELECTRA run on the bundled NSMC sample (real reviews): (output directory, metrics)."""
    from bert_cls.data.files import sample_path
    from bert_cls.pretraining.run import pretrain

    out = tmp_path_factory.mktemp("electra") / "run"
    config = tiny_pretrain_config(
        out,
        sample_path("train"),
        objective="electra",
        vocab_size=400,
        batch_size=32,
        max_steps=200,
        save_steps=50,
        max_validation_texts=200,
    )
    return out, pretrain(config)


def test_electra_pretraining_learns_to_tell_replaced_tokens(electra_run):
    """Within 200 steps the discriminator knows more than the share of replaced tokens: its held-out loss is below
    the entropy of that share (what predicting the share everywhere scores) by 0.070-0.074 in four seeded runs, and
    its accuracy above answering "original" everywhere (by 0.004-0.012: it rarely says "replaced" yet, so accuracy
    moves little); and the generator's masked-LM loss falls."""
    out, metrics = electra_run
    history = json.loads((out / "pretrain_state.json").read_text())["history"]
    assert [r["step"] for r in history] == [50, 100, 150, 200]
    assert metrics["objective"] == "electra"
    replaced = 1.0 - metrics["val_original_share"]
    share_entropy = -(replaced * math.log(replaced) + (1.0 - replaced) * math.log(1.0 - replaced))
    assert metrics["val_replaced_loss"] < share_entropy - 0.03, metrics
    assert metrics["val_replaced_accuracy"] > metrics["val_original_share"], metrics
    assert history[-1]["val_generator_loss"] < history[0]["val_generator_loss"]
    assert 0.0 < metrics["val_original_share"] < 1.0, "some tokens were replaced, not all"
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert {"replaced_accuracy", "val_replaced_accuracy", "val_original_share", "val_masked_accuracy"} <= set(header)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "electra" and config["architectures"] == ["ElectraForPreTraining"]
    assert "replaced-token accuracy" in (out / "README.md").read_text(encoding="utf-8")


def test_electra_checkpoint_loads_in_transformers_and_train_with_equal_outputs(electra_run, tmp_path, tiny_tsv):
    import tensorflow as tf
    from transformers import AutoTokenizer, TFElectraModel

    from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint

    out, _ = electra_run
    checkpoint = resolve_checkpoint(str(out))
    assert checkpoint.family.model_type == "electra"
    reference = TFElectraModel.from_pretrained(str(out))
    encoded = AutoTokenizer.from_pretrained(str(out))(["정말 재밌다", "시간 아깝네요 최악"], padding=True, return_tensors="tf")
    inputs = {k: tf.cast(v, tf.int32) for k, v in encoded.items()}
    expected = reference(**inputs).last_hidden_state.numpy()
    got = load_encoder(checkpoint)(**inputs).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    result = _fine_tune(out, tmp_path / "clf", tiny_tsv[0])
    assert result.classifier.config.family.model_type == "electra" and np.isfinite(result.history[0]["loss"])


def test_the_steps_are_traced_once_for_every_batch_shape(corpus_tsv, tmp_path, monkeypatch):
    """Bucketed batches differ in length (and the last held-out batch in size): one trace serves them all."""
    from bert_cls.pretraining import run as run_lib

    steps, shapes, real = [], [], run_lib.make_steps

    def recording(*args):
        train_step, eval_step = real(*args)
        steps.extend([train_step, eval_step])

        def train(batch):
            shapes.append(tuple(batch["input_ids"].shape))
            return train_step(batch)

        return train, eval_step

    monkeypatch.setattr(run_lib, "make_steps", recording)
    run_lib.pretrain(tiny_pretrain_config(tmp_path / "out", corpus_tsv, max_steps=12, save_steps=6, batch_size=24))
    assert len({length for _, length in shapes}) > 1, shapes
    assert [step.experimental_get_tracing_count() for step in steps] == [1, 1]


def test_interrupted_electra_run_resumes_to_the_weights_of_an_uninterrupted_one(corpus_tsv, tmp_path, monkeypatch):
    """Stopped right after its second commit (in this process), rerun: the discriminator's weights equal a straight
    run's, so the generator, its samples and the optimizer resumed too (masked LM: the SIGKILL test below)."""
    from bert_cls.pretraining import run as run_lib

    def config(name):
        return tiny_pretrain_config(tmp_path / name, corpus_tsv, objective="electra", max_steps=30, save_steps=10)

    run_lib.pretrain(config("straight"))
    real, commits = run_lib.finish_commit, []

    def stop_after_second(session):
        real(session)
        commits.append(session.state.steps_done)
        if len(commits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_lib, "finish_commit", stop_after_second)
    with pytest.raises(KeyboardInterrupt):
        run_lib.pretrain(config("stopped"))
    monkeypatch.setattr(run_lib, "finish_commit", real)
    assert json.loads((tmp_path / "stopped" / "pretrain_state.json").read_text())["steps_done"] == 20
    run_lib.pretrain(config("stopped"))
    straight, resumed = _h5_weights(tmp_path / "straight"), _h5_weights(tmp_path / "stopped")
    assert straight.keys() == resumed.keys() and len(straight) > 10
    assert max(float(np.max(np.abs(straight[k] - resumed[k]))) for k in straight) < 1e-6
    rows = [json.loads((tmp_path / d / "pretrain_state.json").read_text())["history"] for d in ("straight", "stopped")]
    assert np.allclose([r["val_loss"] for r in rows[0]], [r["val_loss"] for r in rows[1]], rtol=0, atol=1e-5)


def test_a_run_started_before_the_objective_flag_resumes_as_masked_lm(corpus_tsv, tmp_path):
    from bert_cls.pretraining.run import prepare_output_dir

    config = tiny_pretrain_config(tmp_path / "old", corpus_tsv)
    assert prepare_output_dir(config) is None
    stored = json.loads((tmp_path / "old" / "pretrain_config.json").read_text())
    for added in ("objective", "generator_size", "discriminator_weight"):
        del stored[added]
    (tmp_path / "old" / "pretrain_config.json").write_text(json.dumps(stored))
    prepare_output_dir(config)  # the same run: no error
    with pytest.raises(BertClsError, match="differs in objective"):
        prepare_output_dir(tiny_pretrain_config(tmp_path / "old", corpus_tsv, objective="electra"))


def _h5_weights(directory) -> dict:
    """``tf_model.h5``'s arrays by name, without the model's instance name (``tf_bert_for_masked_lm_1``: models
    built in one process are numbered)."""
    import h5py

    arrays = {}

    def keep(name, obj):
        if isinstance(obj, h5py.Dataset):
            layer, _, rest = name.split("/", 2)
            arrays[f"{layer}/{rest}"] = obj[()]

    with h5py.File(directory / "tf_model.h5", "r") as handle:
        handle.visititems(keep)
    return arrays


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(corpus_tsv, tmp_path):
    """SIGKILL after the first commit, rerun the command: the final weights equal an uninterrupted run's."""

    # Dropout 0 (the default): dropout's random draws are the one thing a resume does not replay.
    def command(out):
        return [
            sys.executable,
            "-m",
            "bert_cls",
            "pretrain",
            "--output-dir",
            str(out),
            "--train-file",
            str(corpus_tsv),
            "--vocab-size",
            "200",
            "--layers",
            "2",
            "--hidden-size",
            "32",
            "--heads",
            "2",
            "--max-length",
            "32",
            "--batch-size",
            "16",
            "--max-steps",
            "40",
            "--save-steps",
            "10",
            "--learning-rate",
            "2e-3",
            "--dropout",
            "0",
            "--validation-split",
            "0.1",
            "--mixed-precision",
            "no",
            "--verbose",
            "0",
        ]

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    assert main(command(tmp_path / "straight")[3:]) == 0  # the uninterrupted run in this process
    killed = subprocess.Popen(command(tmp_path / "killed"), env=env)
    state = tmp_path / "killed" / "pretrain_state.json"
    deadline = time.time() + 300
    while time.time() < deadline and killed.poll() is None:
        if state.is_file() and json.loads(state.read_text())["steps_done"] >= 10:
            killed.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert json.loads(state.read_text())["steps_done"] < 40
    subprocess.run(command(tmp_path / "killed"), check=True, env=env)

    straight, resumed = _h5_weights(tmp_path / "straight"), _h5_weights(tmp_path / "killed")
    assert straight.keys() == resumed.keys() and len(straight) > 10
    # Equal to float rounding (multi-threaded reductions sum in varying order): 1.5e-8 measured. A resume that
    # replayed other batches or masks would differ by far more.
    assert max(float(np.max(np.abs(straight[k] - resumed[k]))) for k in straight) < 1e-6
    history = [json.loads((tmp_path / d / "pretrain_state.json").read_text())["history"] for d in ("straight", "killed")]
    assert np.allclose([r["val_loss"] for r in history[0]], [r["val_loss"] for r in history[1]], rtol=0, atol=1e-5)
    assert [r["step"] for r in history[1]] == [10, 20, 30, 40]


# ---- input errors: one line, exit 2, nothing lost --------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--pretrained", "all-MiniLM-L6-v2", "--layers", "2"],
            "--pretrained continues a checkpoint with its own shape and vocabulary: drop --layers",
        ),
        (["--pretrained", "all-MiniLM-L6-v2", "--vocab-size", "900"], "drop --vocab-size"),
        (["--vocab-size", "4"], "--vocab-size 4 leaves no room"),
        (["--hidden-size", "30", "--heads", "4"], "must be a multiple of --heads"),
        (["--max-time", "soon"], "--max-time 'soon'"),
        (["--mask-rate", "1.5"], "--mask-rate must be between 0 and 1"),
        (["--objective", "electra", "--pretrained", "all-MiniLM-L6-v2"], "--objective electra pretrains a new ELECTRA model"),
        (["--objective", "electra", "--generator-size", "0"], "--generator-size must be above 0 and at most 1"),
    ],
)
def test_bad_flags_are_one_line_errors(flags, message, corpus_tsv, tmp_path, capsys):
    code = main(["pretrain", "--output-dir", str(tmp_path / "o"), "--train-file", str(corpus_tsv), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and message in err, err
    assert not any((tmp_path / "o").glob("*.h5"))


def test_text_files_with_no_usable_text_are_refused(tmp_path, write_tsv, capsys):
    empty = write_tsv(tmp_path / "empty.tsv", [("", 0), ("   ", 1)])
    code = main(["pretrain", "--output-dir", str(tmp_path / "o"), "--train-file", str(empty)])
    assert code == 2 and "holds no usable text for pretraining" in capsys.readouterr().err
    excluded = write_tsv(tmp_path / "all.tsv", [(t, 0) for t in CORPUS])
    code = main(["pretrain", "--output-dir", str(tmp_path / "o"), "--train-file", str(excluded), "--exclude-file", str(excluded)])
    assert code == 2 and f"{len(CORPUS)} excluded" in capsys.readouterr().err


def test_output_dir_of_another_run_is_not_overwritten(tiny_run, corpus_tsv, tmp_path, capsys):
    out, _ = tiny_run
    before = (out / "tf_model.h5").read_bytes()
    code = main(["pretrain", "--output-dir", str(out), "--train-file", str(corpus_tsv), "--vocab-size", "300"])
    assert code == 2 and "holds a different pretraining run" in capsys.readouterr().err
    config = tiny_pretrain_config(out, corpus_tsv)
    from bert_cls.pretraining.run import pretrain

    with pytest.raises(BertClsError, match="already holds this finished run"):
        pretrain(config)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code = main(["pretrain", "--output-dir", str(tmp_path / "other"), "--train-file", str(corpus_tsv)])
    assert code == 2 and "holds no bert-cls pretraining run" in capsys.readouterr().err
    assert (out / "tf_model.h5").read_bytes() == before and (tmp_path / "other" / "notes.txt").read_text() == "mine"


# ---- the shipped checkpoint ----------------------------------------------------------------------------


def test_shipped_nsmc_small_checkpoint_loads_and_has_its_card():
    from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint

    checkpoint = resolve_checkpoint("nsmc-small")
    total = sum(p.stat().st_size for p in checkpoint.path.iterdir())
    assert total < 25 * 2**20, total
    card = (checkpoint.path / "README.md").read_text(encoding="utf-8")
    for needed in ("bert-cls pretrain", "CC0", "Intended use", "Limits", "AMD EPYC"):
        assert needed in card, needed
    assert checkpoint.lower_case is False and "[MASK]" in checkpoint.vocabulary()
    encoder = load_encoder(checkpoint)
    assert encoder.config.num_hidden_layers == 4 and encoder.config.vocab_size == len(checkpoint.vocabulary())


def test_continued_pretraining_refuses_a_checkpoint_without_mask_or_too_short(tiny_checkpoint, corpus_tsv, tmp_path):
    import shutil

    from bert_cls.pretraining.run import pretrain

    shape = dict(vocab_size=None, layers=None, hidden_size=None, heads=None)
    with pytest.raises(BertClsError, match="over the checkpoint's position limit 64"):
        pretrain(tiny_pretrain_config(tmp_path / "long", corpus_tsv, pretrained=str(tiny_checkpoint), max_length=128, **shape))
    no_mask = tmp_path / "no_mask"
    shutil.copytree(tiny_checkpoint, no_mask)
    vocab = (no_mask / "vocab.txt").read_text(encoding="utf-8").replace("[MASK]\n", "[MASKED]\n")
    (no_mask / "vocab.txt").write_text(vocab, encoding="utf-8")
    with pytest.raises(BertClsError, match=r"has no \[MASK\] in its vocabulary"):
        pretrain(tiny_pretrain_config(tmp_path / "o", corpus_tsv, pretrained=str(no_mask), **shape))


@pytest.mark.parametrize("stopped_before", ["plot_pretraining", "write_model_card", "rmtree"])
def test_a_run_stopped_after_its_final_commit_is_completed_without_training_again(
    corpus_tsv, tmp_path, monkeypatch, stopped_before
):
    """Killed between the final commit and the end of finish: the rerun writes what is missing and trains nothing."""
    from bert_cls.pretraining import run

    config = tiny_pretrain_config(tmp_path / "out", corpus_tsv, max_steps=10, save_steps=10)
    target = run.shutil if stopped_before == "rmtree" else run
    original = getattr(target, stopped_before)

    def killed(*args, **kwargs):
        if stopped_before == "rmtree" and not str(args[0]).endswith(run.BACKUP_DIR):  # other rmtree calls run
            return original(*args, **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(target, stopped_before, killed)
        with pytest.raises(KeyboardInterrupt):
            run.pretrain(config)
    assert getattr(target, stopped_before) is original
    out = tmp_path / "out"
    state = json.loads((out / run.STATE_FILE).read_text())
    assert state["finished"] and (out / run.BACKUP_DIR).is_dir()
    weights, history = (out / "tf_model.h5").read_bytes(), (out / run.HISTORY_CSV).read_text()
    trained = []
    monkeypatch.setattr(run, "train_loop", lambda *args: trained.append(args))
    metrics = run.pretrain(config)
    assert trained == [] and metrics["steps"] == 10
    assert (out / run.MODEL_CARD).is_file() and (out / run.CURVES_PNG).is_file() and (out / run.METRICS_JSON).is_file()
    assert not (out / run.BACKUP_DIR).exists()
    assert (out / "tf_model.h5").read_bytes() == weights and (out / run.HISTORY_CSV).read_text() == history
    with pytest.raises(BertClsError, match="already holds this finished run"):
        run.pretrain(config)


def test_a_vocabulary_size_below_the_texts_characters_is_warned_about(corpus_tsv, tmp_path, capsys):
    from bert_cls.pretraining.corpus import open_corpus
    from bert_cls.pretraining.run import prepare_vocabulary

    config = tiny_pretrain_config(tmp_path / "out", corpus_tsv, vocab_size=8)
    (tmp_path / "out").mkdir()
    vocabulary, _ = prepare_vocabulary(config, open_corpus(config), tmp_path / "out", None)
    err = capsys.readouterr().err
    assert len(vocabulary) > 8
    assert "warning: --vocab-size 8 is below what the texts need" in err and f"the vocabulary has {len(vocabulary)}" in err
    config = tiny_pretrain_config(tmp_path / "big", corpus_tsv, vocab_size=5000)
    (tmp_path / "big").mkdir()
    prepare_vocabulary(config, open_corpus(config), tmp_path / "big", None)
    assert "warning" not in capsys.readouterr().err
