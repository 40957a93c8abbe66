import urllib.error

import numpy as np
import pytest

from bert_cls.data import files as data_lib
from bert_cls.data import pipeline, splits
from bert_cls.errors import BertClsError


def test_read_dataset_drops_and_counts_empty_documents(tmp_path, write_tsv):
    path = write_tsv(tmp_path / "d.tsv", [("좋다", 1), ("   ", 0), ("나쁘다", 0), ("", 1)])
    ds = data_lib.read_dataset(path, label_names=["neg", "pos"])
    assert ds.texts == ["좋다", "나쁘다"]
    assert ds.labels.tolist() == [1, 0]
    assert ds.dropped_empty == 2
    assert ds.label_names == ("neg", "pos")


def test_mixed_integer_and_string_labels_name_both_rows(tmp_path, write_tsv):
    path = write_tsv(tmp_path / "d.tsv", [("좋다", 1), ("나쁘다", "positive")])
    with pytest.raises(BertClsError, match=r"mixes integer and string labels \(.*d\.tsv:2 has '1', .*d\.tsv:3 has 'positive'\)"):
        data_lib.read_dataset(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("id\ttext\tlabel\n1\tx\t0\n", "no column 'document'"),
        ("", "is empty"),
        ("id\tdocument\tlabel\n1\tx\n", "2 fields where the header has 3"),
        ("id\tdocument\tlabel\n1\tx\t-1\n", "negative label"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BertClsError, match=message):
        data_lib.read_dataset(path)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(BertClsError, match="data file not found"):
        data_lib.read_dataset(tmp_path / "nope.tsv")
    path = tmp_path / "cp949.tsv"
    path.write_bytes("id\tdocument\tlabel\n1\t영화\t1\n".encode("cp949"))
    with pytest.raises(BertClsError, match="not UTF-8"):
        data_lib.read_dataset(path)


def test_multiclass_and_label_names(tmp_path, write_tsv):
    path = write_tsv(tmp_path / "d.tsv", [("a", 0), ("b", 2), ("c", 1)])
    assert data_lib.read_dataset(path).label_names == ("0", "1", "2")
    with pytest.raises(BertClsError, match="only 2 label names"):
        data_lib.read_dataset(path, label_names=["x", "y"])


def test_stratified_split_is_reproducible_and_stratified():
    labels = np.array([0] * 80 + [1] * 20)
    train_a, val_a = splits.stratified_split(labels, 0.25, seed=3)
    train_b, val_b = splits.stratified_split(labels, 0.25, seed=3)
    assert train_a.tolist() == train_b.tolist() and val_a.tolist() == val_b.tolist()
    assert sorted(np.concatenate([train_a, val_a]).tolist()) == list(range(100))
    assert (labels[val_a] == 0).sum() == 20 and (labels[val_a] == 1).sum() == 5
    _, val_c = splits.stratified_split(labels, 0.25, seed=4)
    assert val_c.tolist() != val_a.tolist()
    with pytest.raises(BertClsError, match="between 0 and 1"):
        splits.stratified_split(labels, 1.5, seed=0)


def test_bundled_sample_is_balanced_nsmc():
    train = data_lib.read_dataset(data_lib.sample_path("train"))
    test = data_lib.read_dataset(data_lib.sample_path("test"))
    assert len(train) == 4000 and len(test) == 1000
    assert train.labels.mean() == pytest.approx(0.5)
    assert not set(train.texts) & set(test.texts) or len(set(train.texts) & set(test.texts)) < 10


def test_git_blob_sha1_matches_git():
    # `printf 'hello\n' | git hash-object --stdin`
    assert data_lib.git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_download_offline_says_how_to_use_local_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(data_lib.urllib.request, "urlopen", offline)
    with pytest.raises(BertClsError, match="--train-file/--test-file"):
        data_lib.download_nsmc(tmp_path)


def test_download_rejects_a_corrupt_file(tmp_path, monkeypatch):
    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"id\tdocument\tlabel\n"

    monkeypatch.setattr(data_lib.urllib.request, "urlopen", lambda *a, **k: Response())
    with pytest.raises(BertClsError, match="git blob SHA-1"):
        data_lib.download_nsmc(tmp_path)
    assert not (tmp_path / "nsmc" / "ratings_train.txt").exists()


def _token_lengths(vocab):
    from bert_cls.modeling.tokenizer import BertTokenizerLayer

    return BertTokenizerLayer(vocab(), lower_case=True, max_length=64).token_lengths


def _varied_dataset(n, seed=0):
    rng = np.random.default_rng(seed)
    words = ["good", "movie", "bad", "the", "abc", "정말", "재밌다"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 30)))) + f" {i}" for i in range(n)]
    return data_lib.TextDataset(texts, np.arange(n) % 2, ("a", "b"))


