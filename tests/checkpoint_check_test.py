"""Broken checkpoint directories, generated from a good one a file at a time: each is one line naming the file and
the field, exit 2, no traceback, from `import`, `train --pretrained` and `load_tokenizer` alike, before TensorFlow
builds a layer (sizes that would take minutes or gigabytes to build answer at once)."""

import json
import shutil
import struct
import time

import pytest

from bert_cls.cli import main
from bert_cls.errors import BertClsError
from bert_cls.modeling.checkpoint_check import ACTIVATIONS, check_config
from bert_cls.modeling.pretrained import load_tokenizer, resolve_checkpoint
from family_checkpoints import convert_to_safetensors, make_checkpoint


def _config_edit(**changes):
    def edit(path):
        values = json.loads((path / "config.json").read_text())
        values.update(changes)
        (path / "config.json").write_text(json.dumps(values))

    return edit


def _write(name, content):
    def edit(path):
        data = content if isinstance(content, bytes) else content.encode()
        (path / name).write_bytes(data)

    return edit


def _vocab_edit(change):
    def edit(path):
        lines = (path / "vocab.txt").read_text(encoding="utf-8").splitlines()
        (path / "vocab.txt").write_text("\n".join(change(lines)) + "\n", encoding="utf-8")

    return edit


# (id, edit, file named in the error, words of the error)
BROKEN = [
    ("config-not-json", _write("config.json", "{not json"), "config.json", "not valid JSON"),
    ("config-a-list", _write("config.json", "[1, 2]"), "config.json", "must hold a JSON object"),
    ("model-type-list", _config_edit(model_type=["bert"]), "config.json", "model_type must be a string"),
    ("vocab-size-string", _config_edit(vocab_size="30"), "config.json", "vocab_size must be an integer"),
    ("heads-zero", _config_edit(num_attention_heads=0), "config.json", "num_attention_heads must be an integer from 1"),
    ("hidden-negative", _config_edit(hidden_size=-32), "config.json", "hidden_size must be an integer from 1"),
    ("hidden-fraction", _config_edit(hidden_size=32.5), "config.json", "hidden_size must be an integer"),
    ("hidden-indivisible", _config_edit(hidden_size=33), "config.json", "not divisible by num_attention_heads"),
    ("act-unknown", _config_edit(hidden_act="nope"), "config.json", 'hidden_act "nope" is not an activation'),
    ("act-list", _config_edit(hidden_act=["gelu"]), "config.json", "is not an activation"),
    ("id2label-keys", _config_edit(id2label={"a": "x"}), "config.json", "id2label maps class ids"),
    ("id2label-list", _config_edit(id2label=["x", "y"]), "config.json", "id2label must be an object"),
    ("architectures-string", _config_edit(architectures="BertModel"), "config.json", "architectures must be a list"),
    ("vocab-1e9", _config_edit(vocab_size=10**9), "config.json", "vocab_size must be an integer from 1 to 1,000,000"),
    ("positions-1e12", _config_edit(max_position_embeddings=10**12), "config.json", "max_position_embeddings"),
    ("layers-1e6", _config_edit(num_hidden_layers=1_000_000), "config.json", "num_hidden_layers must be an integer from 1 to 96"),
    ("layers-zero", _config_edit(num_hidden_layers=0), "config.json", "num_hidden_layers must be an integer from 1"),
    ("layers-negative", _config_edit(num_hidden_layers=-1), "config.json", "num_hidden_layers must be an integer from 1"),
    ("dropout-2", _config_edit(hidden_dropout_prob=2), "config.json", "hidden_dropout_prob must be a rate"),
    ("vocab-empty", _write("vocab.txt", ""), "vocab.txt", "is empty"),
    ("vocab-no-unk", _vocab_edit(lambda lines: [t for t in lines if t != "[UNK]"]), "vocab.txt", "has no '[UNK]'"),
    ("vocab-no-cls", _vocab_edit(lambda lines: [t for t in lines if t != "[CLS]"]), "vocab.txt", "has no '[CLS]'"),
    ("vocab-duplicate", _vocab_edit(lambda lines: lines + [lines[7]]), "vocab.txt", "each token must appear once"),
    ("vocab-binary", _write("vocab.txt", b"\xff\xfe\x00\x01binary"), "vocab.txt", "is not UTF-8 text"),
    ("tok-config-not-json", _write("tokenizer_config.json", "{oops"), "tokenizer_config.json", "not valid JSON"),
    ("tok-config-list", _write("tokenizer_config.json", "[]"), "tokenizer_config.json", "must hold a JSON object"),
    ("tok-class-int", _write("tokenizer_config.json", '{"tokenizer_class": 5}'), "tokenizer_config.json", "tokenizer_class"),
    ("sep-token-int", _write("tokenizer_config.json", '{"sep_token": 7}'), "tokenizer_config.json", "sep_token must be"),
    ("lower-case-string", _write("tokenizer_config.json", '{"do_lower_case": "yes"}'), "tokenizer_config.json", "true or false"),
    ("h5-garbage", _write("tf_model.h5", b"not hdf5 at all"), "tf_model.h5", "is not an HDF5 file"),
]


