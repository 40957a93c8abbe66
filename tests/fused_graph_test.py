"""The fusion-friendly encoder graph (bert_cls.modeling.fused_graph): same float32 outputs as transformers' own
layers for every family, a loud error if transformers' layers change, and a traced export call proving that the
dense layers and layer norms ran as fused oneDNN kernels."""

import os

import numpy as np
import pytest
from family_checkpoints import FAMILIES, make_checkpoint

from bert_cls.bench.op_profile import profile_export
from bert_cls.modeling.fused_graph import FusionError, TokenDense, TokenLayerNorm, fuse_dense_layers
from bert_cls.modeling.keras_compat import keras, tf
from bert_cls.modeling.pretrained import load_encoder, resolve_checkpoint

ONEDNN_OFF = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"
TEXTS = ["정말 재밌다", "최악이고 지루한 영화 " * 3, "good movie", ""]


def _sublayers(model):
    return [m for m in model.submodules if isinstance(m, keras.layers.Layer)]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_every_family_is_fused_and_keeps_transformers_float32_outputs(model_type, tmp_path):
    import transformers

    checkpoint = resolve_checkpoint(str(make_checkpoint(tmp_path / model_type, model_type)))
    ours = load_encoder(checkpoint)
    reference = getattr(transformers, checkpoint.family.model_class).from_pretrained(str(checkpoint.path))
    layers = _sublayers(ours)
    assert not [m.name for m in layers if type(m) is keras.layers.Dense], "a Dense layer was left unfused"
    assert not [m.name for m in layers if type(m) is keras.layers.LayerNormalization]
    assert any(isinstance(m, TokenLayerNorm) for m in layers)
    # transformers' own model is untouched: the rewrite is per instance, not a patch of its classes
    assert not any(isinstance(m, (TokenDense, TokenLayerNorm)) for m in _sublayers(reference))

    ids = np.random.default_rng(0).integers(5, 300, size=(3, 11)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    got = ours(input_ids=ids, attention_mask=mask, training=False).last_hidden_state.numpy()
    expected = reference(input_ids=ids, attention_mask=mask, training=False).last_hidden_state.numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_a_changed_transformers_layer_is_a_loud_error(tiny_checkpoint):
    import transformers

    model = transformers.TFBertModel.from_pretrained(str(tiny_checkpoint))
    # A transformers release that renamed the feed-forward activation would leave it outside the dense layer.
    del model.bert.encoder.layer[0].intermediate.intermediate_act_fn
    with pytest.raises(FusionError, match="feed-forward layers changed"):
        fuse_dense_layers(model, expected_feed_forward=model.config.num_hidden_layers)


def test_fusing_twice_changes_nothing(tiny_checkpoint):
    encoder = load_encoder(resolve_checkpoint(str(tiny_checkpoint)))
    ids = tf.constant([[2, 7, 9, 3]])
    before = encoder(input_ids=ids, training=False).last_hidden_state.numpy()
    fuse_dense_layers(encoder, expected_feed_forward=encoder.config.num_hidden_layers)
    np.testing.assert_array_equal(encoder(input_ids=ids, training=False).last_hidden_state.numpy(), before)


@pytest.mark.skipif(ONEDNN_OFF, reason="TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's oneDNN fusions are off")
def test_the_export_runs_fused_matmuls_and_layer_norms(tiny_classifier, tiny_export):
    profile = profile_export(next(tiny_export.iterdir()), {"text": TEXTS})
    ops = profile.op_types()
    config = tiny_classifier.encoder.config
    # q, k, v, attention output, intermediate (with GELU), output per layer; the pooler and the classifier
    dense_layers = 6 * config.num_hidden_layers + 2
    assert ops["_MklNativeFusedMatMul"] + ops["_FusedMatMul"] == dense_layers, ops
    assert ops["_MklLayerNorm"] == 2 * config.num_hidden_layers + 1, ops  # two per layer, the embeddings'
    for unfused in ("Erf", "Erfc", "BiasAdd", "MatMul", "_MklMatMul", "SquaredDifference", "Rsqrt", "FusedBatchNormV3"):
        assert ops[unfused] == 0, f"{ops[unfused]} standalone {unfused} kernels ran: {ops}"
