"""Every encoder family on tiny random checkpoints: the in-graph tokenizer against the checkpoint's own
transformers tokenizer, training and export for each family, ``bert-cls import`` against transformers'
TensorFlow classifiers, and the errors of checkpoints bert-cls cannot use."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from family_checkpoints import FAMILIES, HARD_STRINGS, make_checkpoint, sample_texts

from bert_cls.cli import main
from bert_cls.modeling.keras_compat import tf

NO_TOKEN_TYPES = ("roberta", "xlm-roberta", "distilbert", "deberta-v2")


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    """``encoders(model_type)``: a tiny encoder checkpoint of that family, made once per module."""
    made = {}

    def get(model_type):
        if model_type not in made:
            made[model_type] = make_checkpoint(tmp_path_factory.mktemp(model_type), model_type)
        return made[model_type]

    return get


def _ids(layer, texts, pairs=None, size=500):
    """Per text: (ids, token types or None) without padding."""
    got = []
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        out = layer(batch if pairs is None else (batch, pairs[start : start + size]))
        mask = out["attention_mask"].numpy()
        types = out["token_type_ids"].numpy() if "token_type_ids" in out else None
        got += [
            (row[m == 1].tolist(), None if types is None else types[i][m == 1].tolist())
            for i, (row, m) in enumerate(zip(out["input_ids"].numpy(), mask))
        ]
    return got


def _expected(reference, texts, pairs, max_length, with_types, layer):
    """Single texts: the reference tokenizer's own output. Pairs: its pieces of each segment, truncated and packed
    by the fast tokenizers' Rust ``longest_first`` (``_fast_packer``), the split ``AutoTokenizer`` users train with."""
    if pairs is not None:
        return _fast_packed(reference, texts, pairs, max_length, with_types, layer)
    expected = []
    for text in texts:
        encoded = reference(text, truncation=True, max_length=max_length)
        expected.append((encoded["input_ids"], encoded["token_type_ids"] if with_types else None))
    return expected


