"""Tiny random checkpoints of every encoder family, made as their authors' tools make them: a transformers
config and ``save_pretrained`` (``tf_model.h5``), a WordPiece vocabulary trained with ``tokenizers`` or a
SentencePiece model trained with ``sentencepiece``, on the bundled NSMC sample, and the tokenizer files
transformers' ``AutoTokenizer`` reads. A helper module for the family tests, not a test module."""

from __future__ import annotations

import io
import json
from pathlib import Path

# Strings that break tokenizers: full-width Latin, half-width kana, emoji with a skin tone, combining accents,
# zero-width characters, controls, CJK, a 500-character unspaced run, empty, ligatures, BOM, soft hyphen, separators.
HARD_STRINGS = [
    "ＡＢＣ ｆｕｌｌ－ｗｉｄｔｈ",
    "ﾊﾝｶｸ ｶﾀｶﾅ",
    "좋아요 😀👍🏽 최고",
    "e\u0301cole cafe\u0301",
    "zero\u200bwidth joi\u200dner",
    "ctl\x01\x7fchar\ttab",
    "漢字テスト中文",
    "가" * 500,
    "ㅋ" * 150 + " 끝",
    "",
    "ﬁ ligature",
    "İstanbul ǅ",
    "a\u0000b",
    "\ufeffbom",
    "soft\u00adhyphen",
    "\u2028line\u2029para",
    "tab\tnew\nline\rcr",
]

FAMILIES = ("bert", "electra", "roberta", "xlm-roberta", "distilbert", "albert", "deberta-v2")
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
# Digits with commas, so ALBERT's vocabulary learns pieces such as "▁1," and its digit-comma rule is exercised.
NUMBERS = [f"{a},{b}00원 {a}, {b}," for a in range(1, 10) for b in range(10)] * 40


def sample_texts() -> list:
    from bert_cls.data.files import read_dataset, sample_path

    return read_dataset(sample_path("train")).texts + read_dataset(sample_path("test")).texts


def _wordpiece(directory: Path, tokenizer_class: str, klue_order: bool = False) -> list:
    from bert_cls.pretraining.vocabulary import train_wordpiece

    vocab = train_wordpiece(sample_texts(), vocab_size=1200, lower_case=False)
    if klue_order:  # klue/roberta-*: [CLS] 0, [PAD] 1, [SEP] 2, [UNK] 3, so the pad id is RoBERTa's 1
        head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
        vocab = head + [t for t in vocab if t not in head]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    settings = {"tokenizer_class": tokenizer_class, "do_lower_case": False}
    if klue_order:
        settings.update(bos_token="[CLS]", eos_token="[SEP]")
    (directory / "tokenizer_config.json").write_text(json.dumps(settings))
    return vocab


def _sentencepiece(directory: Path, filename: str, tokenizer_class: str, settings: dict, **trainer) -> int:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sample_texts() + NUMBERS),
        model_writer=model,
        vocab_size=1000,
        character_coverage=0.995,
        minloglevel=3,
        **trainer,
    )
    (directory / filename).write_bytes(model.getvalue())
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class, **settings}))
    return 1000


