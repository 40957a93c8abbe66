"""Streaming training data from files: the counting pass, stratified split/sample from counts, sharding."""

import numpy as np
import pytest

from bert_cls.data import splits, stream
from bert_cls.data.files import read_dataset
from bert_cls.errors import BertClsError

COLUMNS = stream.Columns()


@pytest.fixture
def files(tmp_path, write_tsv):
    """Three files of an imbalanced 3-class task, with empty texts, split over files unevenly."""
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=500, p=[0.6, 0.3, 0.1])
    rows = [(f"text {i}" if i % 50 else "", int(y)) for i, y in enumerate(labels)]
    return [write_tsv(tmp_path / f"part-{k}.tsv", part) for k, part in enumerate((rows[:100], rows[100:350], rows[350:]))]


def _rows(dataset, **kwargs):
    return [(t["text"].decode(), int(y)) for t, y in dataset.elements(**kwargs).as_numpy_iterator()]


def test_counting_pass_keeps_counts_and_matches_reading_everything(files):
    census = stream.count_files(",".join(map(str, files)), COLUMNS)
    in_memory = read_dataset(files)
    assert census.per_file_counts.sum() == len(in_memory) and census.dropped_empty == in_memory.dropped_empty == 10
    np.testing.assert_array_equal(census.class_counts, np.bincount(in_memory.labels))
    everything = stream.FileDataset.everything(census, COLUMNS)
    assert _rows(everything) == list(zip(in_memory.texts, in_memory.labels.tolist()))


@pytest.mark.parametrize("fraction, seed", [(0.1, 42), (0.25, 1)])
def test_split_and_sample_pick_the_rows_the_in_memory_splits_pick(files, fraction, seed):
    in_memory = read_dataset(files)
    full = stream.FileDataset.everything(stream.count_files(files, COLUMNS), COLUMNS)
    train, val = full.split(fraction, seed)
    train_idx, val_idx = splits.stratified_split(in_memory.labels, fraction, seed)
    assert sorted(t for t, _ in _rows(val)) == sorted(in_memory.texts[i] for i in val_idx)
    assert sorted(t for t, _ in _rows(train)) == sorted(in_memory.texts[i] for i in train_idx)
    assert len(train) + len(val) == len(in_memory) and len(val) == len(val_idx)
    np.testing.assert_array_equal(np.sort(val.labels), np.sort(in_memory.labels[val_idx]))

    kept = splits.stratified_sample(in_memory.labels, 120, seed)
    sampled = full.sample(120, seed)
    assert [t for t, _ in _rows(sampled)] == [in_memory.texts[i] for i in kept]
    # then split within the sample, as `--max-train-samples` with `--validation-split` does
    sub = in_memory.subset(kept)
    sub_train, sub_val = splits.stratified_split(sub.labels, fraction, seed)
    s_train, s_val = sampled.split(fraction, seed)
    assert sorted(t for t, _ in _rows(s_val)) == sorted(sub.texts[i] for i in sub_val)
    assert len(s_train) == len(sub_train)


def test_workers_read_disjoint_files_that_together_hold_every_row(files):
    full = stream.FileDataset.everything(stream.count_files(files, COLUMNS), COLUMNS)
    train, _ = full.split(0.1, 42)
    shards = [_rows(train, shard=(2, i)) for i in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(_rows(train))
    assert not set(shards[0]) & set(shards[1])
    assert {t for t, _ in shards[1]} <= {f"text {i}" for i in range(100, 350)}  # worker 1 reads part-1 only


def test_held_out_label_unseen_in_training_is_an_error(tmp_path, write_tsv, files):
    census = stream.count_files(files, COLUMNS)
    named = write_tsv(tmp_path / "v.tsv", [("a", 0), ("b", 7)])
    with pytest.raises(BertClsError, match=r"v\.tsv:3: label 7, but only 3 label names are known"):
        stream.count_files(named, COLUMNS, label_names=census.label_names, strict_label_names=True)


@pytest.mark.parametrize("seed", range(5))
def test_allocate_chooses_exactly_the_total_in_proportion(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 40, size=rng.integers(1, 30))
    counts[0] = max(counts[0], 2)
    for total in sorted({0, 1, int(counts.sum()) // 10, int(counts.sum()) // 2, int(counts.sum())}):
        chosen = splits.allocate(counts, total)
        assert chosen.sum() == total and (0 <= chosen).all() and (chosen <= counts).all()
        assert np.abs(chosen - counts * total / counts.sum()).max() < 2  # proportional, up to the one-row bounds
    two_or_more = counts >= 2
    enough = splits.allocate(counts, int(two_or_more.sum()) + 3)
    assert (enough[two_or_more] >= 1).all() and (enough[two_or_more] < counts[two_or_more]).all()


def test_sample_and_split_counts_add_up_for_single_label_multi_label_and_pairs(tmp_path, write_tsv):
    """--max-train-samples N gives N rows, and a split of them holds out round(N x fraction)."""
    rng = np.random.default_rng(3)
    single = write_tsv(tmp_path / "single.tsv", [(f"t {i}", int(y)) for i, y in enumerate(rng.choice(3, 997, p=[0.7, 0.2, 0.1]))])
    names = ["a", "b", "c", "d", "e"]
    multi = tmp_path / "multi.tsv"
    rows = [",".join(sorted(set(rng.choice(names, rng.integers(1, 4))))) for _ in range(700)]
    multi.write_text("document\tlabel\n" + "".join(f"text {i}\t{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("document\tsecond\tlabel\n" + "".join(f"a {i}\tb {i}\t{i % 3}\n" for i in range(401)), encoding="utf-8")
    cases = [(single, stream.Columns()), (multi, stream.Columns(multi_label=True)), (pairs, stream.Columns(pair_column="second"))]
    for path, columns in cases:
        full = stream.FileDataset.everything(stream.count_files(str(path), columns), columns)
        for n, fraction in ((300, 0.1), (333, 0.25), (len(full), 0.1)):
            sampled = full.sample(n, seed=7)
            train, val = sampled.split(fraction, seed=7)
            assert len(sampled) == n and len(train) + len(val) == n, path
            assert len(val) == round(n * fraction), (path, n, len(val))
            assert len(list(val.elements().as_numpy_iterator())) == len(val)