def _fast_packer(layer, max_length: int):
    """A ``tokenizers`` (Rust) tokenizer whose words are token ids (``t5`` is id 5), with the family's special-token
    template and ``longest_first`` truncation: the fast tokenizers' own truncation applied to given pieces."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    specials = {"[S]": layer.start_id, "[E]": layer.end_id, **{f"[M{i}]": m for i, m in enumerate(layer.middle_ids)}}
    middle = " ".join(f"[M{i}]" for i in range(len(layer.middle_ids)))
    packer = Tokenizer(models.WordLevel({f"t{i}": i for i in range(250_100)}, unk_token="t0"))
    packer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    packer.post_processor = processors.TemplateProcessing(
        single="[S] $A [E]", pair=f"[S] $A {middle} $B:1 [E]:1", special_tokens=list(specials.items())
    )
    packer.enable_truncation(max_length=max_length, strategy="longest_first")
    return packer


def _fast_packed(reference, texts, pairs, max_length, with_types, layer):
    packer, expected = _fast_packer(layer, max_length), []
    for text, pair in zip(texts, pairs):
        a, b = (" ".join(f"t{i}" for i in reference(t, add_special_tokens=False)["input_ids"]) for t in (text, pair))
        encoded = packer.encode(a, b)
        expected.append((encoded.ids, encoded.type_ids if with_types else None))
    return expected


def _tie(reference, got, expected) -> bool:
    """Two SentencePiece segmentations of one text into the same pieces in another order: the same score, so
    either is the best, and which one a Viterbi search returns is floating-point rounding (``.`` + ``...`` or
    ``...`` + ``.`` in a run of dots). Types and lengths must still agree."""
    (ids, types), (ids_expected, types_expected) = got, expected
    pieces, pieces_expected = (reference.convert_ids_to_tokens(i) for i in (ids, ids_expected))
    return types == types_expected and sorted(ids) == sorted(ids_expected) and "".join(pieces) == "".join(pieces_expected)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_ids_match_the_checkpoints_transformers_tokenizer(encoders, model_type):
    """The 5,000 sample reviews plus the hard strings, single texts and pairs at two lengths, against the
    tokenizer transformers' AutoTokenizer loads from the same files with ``use_fast=False`` (the reference
    implementation: for SentencePiece, the ``sentencepiece`` library itself; transformers' fast ALBERT
    tokenizer decomposes Hangul into jamo, which its Python tokenizer does not), pairs truncated as the fast
    tokenizers truncate them. Only WordPiece must match id for id; a SentencePiece text may differ by a tie
    between equally scored segmentations (at most 0.2% of texts)."""
    from transformers import AutoTokenizer

    from bert_cls import load_tokenizer

    checkpoint = encoders(model_type)
    reference = AutoTokenizer.from_pretrained(str(checkpoint), use_fast=False)
    texts = sample_texts() + HARD_STRINGS
    first, second = texts[:1500], texts[1500:3000][::-1]
    second[:3] = ["", "", "가" * 500]
    for max_length in (16, 128):
        layer = load_tokenizer(str(checkpoint), max_length=max_length)
        with_types = layer.token_type_ids
        assert with_types == (model_type not in NO_TOKEN_TYPES)
        for these, pairs in ((texts, None), (first, second)):
            got = _ids(layer, these, pairs)
            expected = _expected(reference, these, pairs, max_length, with_types, layer)
            differ = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b and not _tie(reference, a, b)]
            assert not differ, (
                f"max_length {max_length}, {'pairs' if pairs else 'single'}: {len(differ)} differ, "
                f"first {these[differ[0]]!r}: {got[differ[0]]} != {expected[differ[0]]}"
            )
            ties = sum(a != b for a, b in zip(got, expected))
            assert ties <= len(these) // 500, f"{ties} texts segmented differently among equally scored segmentations"
        assert sum(len(ids) == max_length for ids, _ in got) > 50  # truncation was exercised


def test_albert_digit_comma_rule_is_exercised(encoders):
    """The sample vocabulary holds pieces such as ``▁1,``, so the parity above covers ALBERT's rule for them."""
    from bert_cls import load_tokenizer

    layer = load_tokenizer(str(encoders("albert")), max_length=32)
    assert layer._replacements is not None
    pieces = layer._tokenizer.tokenize(tf.constant(["1,500원"])).flat_values.numpy().tolist()
    assert layer(["1,500원"])["input_ids"].numpy()[0, 1:-1].tolist() != pieces  # the rule changed the pieces


def test_a_list_is_a_batch_and_a_tuple_is_pairs(encoders):
    from bert_cls import load_tokenizer

    layer = load_tokenizer(str(encoders("bert")), max_length=16)
    two, three = layer(["좋아요", "최악"]), layer(["a", "b", "c"])
    assert two["input_ids"].shape[0] == 2 and three["input_ids"].shape[0] == 3
    assert two["token_type_ids"].numpy().max() == 0  # two texts, not one pair
    pairs = layer((["좋아요"], ["최악"]))
    assert pairs["input_ids"].shape[0] == 1 and pairs["token_type_ids"].numpy().max() == 1
    tensor = layer(tf.constant(["좋아요", "최악"]))
    np.testing.assert_array_equal(tensor["input_ids"], two["input_ids"])


def test_roberta_padding_does_not_change_a_texts_probabilities(encoders):
    """RoBERTa numbers positions from its pad id (1): a short text alone and beside a long one agree."""
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.pretrained import resolve_checkpoint

    for model_type in ("roberta", "xlm-roberta"):
        classifier = BertClassifier.from_checkpoint(resolve_checkpoint(str(encoders(model_type))), ["a", "b", "c"], 48)
        assert classifier.tokenizer.pad_id == 1
        alone = classifier.predict_proba(["좋아요"])
        batched = classifier.predict_proba(["좋아요", "정말 재밌게 봤어요 " * 10], batch_size=2)
        np.testing.assert_allclose(alone[0], batched[0], atol=1e-6)


# ---- training and export, one task kind per family -------------------------------------------------------


