import numpy as np
import pytest

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
    assert out["input_ids"].numpy()[1, -1] == layer.sep_id
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


@pytest.mark.slow
@pytest.mark.parametrize("lower", [True, False])
def test_ids_match_on_1000_nsmc_reviews_with_minilm_vocab(lower):
    """The uncased MiniLM vocab, also read as cased, against transformers on real reviews."""
    from transformers import BertTokenizer

    from bert_cls.data.files import read_dataset, sample_path
    from bert_cls.modeling.pretrained import resolve_checkpoint

    checkpoint = resolve_checkpoint("all-MiniLM-L6-v2")
    texts = read_dataset(sample_path("train")).texts[:1000]
    reference = BertTokenizer(str(checkpoint.vocab_file), do_lower_case=lower)
    expected = [reference(t, truncation=True, max_length=128)["input_ids"] for t in texts]
    layer = BertTokenizerLayer(checkpoint.vocabulary(), lower_case=lower, max_length=128)
    got = []
    for start in range(0, len(texts), 250):
        got += _layer_ids(layer, texts[start : start + 250])
    mismatches = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not mismatches, f"{len(mismatches)} reviews differ, first: {texts[mismatches[0]]!r}"
    assert np.mean([len(x) for x in got]) > 10