@pytest.mark.parametrize("n", [10, 95, 1234])  # under a mega-batch of 50 batches, several, not a multiple
def test_token_length_batching_keeps_every_example_once_and_the_batch_size(vocab, n):
    ds = _varied_dataset(n)
    token_lengths = _token_lengths(vocab)
    batches = list(pipeline.make_tf_dataset(ds, 8, shuffle=True, seed=1, token_lengths=token_lengths).as_numpy_iterator())
    texts = [t.decode() for features, _ in batches for t in features["text"]]
    assert sorted(texts) == sorted(ds.texts)  # every example exactly once
    labels = {t.decode(): int(y) for features, label in batches for t, y in zip(features["text"], label)}
    assert all(labels[t] == y for t, y in zip(ds.texts, ds.labels))  # labels travel with their texts
    sizes = [len(features["text"]) for features, _ in batches]
    assert sizes.count(8) >= len(sizes) - 1 and all(s <= 8 for s in sizes)  # at most one partial batch
    assert len(sizes) == -(-n // 8)


def test_token_length_batching_wastes_little_padding_and_reshuffles(vocab):
    ds = _varied_dataset(640)
    token_lengths = _token_lengths(vocab)
    grouped = pipeline.make_tf_dataset(ds, 32, shuffle=True, seed=0, token_lengths=token_lengths)
    in_order = pipeline.make_tf_dataset(ds, 32, shuffle=True, seed=0)
    grouped_share = pipeline.useful_token_share(grouped, token_lengths)
    assert grouped_share >= 0.9 > pipeline.useful_token_share(in_order, token_lengths)
    first, second = ([tuple(f["text"][:2]) for f, _ in grouped.as_numpy_iterator()] for _ in range(2))
    assert first != second  # a new order of batches each epoch


def test_repeated_grouped_stream_has_only_full_batches(vocab):
    ds = _varied_dataset(12)
    stream = pipeline.make_tf_dataset(ds, 4, shuffle=True, seed=0, repeat=True, token_lengths=_token_lengths(vocab))
    sizes = [len(features["text"]) for features, _ in stream.take(20).as_numpy_iterator()]
    assert sizes == [4] * 20


def test_token_lengths_match_the_tokenizer_output(vocab):
    from bert_cls.modeling.tokenizer import BertTokenizerLayer

    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=16)
    texts = ["good movie", "", "정말 재밌다 " * 10, "abc"]
    pairs = ["bad", "the movie " * 10, "", "정말"]
    for inputs in (texts, (texts, pairs)):
        mask = layer(inputs)["attention_mask"].numpy()
        assert layer.token_lengths(inputs).numpy().tolist() == mask.sum(1).tolist()


def test_length_sorted_validation_gives_the_metrics_of_file_order(tiny_checkpoint):
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.keras_compat import keras
    from bert_cls.modeling.pretrained import resolve_checkpoint
    from bert_cls.training.macro_f1 import MacroF1

    ds = _varied_dataset(300, seed=3)
    tiny_classifier = BertClassifier.from_checkpoint(resolve_checkpoint(str(tiny_checkpoint)), ["a", "b"], 32)
    model = tiny_classifier.text_model  # compiled here: a classifier of its own
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), MacroF1(2)],
    )
    token_lengths = tiny_classifier.pipeline_tokenizer().token_lengths
    in_order = pipeline.make_tf_dataset(ds, 32)
    by_length = pipeline.make_tf_dataset(ds, 32, token_lengths=token_lengths)
    first = [len(f["text"]) for f, _ in by_length.as_numpy_iterator()]
    assert first == [len(f["text"]) for f, _ in by_length.as_numpy_iterator()]  # no shuffling: same order twice
    assert pipeline.useful_token_share(by_length, token_lengths) > pipeline.useful_token_share(in_order, token_lengths)
    expected = model.evaluate(in_order, verbose=0, return_dict=True)
    got = model.evaluate(by_length, verbose=0, return_dict=True)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-5), name