def _pair_file(directory):
    import csv
    import random

    rng = random.Random(0)
    good, bad = ["정말 재밌다", "good movie", "감동 연기 좋은 영화"], ["최악이고 지루한 영화", "bad movie", "시간 아깝네요"]
    path = directory / "pairs.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["premise", "hypothesis", "label"])
        for _ in range(120):
            label = rng.randrange(2)
            writer.writerow([rng.choice(good + bad), rng.choice(good if label else bad), label])
    return path


def _tags_file(directory):
    import csv
    import random

    rng = random.Random(0)
    path = directory / "tags.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["document", "tags"])
        for _ in range(120):
            words = rng.sample(["good", "bad", "movie", "the", "was", "this"], rng.randint(1, 4))
            writer.writerow(
                [" ".join(words), ",".join((["praise"] if "good" in words else []) + (["film"] if "movie" in words else []))]
            )
    return path


TASKS = {
    "electra": "pairs",
    "xlm-roberta": "pairs",
    "deberta-v2": "pairs",
    "roberta": "multi-label",
    "distilbert": "class-weights",
    "albert": "single",
}


@pytest.mark.slow
@pytest.mark.parametrize("model_type", sorted(TASKS))
def test_each_family_trains_exports_and_predicts(encoders, model_type, tmp_path, train_config):
    """A short run of the family's task kind in mixed_bfloat16; the export (float32) is verified in plain TensorFlow
    (TF 2 loader and the TF 1 session loader TF Serving uses) and gives the trained model's probabilities."""
    from bert_cls.serving.export import export_classifier
    from bert_cls.training.run import train

    task = TASKS[model_type]
    # mixed_bfloat16 (the precision --mixed-precision auto picks where bfloat16 is native and faster) on every CPU
    overrides = dict(
        pretrained=str(encoders(model_type)), epochs=1, max_length=24, learning_rate=3e-3, mixed_precision="mixed_bfloat16"
    )
    if task == "pairs":
        overrides.update(
            train_file=str(_pair_file(tmp_path)), text_column="premise", text_pair_column="hypothesis", label_names=None
        )
    elif task == "multi-label":
        overrides.update(
            train_file=str(_tags_file(tmp_path)), multi_label=True, label_column="tags", label_names=None, monitor="val_micro_f1"
        )
    elif task == "class-weights":
        overrides.update(class_weight="balanced")
    result = train(train_config(tmp_path / "run", **overrides))
    assert result.classifier.config.family.model_type == model_type
    losses = [epoch["loss"] for epoch in result.history]
    assert np.isfinite(losses).all()
    report = export_classifier(result.classifier, tmp_path / "base", model_name=model_type.replace("-", "_"))
    assert max(report["max_abs_diff"].values()) < 1e-4, report
    loaded = tf.saved_model.load(str(tmp_path / "base" / "1"))
    texts = ["good movie", "최악이고 지루한 영화", "", "정말 재밌다 " * 30]
    signature = loaded.signatures["serving_default"]
    if task == "pairs":
        expected = result.classifier.predict_proba(texts, pairs=texts[::-1])
        got = signature(text=tf.constant(texts), text_pair=tf.constant(texts[::-1]))["probabilities"].numpy()
    else:
        expected = result.classifier.predict_proba(texts)
        got = signature(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    encoded_inputs = set(loaded.signatures["encoded"].structured_input_signature[1])
    assert encoded_inputs == (
        {"input_ids", "attention_mask"} if model_type in NO_TOKEN_TYPES else {"input_ids", "attention_mask", "token_type_ids"}
    )


# ---- bert-cls import ------------------------------------------------------------------------------------------


def _reference_probabilities(checkpoint, texts, multi_label, pairs=None):
    """Probabilities of transformers' TF classifier on its own tokenizer's ids (one padded batch)."""
    import transformers
    from transformers import AutoTokenizer

    from bert_cls.modeling.pretrained import resolve_checkpoint

    resolved = resolve_checkpoint(str(checkpoint))
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), use_fast=False)
    model = getattr(transformers, resolved.family.classifier_class).from_pretrained(str(checkpoint))
    encoded = tokenizer(texts, pairs, truncation=True, max_length=64, padding=True, return_tensors="tf")
    if not resolved.family.takes_token_types(model.config):
        encoded.pop("token_type_ids", None)
    logits = model(**encoded, training=False).logits
    return (tf.sigmoid(logits) if multi_label else tf.nn.softmax(logits, -1)).numpy()


