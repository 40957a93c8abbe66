"""Shared fixtures: tiny BERT checkpoints (2 layers, hidden 32), a tiny classifier built once per session,
tiny NSMC-format files, and factories for TSV files and training configs.

Tests use these as fixtures (never ``from conftest import``); what several tests can share
read-only is session-scoped, so the suite builds each tiny model once."""

import json
import random
import unicodedata

import bert_cls  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import pytest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HANGUL = list("영화정말재밌다최악이고별로좋은연기스토리감동지루한시간아깝네요")
ASCII = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?~")


def pytest_collection_modifyitems(items):
    # The slow end-to-end tests (several processes, real checkpoints) first: started last, one of them kept a worker
    # busy for a minute after the other had finished. A stable sort, the same on every worker (xdist compares).
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """``--mixed-precision auto``'s timings (bert_cls.training.precision_timing) go to a cache of this test run,
    never the user's ``~/.cache``; the xdist workers of one run share it, as the processes of one machine do."""
    import os

    base = tmp_path_factory.getbasetemp()
    run_root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # popen-gwN's parent: this run's
    cache = run_root / "xdg_cache"
    cache.mkdir(exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(cache)


def tiny_vocab(cased: bool = False) -> list:
    # Uncased BERT decomposes Hangul syllables into jamo (NFD), so an uncased vocab holds jamo.
    hangul = HANGUL if cased else sorted(set(unicodedata.normalize("NFD", "".join(HANGUL))))
    pieces = ASCII + (list("ABCDEFGHIJ") if cased else []) + hangul
    words = ["movie", "good", "bad", "the", "was", "this"] + (["Movie", "Good"] if cased else [])
    return SPECIALS + words + pieces + ["##" + p for p in pieces]


POSITIVE = ["정말 재밌다", "감동 연기 좋은 영화", "good movie", "스토리 좋은 영화 정말", "재밌네요 good"]
NEGATIVE = ["최악이고 지루한 영화", "시간 아깝네요", "bad movie", "별로 지루한 스토리", "최악 bad"]


def _write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id\tdocument\tlabel\n")
        for i, (text, label) in enumerate(rows):
            handle.write(f"{i}\t{text}\t{label}\n")
    return path


@pytest.fixture(scope="session")
def write_tsv():
    """``write_tsv(path, [(text, label), ...])`` writes an NSMC-format file and returns its path."""
    return _write_tsv


@pytest.fixture(scope="session")
def vocab():
    """``vocab(cased)``: the tiny WordPiece vocabulary of the tiny checkpoints."""
    return tiny_vocab


@pytest.fixture(scope="session")
def tiny_tsv(tmp_path_factory):
    """(train, test) TSVs of a toy sentiment task the tiny model can learn (read-only: shared)."""
    rng = random.Random(0)
    rows = [(t, 1) for t in POSITIVE] * 12 + [(t, 0) for t in NEGATIVE] * 12
    rng.shuffle(rows)
    directory = tmp_path_factory.mktemp("tiny_tsv")
    return _write_tsv(directory / "train.tsv", rows), _write_tsv(directory / "test.tsv", rows[:20])


def make_tiny_checkpoint(directory, cased=False, max_position_embeddings=64):
    """A tiny checkpoint directory (config.json, vocab.txt, tokenizer_config.json, tf_model.h5)."""
    from bert_cls.modeling.keras_compat import keras
    from transformers import BertConfig, TFBertModel

    directory.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab(cased)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": not cased}))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
    )
    keras.utils.set_random_seed(0)  # the same tiny checkpoint every session: tests do not depend on a lucky draw
    model = TFBertModel(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_classifier(tiny_checkpoint):
    """One untrained tiny classifier for the session: tests may read and export it, not train it."""
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.pretrained import resolve_checkpoint

    return BertClassifier.from_checkpoint(resolve_checkpoint(str(tiny_checkpoint)), ["negative", "positive"], 16, 0.1)


@pytest.fixture(scope="session")
def train_config(tiny_tsv, tiny_checkpoint):
    """``train_config(output_dir, **overrides)``: a ``TrainConfig`` for the tiny task and checkpoint."""
    from bert_cls.training.config import TrainConfig

    def make(output_dir, **overrides):
        values = dict(
            output_dir=str(output_dir),
            train_file=str(tiny_tsv[0]),
            pretrained=str(tiny_checkpoint),
            epochs=2,
            batch_size=8,
            max_length=16,
            learning_rate=1e-3,
            validation_split=0.2,
            seed=1,
            verbose=0,
            label_names="negative,positive",
            # float32 unless a test asks: --mixed-precision auto's timing (once per model shape and run) is tested
            # where it is requested, and the families' test trains in mixed_bfloat16 on every CPU
            mixed_precision="no",
        )
        values.update(overrides)
        return TrainConfig(**values)

    return make


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, tiny_classifier):
    """A base path holding version 1 of ``tiny_classifier``'s export (unverified: export_test verifies).
    Read-only: copy it (``shutil.copytree``) before adding or changing versions."""
    from bert_cls.serving.export import export_classifier

    base = tmp_path_factory.mktemp("tiny_export")
    export_classifier(tiny_classifier, base, model_name="toy", verify=False)
    return base
