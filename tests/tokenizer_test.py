import numpy as np
import pytest
from family_checkpoints import HARD_STRINGS

from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.tokenizer import BertTokenizerLayer


def _hf_ids(vocab, tmp_path, lower, texts, max_length):
    from transformers import BertTokenizer

    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(path), do_lower_case=lower)
    return [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]


def _layer_ids(layer, texts):
    out = layer(tf.constant(texts))
    ids, mask = out["input_ids"].numpy(), out["attention_mask"].numpy()
    return [row[m == 1].tolist() for row, m in zip(ids, mask)]


TEXTS = ["정말 재밌다!!", "The Movie was GOOD", "bad,bad movie?", "최악이고 지루한 영화 ㅋㅋ", "", "Ábc déf"]


@pytest.mark.parametrize("cased", [False, True])
def test_ids_match_transformers_tokenizer(tmp_path, cased, vocab):
    vocab = vocab(cased)
    layer = BertTokenizerLayer(vocab, lower_case=not cased, max_length=32)
    assert _layer_ids(layer, TEXTS) == _hf_ids(vocab, tmp_path, not cased, TEXTS, 32)


def test_truncation_and_per_batch_padding(vocab):
    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=8)
    out = layer(tf.constant(["a b", "a b c d e f g h i j k"]))
    assert out["input_ids"].shape == (2, 8)
    assert out["attention_mask"].numpy().sum(1).tolist() == [4, 8]
    assert out["input_ids"].numpy()[1, -1] == layer.end_id
    short = layer(tf.constant(["a", "a b"]))
    assert short["input_ids"].shape == (2, 4)  # padded to the batch's longest, not max_length
    assert short["token_type_ids"].numpy().max() == 0


def test_invalid_utf8_and_empty_batch(vocab):
    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=8)
    out = layer(tf.constant([b"\xff\xfe good", b""]))
    assert out["input_ids"].shape[0] == 2
    empty = layer(tf.constant([], dtype=tf.string))
    assert empty["input_ids"].shape[0] == 0


def test_rejects_vocab_without_special_tokens():
    with pytest.raises(ValueError, match="special tokens"):
        BertTokenizerLayer(["a", "b"], lower_case=True)


def test_get_config_round_trip(vocab):
    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=12)
    clone = BertTokenizerLayer.from_config(layer.get_config())
    assert _layer_ids(clone, TEXTS) == _layer_ids(layer, TEXTS)


@pytest.fixture(scope="module")
def korean_vocab(tmp_path_factory):
    """``korean_vocab(lower)``: (WordPiece vocabulary trained on the bundled NSMC sample, the reviews)."""
    from tokenizers import BertWordPieceTokenizer

    from bert_cls.data.files import read_dataset, sample_path

    texts = read_dataset(sample_path("train")).texts + read_dataset(sample_path("test")).texts
    vocabs = {}
    for lower in (False, True):
        trainer = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=lower, lowercase=lower)
        trainer.train_from_iterator(texts, vocab_size=8000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        vocabs[lower] = [t for t, _ in sorted(trainer.get_vocab().items(), key=lambda kv: kv[1])]
    return lambda lower: (vocabs[lower], texts)


def _ids_in_batches(layer, texts, pairs=None, size=500):
    got = []
    for start in range(0, len(texts), size):
        batch = tf.constant(texts[start : start + size])
        out = layer(batch if pairs is None else (batch, tf.constant(pairs[start : start + size])))
        ids, types, mask = (out[k].numpy() for k in ("input_ids", "token_type_ids", "attention_mask"))
        got += [(i[m == 1].tolist(), t[m == 1].tolist()) for i, t, m in zip(ids, types, mask)]
    return got


@pytest.mark.parametrize("lower", [False, True])
def test_ids_match_transformers_on_korean_vocab(tmp_path, korean_vocab, lower):
    """5,000 NSMC reviews and the hard strings, with a Korean vocabulary, against transformers' BertTokenizer.

    Read uncased, Hangul decomposes into jamo, so long unspaced reviews cross the 100-character word
    limit; ZWJ, BOM, soft hyphen and control characters are dropped, not word breaks.
    """
    from transformers import BertTokenizer

    vocab, texts = korean_vocab(lower)
    texts = texts + HARD_STRINGS
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    reference = BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=lower)
    expected = [reference(t, truncation=True, max_length=128)["input_ids"] for t in texts]
    got = [ids for ids, _ in _ids_in_batches(BertTokenizerLayer(vocab, lower_case=lower, max_length=128), texts)]
    mismatches = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not mismatches, f"{len(mismatches)} texts differ, first: {texts[mismatches[0]]!r}"
    unk = vocab.index("[UNK]")
    assert got[texts.index("가" * 500)] == [vocab.index("[CLS]"), unk, vocab.index("[SEP]")]
    assert np.mean([len(x) for x in got]) > 10