IMPORTS = {family: (["negative", "positive"], False) for family in FAMILIES}
IMPORTS["roberta"] = (["anger", "joy", "sadness"], False)
IMPORTS["distilbert"] = (["toxic", "insult", "threat"], True)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", FAMILIES)
def test_imported_classifier_export_gives_transformers_probabilities(model_type, tmp_path, capsys):
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.serving.export import export_classifier

    labels, multi_label = IMPORTS[model_type]
    checkpoint = make_checkpoint(tmp_path / "hf", model_type, classifier_labels=labels, multi_label=multi_label)
    assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "run"), "--max-length", "64"]) == 0
    assert "logits match transformers'" in capsys.readouterr().out
    classifier = BertClassifier.load(tmp_path / "run")
    assert classifier.config.label_names == labels and classifier.config.multi_label == multi_label
    report = export_classifier(classifier, tmp_path / "base", model_name="imported")
    assert max(report["max_abs_diff"].values()) < 1e-4, report
    serve = tf.saved_model.load(str(tmp_path / "base" / "1")).signatures["serving_default"]
    texts = ["good movie", "정말 재밌게 봤어요. 배우들 연기가 최고!", "", "지루하다 " * 20, "1,500원 ＡＢＣ 😀"]
    expected = _reference_probabilities(checkpoint, texts, multi_label)
    batch = serve(text=tf.constant(texts))["probabilities"].numpy()
    one_by_one = np.concatenate([serve(text=tf.constant([t]))["probabilities"].numpy() for t in texts])
    np.testing.assert_allclose(batch, expected, atol=1e-4)
    np.testing.assert_allclose(one_by_one, expected, atol=1e-4)
    # The texts' probabilities differ from each other far more than from transformers': a mix-up would show.
    spread = np.abs(expected - expected.mean(0)).max()
    assert spread > 1e-4 and spread > 20 * np.abs(batch - expected).max(), (spread, np.abs(batch - expected).max())


def test_imported_pair_classifier_serves_names_over_grpc_and_rest(tmp_path, capsys):
    """An NLI-style XLM-RoBERTa classifier: import --text-pair, export, serve; both APIs answer with its names."""
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.serving import RestClient, ServingClient
    from bert_cls.serving.export import export_classifier
    from bert_cls.serving.process import ServerProcess

    labels = ["entailment", "neutral", "contradiction"]
    checkpoint = make_checkpoint(tmp_path / "hf", "xlm-roberta", classifier_labels=labels)
    assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "run"), "--text-pair", "--max-length", "64"]) == 0
    export_classifier(BertClassifier.load(tmp_path / "run"), tmp_path / "base", model_name="nli", verify=False)
    texts, pairs = ["a good movie", "정말 재밌다", ""], ["it was good", "최악", "nothing"]
    expected = _reference_probabilities(checkpoint, texts, False, pairs)
    with ServerProcess(tmp_path / "base", "nli", log_file=tmp_path / "server.log", rest=True) as server:
        with ServingClient(server.address, "nli") as client:
            over_grpc = client.predict(texts, pairs)
        with RestClient(server.rest_url, "nli") as client:
            over_rest = client.predict(texts, pairs)
    for got in (over_grpc, over_rest):
        np.testing.assert_allclose([p.probabilities for p in got], expected, atol=1e-4)
        assert [p.label for p in got] == [labels[i] for i in expected.argmax(1)]


# ---- checkpoints bert-cls cannot use: one line, exit 2, nothing written ------------------------------------