def _tokenizer_files(directory: Path, model_type: str):
    """Writes the tokenizer files; returns the config's vocabulary-related values."""
    if model_type in ("bert", "electra", "distilbert"):
        cls = {"bert": "BertTokenizer", "electra": "ElectraTokenizer", "distilbert": "DistilBertTokenizer"}
        return {"vocab_size": len(_wordpiece(directory, cls[model_type]))}
    if model_type == "roberta":
        vocab = _wordpiece(directory, "BertTokenizer", klue_order=True)
        return {"vocab_size": len(vocab), "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    if model_type == "xlm-roberta":
        size = _sentencepiece(directory, "sentencepiece.bpe.model", "XLMRobertaTokenizer", {})
        return {"vocab_size": size + 2, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    if model_type == "albert":
        size = _sentencepiece(
            directory,
            "spiece.model",
            "AlbertTokenizer",
            {"do_lower_case": True, "keep_accents": False},
            pad_id=0,
            pad_piece="<pad>",
            unk_id=1,
            bos_id=2,
            bos_piece="[CLS]",
            eos_id=3,
            eos_piece="[SEP]",
            control_symbols=["[MASK]"],
            split_by_number=False,
            split_by_unicode_script=False,
        )
        return {"vocab_size": size, "embedding_size": 16}
    size = _sentencepiece(
        directory,
        "spm.model",
        "DebertaV2Tokenizer",
        {"do_lower_case": False},
        pad_id=0,
        pad_piece="[PAD]",
        bos_id=1,
        bos_piece="[CLS]",
        eos_id=2,
        eos_piece="[SEP]",
        unk_id=3,
        unk_piece="[UNK]",
        control_symbols=["[MASK]"],
    )
    # DeBERTa-v3's layout: relative attention, no absolute positions, no segment embedding.
    return {
        "vocab_size": size,
        "relative_attention": True,
        "position_biased_input": False,
        "type_vocab_size": 0,
        "pos_att_type": ["p2c", "c2p"],
        "position_buckets": 16,
        "max_relative_positions": -1,
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "pooler_hidden_size": 32,
    }


def make_checkpoint(directory: Path, model_type: str, classifier_labels=None, multi_label: bool = False, seed: int = 0) -> Path:
    """A tiny ``model_type`` checkpoint in ``directory``: a bare encoder, or with ``classifier_labels`` a
    ``*ForSequenceClassification`` with a random head and ``id2label``."""
    from bert_cls.modeling.families import FAMILIES as REGISTRY
    from bert_cls.modeling.keras_compat import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    family = REGISTRY[model_type]
    values = dict(
        SIZES,
        max_position_embeddings=66 if model_type in ("roberta", "xlm-roberta") else 64,
        **_tokenizer_files(directory, model_type),
    )
    if model_type == "distilbert":
        values.update(dim=32, n_layers=2, n_heads=2, hidden_dim=37)
    if classifier_labels is not None:
        values.update(id2label=dict(enumerate(classifier_labels)), label2id={n: i for i, n in enumerate(classifier_labels)})
        if multi_label:
            values["problem_type"] = "multi_label_classification"
    config = family.config_from_dict(values)
    keras.utils.set_random_seed(seed)
    import transformers

    model_class = family.model_class if classifier_labels is None else family.classifier_class
    model = getattr(transformers, model_class)(config)
    model(model.dummy_inputs)
    if classifier_labels is not None:
        # A random output layer gives every text nearly uniform probabilities; larger output weights make the
        # texts' probabilities differ enough for a comparison to mean something.
        for weight in model.weights:
            name = weight.name
            if "out_proj" in name or ("/classifier/" in name and "dense" not in name):
                weight.assign(weight * 50.0)
    model.save_pretrained(str(directory))
    return directory


def convert_to_safetensors(directory: Path, model_type: str, classifier: bool = False) -> Path:
    """Replaces the checkpoint's ``tf_model.h5`` by a ``model.safetensors`` in PyTorch's names and layouts, as
    a PyTorch ``save_pretrained`` writes it (made here from the TF weights, without PyTorch)."""
    import numpy as np
    import transformers
    from safetensors.numpy import save_file
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    from bert_cls.modeling.families import FAMILIES as REGISTRY
    from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint

    family = REGISTRY[model_type]
    if classifier:  # transformers' TF classifier, named after its class (tf_electra_for_sequence_classification/...)
        model = getattr(transformers, family.classifier_class).from_pretrained(str(directory))
        outer = model.name + "."
    else:
        model, outer = load_encoder(resolve_checkpoint(str(directory))), f"{family.prefix}."
    state = {}
    for weight in model.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            weight.name, start_prefix_to_remove=outer, tf_weight_shape=weight.shape
        )
        value = weight.numpy()
        state[name] = np.ascontiguousarray(value.T if transpose.name == "SIMPLE" else value)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    (directory / "tf_model.h5").unlink()
    return directory