@pytest.mark.parametrize("lower", [False, True])
def test_pairs_match_transformers_fast_longest_first(tmp_path, korean_vocab, lower):
    """1,500 review pairs and pairs of equal length: ids and token types of the fast (Rust) tokenizer
    ``BertTokenizerFast(a, b, truncation=True, max_length=L)``, at odd and even budgets."""
    from transformers import BertTokenizerFast

    vocab, texts = korean_vocab(lower)
    first, second = texts[:1500], texts[1500:3000][::-1]
    second[:3] = ["", "", HARD_STRINGS[7]]  # empty second segments; a long one
    first, second = first + ["가 나 다 라 " * 40] * 2, second + ["가 나 다 라 " * 40, "라 다 " * 80]  # equal lengths
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    reference = BertTokenizerFast(str(tmp_path / "vocab.txt"), do_lower_case=lower)
    for max_length in (24, 61, 48, 49):
        # Called on lists, as a datasets.map for Trainer calls it (called on one pair, transformers encodes a pair
        # whose second text is "" as a single text; in a batch it is a pair).
        batch = reference(first, second, truncation=True, max_length=max_length)
        expected = list(zip(batch["input_ids"], batch["token_type_ids"]))
        got = _ids_in_batches(BertTokenizerLayer(vocab, lower_case=lower, max_length=max_length), first, second)
        mismatches = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
        assert not mismatches, f"max_length {max_length}: {len(mismatches)} pairs differ, first: {first[mismatches[0]]!r}"
        assert sum(len(ids) == max_length for ids, _ in got) > 100  # truncation was exercised


def test_pair_packing(vocab):
    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=9)
    out = layer((tf.constant(["a b c d e f", "a"]), tf.constant(["a b", ""])))
    ids, types, mask = (out[k].numpy() for k in ("input_ids", "token_type_ids", "attention_mask"))
    assert ids.shape == (2, 9)
    # 6 + 2 tokens into a budget of 6: the longer first segment gives up two
    assert types[0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert ids[0, 5] == layer.end_id and ids[0, 8] == layer.end_id
    # an empty second segment still gets its [SEP]
    assert mask[1].sum() == 4 and types[1][:4].tolist() == [0, 0, 0, 1] and ids[1, 3] == layer.end_id


def test_pairs_pad_to_a_multiple_within_max_length(vocab):
    layer = BertTokenizerLayer(vocab(), lower_case=True, max_length=12, pad_to_multiple_of=8)
    out = layer({"text": tf.constant(["a b", "a"]), "text_pair": tf.constant(["c", ""])})  # tf.data features
    assert out["input_ids"].shape == (2, 8) and out["attention_mask"].numpy().sum(1).tolist() == [6, 4]
    long = layer((tf.constant(["a b c d e f g h"]), tf.constant(["a b c d e f"])))
    assert long["input_ids"].shape == (1, 12)  # capped at max_length, not rounded up to 16