def broken_copy(source, tmp_path, edit):
    path = tmp_path / "checkpoint"
    shutil.copytree(source, path)
    edit(path)
    return path


def assert_one_line(message: str, file: str, words: str) -> None:
    assert file in message and words in message, message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("edit, file, words", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_checkpoints_are_one_line_before_anything_is_built(tiny_checkpoint, tmp_path, edit, file, words):
    path = broken_copy(tiny_checkpoint, tmp_path, edit)
    started = time.monotonic()
    with pytest.raises(BertClsError) as info:
        resolve_checkpoint(str(path))
    assert time.monotonic() - started < 5  # no layer is built, whatever sizes the config claims
    assert_one_line(str(info.value), file, words)
    with pytest.raises(BertClsError) as info:
        load_tokenizer(str(path))
    assert_one_line(str(info.value), file, words)


@pytest.mark.parametrize("case", ["layers-1e6", "vocab-no-unk", "config-not-json"])
def test_import_and_train_exit_2_with_one_line(tiny_checkpoint, tiny_tsv, tmp_path, capsys, case):
    _, edit, file, words = next(c for c in BROKEN if c[0] == case)
    path = broken_copy(tiny_checkpoint, tmp_path, edit)
    commands = [
        ["import", str(path), "--output-dir", str(tmp_path / "imported")],
        [
            "train",
            "--train-file",
            str(tiny_tsv[0]),
            "--pretrained",
            str(path),
            "--output-dir",
            str(tmp_path / "run"),
            "--max-length",
            "16",
        ],
    ]
    for command in commands:
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1, err
        assert_one_line(err, file, words)


def test_a_config_that_drops_stored_layers_is_refused_naming_the_unused_weights(tiny_checkpoint, tiny_tsv, tmp_path, capsys):
    for weights in ("h5", "safetensors"):
        path = broken_copy(tiny_checkpoint, tmp_path / weights, lambda p: None)
        if weights == "safetensors":
            convert_to_safetensors(path, "bert")
        _config_edit(num_hidden_layers=1)(path)  # the files hold 2 layers
        command = [
            "train",
            "--train-file",
            str(tiny_tsv[0]),
            "--pretrained",
            str(path),
            "--output-dir",
            str(tmp_path / weights / "run"),
            "--max-length",
            "16",
        ]
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "stores encoder weights its config.json builds no place for" in err, err
        assert "layer_._1" in err or "layer.1" in err, err
        assert not (tmp_path / weights / "run" / "model").exists()


def _safetensors_header(length: int, header: bytes, data: bytes = b""):
    return _write("model.safetensors", struct.pack("<Q", length) + header + data)


TENSOR_HEADER = b'{"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}'
SAFETENSORS_BROKEN = [
    ("empty", _write("model.safetensors", b""), "too short for a safetensors file"),
    ("header-2^62", _safetensors_header(2**62, b"{}"), "its header claims 4611686018427387904 bytes"),
    ("header-not-json", _safetensors_header(6, b"{nope}"), "its header is not valid JSON"),
    (
        "truncated",
        _safetensors_header(74, b'{"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}, "x": {"dtype": "F32", '[:74]),
        "header is not valid JSON",
    ),
    (
        "data-short",
        _safetensors_header(len(TENSOR_HEADER), TENSOR_HEADER, b"\0" * 10),
        "does not fit the file's 10 data bytes",
    ),
]


@pytest.fixture(scope="module")
def safetensors_checkpoint(tiny_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("safetensors") / "checkpoint"
    shutil.copytree(tiny_checkpoint, path)
    return convert_to_safetensors(path, "bert")


@pytest.mark.parametrize("edit, words", [c[1:] for c in SAFETENSORS_BROKEN], ids=[c[0] for c in SAFETENSORS_BROKEN])
def test_damaged_safetensors_files_are_one_line(safetensors_checkpoint, tmp_path, edit, words):
    path = broken_copy(safetensors_checkpoint, tmp_path, edit)
    with pytest.raises(BertClsError) as info:
        resolve_checkpoint(str(path))
    assert_one_line(str(info.value), "model.safetensors", words)


def test_a_truncated_safetensors_file_is_one_line_when_its_weights_load(safetensors_checkpoint, tmp_path, capsys, tiny_tsv):
    def truncate(path):
        data = (path / "model.safetensors").read_bytes()
        (path / "model.safetensors").write_bytes(data[: len(data) - 100])

    path = broken_copy(safetensors_checkpoint, tmp_path, truncate)
    with pytest.raises(BertClsError) as info:
        resolve_checkpoint(str(path))
    assert_one_line(str(info.value), "model.safetensors", "does not fit the file's")


@pytest.fixture(scope="module")
def albert_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("albert") / "checkpoint"
    path.mkdir()
    return make_checkpoint(path, "albert")


@pytest.mark.parametrize(
    "content, words", [(b"", "it is empty"), (b"\x08\x01garbage" * 10, "does not parse")], ids=["empty", "garbage"]
)
def test_a_broken_sentencepiece_model_is_one_line(albert_checkpoint, tmp_path, content, words):
    model_file = next(p.name for p in albert_checkpoint.iterdir() if p.suffix == ".model")
    path = broken_copy(albert_checkpoint, tmp_path, _write(model_file, content))
    with pytest.raises(BertClsError) as info:
        resolve_checkpoint(str(path))
    assert_one_line(str(info.value), model_file, words)


def test_the_activation_list_is_transformers_own():
    from transformers.activations_tf import ACT2FN

    assert ACTIVATIONS == set(ACT2FN)


def test_the_bounds_admit_the_largest_real_configs(tmp_path):
    # xlm-roberta-xl, albert-xxlarge-v2, deberta-v2-xxlarge (as their config.json files give them), DeBERTa-v3's 0 types
    for values in (
        dict(
            model_type="xlm-roberta",
            vocab_size=250880,
            hidden_size=2560,
            num_hidden_layers=36,
            num_attention_heads=32,
            intermediate_size=10240,
            max_position_embeddings=514,
            type_vocab_size=1,
        ),
        dict(
            model_type="albert",
            vocab_size=30000,
            embedding_size=128,
            hidden_size=4096,
            num_attention_heads=64,
            intermediate_size=16384,
            num_hidden_layers=12,
            hidden_act="gelu_new",
        ),
        dict(
            model_type="deberta-v2",
            vocab_size=128100,
            hidden_size=1536,
            num_hidden_layers=48,
            num_attention_heads=24,
            intermediate_size=6144,
            max_position_embeddings=512,
            type_vocab_size=0,
            pooler_hidden_act="gelu",
        ),
    ):
        check_config(tmp_path / "config.json", values)