def _break(checkpoint, tmp_path, how):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    config = json.loads((broken / "config.json").read_text())
    if how == "model_type":
        config["model_type"] = "gpt2"
    elif how == "byte_bpe":
        (broken / "vocab.txt").unlink()
        (broken / "tokenizer_config.json").write_text(json.dumps({}))
        (broken / "vocab.json").write_text("{}")
        (broken / "merges.txt").write_text("")
    elif how == "tokenizer_class":
        (broken / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    elif how == "no_tokenizer":
        (broken / "vocab.txt").unlink()
    elif how == "vocab_size":
        config["vocab_size"] = 100
    elif how == "bin_only":
        (broken / "tf_model.h5").rename(broken / "pytorch_model.bin")
    elif how == "no_sentencepiece":
        (broken / "sentencepiece.bpe.model").unlink()
    elif how == "no_special_piece":
        (broken / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer", "cls_token": "[KLS]"}))
    (broken / "config.json").write_text(json.dumps(config))
    return broken


@pytest.mark.parametrize(
    "how, model_type, message",
    [
        ("model_type", "bert", "model_type 'gpt2', which bert-cls cannot train: it supports bert, albert, electra"),
        ("byte_bpe", "roberta", "byte-level BPE tokenizer"),
        ("tokenizer_class", "electra", "uses the tokenizer GPT2Tokenizer, which cannot be reproduced"),
        ("no_tokenizer", "electra", "has no vocab.txt"),
        ("vocab_size", "distilbert", "embedding matrix has 100 rows"),
        ("bin_only", "electra", "a pytorch_model.bin needs PyTorch"),
        ("no_sentencepiece", "xlm-roberta", "has no SentencePiece model"),
        ("no_special_piece", "deberta-v2", "the SentencePiece model has no piece '[KLS]'"),
    ],
)
def test_unusable_checkpoints_are_one_line_errors(encoders, tmp_path, capsys, how, model_type, message):
    broken = _break(encoders(model_type), tmp_path, how)
    out = tmp_path / "out"
    code = main(
        [
            "train",
            "--data",
            "sample",
            "--pretrained",
            str(broken),
            "--output-dir",
            str(out),
            "--epochs",
            "1",
            "--max-length",
            "32",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_import_refuses_what_is_not_a_matching_classifier(encoders, tmp_path, capsys):
    # a bare encoder
    assert main(["import", str(encoders("electra")), "--output-dir", str(tmp_path / "a")]) == 2
    assert "is not a sequence classifier" in capsys.readouterr().err and not (tmp_path / "a").exists()
    # a head whose label count is not id2label's
    checkpoint = make_checkpoint(tmp_path / "hf", "bert", classifier_labels=["a", "b"])
    config = json.loads((checkpoint / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "a", "1": "b", "2": "c"}, {"a": 0, "b": 1, "c": 2}
    (checkpoint / "config.json").write_text(json.dumps(config))
    assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "head has 2 outputs but config.json's id2label names 3 classes" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "b").exists()
    # id2label that is not 0..K-1, or names a class twice
    for id2label, message in (({"0": "a", "2": "b"}, "must name classes 0..K-1"), ({"0": "a", "1": "a"}, "names a class twice")):
        config["id2label"] = id2label
        (checkpoint / "config.json").write_text(json.dumps(config))
        assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    # an existing output directory without --overwrite
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("x")
    assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "c")]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and (tmp_path / "c" / "keep.txt").exists()


def test_pretrain_refuses_a_non_bert_checkpoint(encoders, tmp_path, capsys):
    from bert_cls.data.files import sample_path

    code = main(
        [
            "pretrain",
            "--pretrained",
            str(encoders("electra")),
            "--train-file",
            str(sample_path("train")),
            "--output-dir",
            str(tmp_path / "p"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "continues BERT checkpoints" in err, err


def test_pair_texts_for_an_imported_single_text_classifier_are_refused(tmp_path, capsys):
    """--text-pair-column at evaluate with an imported single-text classifier: the model's own error."""
    checkpoint = make_checkpoint(tmp_path / "hf", "distilbert", classifier_labels=["negative", "positive"])
    assert main(["import", str(checkpoint), "--output-dir", str(tmp_path / "run"), "--max-length", "64"]) == 0
    data = tmp_path / "d.csv"
    data.write_text("a,b,label\nx,y,negative\n", encoding="utf-8")
    code = main(
        ["evaluate", "--model", str(tmp_path / "run"), "--test-file", str(data), "--text-column", "a", "--text-pair-column", "b"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "trained on single texts, not pairs" in err, err


@pytest.mark.slow
def test_tuner_searches_a_non_bert_family(encoders, tmp_path, train_config, monkeypatch):
    """Two trials on ELECTRA: each trial's dropout reaches both of its head's dropout layers, and the best
    model is exported with ELECTRA's encoder."""
    from bert_cls.tuning import tuner as tuning
    from bert_cls.tuning.config import TuneConfig

    seen = []
    real_train = tuning.train

    def recording_train(config, *args, **kwargs):
        result = real_train(config, *args, **kwargs)
        model = result.classifier.encoded_model
        seen.append(
            (
                config.dropout,
                model.get_layer("classifier_dropout").rate,
                model.get_layer("classifier_dense_dropout").rate,
                result.classifier.config.family.model_type,
            )
        )
        return result

    monkeypatch.setattr(tuning, "train", recording_train)
    outcome = tuning.tune(
        train_config("(per trial)", pretrained=str(encoders("electra")), epochs=1, max_length=24),
        TuneConfig(tuning_dir=str(tmp_path / "tuning"), max_trials=2, export_dir=str(tmp_path / "export")),
    )
    assert len(seen) == 2 and all(d == a == b and kind == "electra" for d, a, b, kind in seen)
    assert outcome["export"]["version"] == 1
    loaded = tf.saved_model.load(str(tmp_path / "export" / "1"))
    assert set(loaded.signatures["encoded"].structured_input_signature[1]) == {"input_ids", "attention_mask", "token_type_ids"}


@pytest.mark.parametrize("model_type", ["electra", "roberta", "xlm-roberta", "distilbert", "deberta-v2", "albert"])
def test_safetensors_checkpoints_load_without_pytorch(encoders, tmp_path, model_type):
    """A ``model.safetensors`` in PyTorch's names and layouts loads into the family's TF encoder, every weight
    equal to the ``tf_model.h5`` it was made from."""
    from family_checkpoints import convert_to_safetensors

    from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint

    original = encoders(model_type)
    copy = convert_to_safetensors(Path(shutil.copytree(original, tmp_path / "st")), model_type)
    expected = {w.name: w.numpy() for w in load_encoder(resolve_checkpoint(str(original))).weights}
    loaded = load_encoder(resolve_checkpoint(str(copy))).weights
    assert len(loaded) == len(expected)
    for weight in loaded:
        np.testing.assert_array_equal(weight.numpy(), expected[weight.name], err_msg=weight.name)


@pytest.mark.parametrize("model_type", ["electra", "roberta"])
def test_import_reads_a_safetensors_classifier(tmp_path, model_type):
    """A PyTorch-format ``model.safetensors`` classifier imports with transformers' logits."""
    from family_checkpoints import convert_to_safetensors

    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.importer import import_classifier
    from bert_cls.training.config import ImportConfig

    checkpoint = make_checkpoint(tmp_path / "hf", model_type, classifier_labels=["no", "yes", "maybe"])
    expected = _reference_probabilities(checkpoint, ["좋아요", "bad movie"], False)
    convert_to_safetensors(checkpoint, model_type, classifier=True)
    report = import_classifier(ImportConfig(checkpoint=[str(checkpoint)], output_dir=str(tmp_path / "run"), max_length=64))
    assert report["max_abs_logit_diff"] < 1e-5 and report["labels"] == ["no", "yes", "maybe"]
    got = BertClassifier.load(tmp_path / "run").predict_proba(["좋아요", "bad movie"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
