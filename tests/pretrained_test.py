import json

import numpy as np
import pytest

from bert_cls.modeling import pretrained
from bert_cls.errors import BertClsError


def test_local_directory_and_casing(tiny_checkpoint):
    checkpoint = pretrained.resolve_checkpoint(str(tiny_checkpoint))
    assert checkpoint.path == tiny_checkpoint
    assert checkpoint.lower_case is True
    assert checkpoint.vocabulary()[:2] == ["[PAD]", "[UNK]"]


def test_directory_without_vocab(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(BertClsError, match="has no vocab.txt"):
        pretrained.resolve_checkpoint(str(tmp_path))


def test_unknown_hub_id_offline_is_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(pretrained, "snapshot_download", offline)
    with pytest.raises(BertClsError, match="cannot get checkpoint 'no-such/model'.*all-MiniLM-L6-v2"):
        pretrained.resolve_checkpoint("no-such/model")


def test_tf_h5_checkpoint_loads_its_weights(tiny_checkpoint):
    from transformers import TFBertModel

    encoder = pretrained.load_encoder(pretrained.resolve_checkpoint(str(tiny_checkpoint)))
    reference = TFBertModel.from_pretrained(str(tiny_checkpoint))
    assert len(encoder.weights) == len(reference.weights)
    for a, b in zip(encoder.weights, reference.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_without_weights(tmp_path, tiny_checkpoint):
    for name in ("config.json", "vocab.txt"):
        (tmp_path / name).write_bytes((tiny_checkpoint / name).read_bytes())
    with pytest.raises(BertClsError, match="neither tf_model.h5 nor model.safetensors"):
        pretrained.load_encoder(pretrained.resolve_checkpoint(str(tmp_path)))


@pytest.mark.slow
def test_minilm_safetensors_every_encoder_weight_loaded():
    """Each TF variable equals its PyTorch tensor (Linear kernels are transposed)."""
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    checkpoint = pretrained.resolve_checkpoint("all-MiniLM-L6-v2")
    assert checkpoint.lower_case is True
    encoder = pretrained.load_encoder(checkpoint)
    state = load_file(str(checkpoint.path / "model.safetensors"))
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    matched = 0
    for weight in encoder.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            weight.name, start_prefix_to_remove="bert.", tf_weight_shape=weight.shape
        )
        name = name.removeprefix("bert.")
        expected = state[name]
        actual = weight.numpy()
        if transpose.name != "NO":  # PyTorch Linear weights are stored [out, in]
            actual = actual.T
        np.testing.assert_allclose(actual, expected, rtol=0, atol=0, err_msg=weight.name)
        matched += 1
    assert matched == len(encoder.weights) == 103


def test_h5_checkpoint_missing_encoder_weights_is_an_error(tmp_path, tiny_checkpoint):
    """A config asking for a layer the weights file lacks: transformers would start it from random weights."""
    for name in ("vocab.txt", "tokenizer_config.json", "tf_model.h5"):
        (tmp_path / name).write_bytes((tiny_checkpoint / name).read_bytes())
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": config["num_hidden_layers"] + 1}))
    with pytest.raises(BertClsError, match="lacks encoder weights: .*layer_._2"):
        pretrained.load_encoder(pretrained.resolve_checkpoint(str(tmp_path)))


def test_encoder_saved_from_a_masked_lm_model_loads_without_a_pooler(tmp_path, tiny_checkpoint):
    """What `bert-cls pretrain` writes: TFBertForMaskedLM weights (no pooler) load into TFBertModel, encoder intact."""
    from transformers import TFBertForMaskedLM

    masked_lm = TFBertForMaskedLM.from_pretrained(str(tiny_checkpoint))
    masked_lm.save_pretrained(str(tmp_path))
    (tmp_path / "vocab.txt").write_bytes((tiny_checkpoint / "vocab.txt").read_bytes())
    encoder = pretrained.load_encoder(pretrained.resolve_checkpoint(str(tmp_path)))
    np.testing.assert_array_equal(encoder.bert.embeddings.weights[0].numpy(), masked_lm.bert.embeddings.weights[0].numpy())
    layer = encoder.bert.encoder.layer[1].attention.self_attention.query.kernel.numpy()
    np.testing.assert_array_equal(layer, masked_lm.bert.encoder.layer[1].attention.self_attention.query.kernel.numpy())
