"""A fusion-friendly encoder graph: every dense layer runs on a 2-D ``[tokens, features]`` matrix.

Why: transformers' TensorFlow layers apply Keras ``Dense`` to ``[batch, seq, hidden]`` tensors, which Keras
computes with ``tensordot``: Reshape, MatMul, Reshape, then BiasAdd and the activation. The Reshape between the
MatMul and its BiasAdd stops TensorFlow's grappler remapper from rewriting MatMul + BiasAdd (+ GELU) into one
oneDNN kernel (``_MklNativeFusedMatMul`` / ``_FusedMatMul``), so the bias and the activation run as separate
element-wise passes over memory. In float32 that costs about a fifth of an inference; in bfloat16, where the
matmuls run about four times faster on CPUs with AMX, the separate ``Erfc``, ``Mul`` and ``BiasAdd`` ops cost
more than the matmuls themselves (bench/README.md, "CPU graph").

What :func:`fuse_dense_layers` changes in a built transformers ``TF*Model``, and nothing else:

1. every ``Dense`` inside it becomes a :class:`TokenDense` (same weights, names and config; only ``call``
   differs): an input with more than two dimensions is reshaped to ``[tokens, features]`` before MatMul,
   BiasAdd and the activation, and back after, so the three are adjacent in the graph;
2. the feed-forward activation that transformers applies after its intermediate ``Dense`` moves into that
   ``Dense`` (``intermediate_act_fn`` of BERT, ELECTRA, RoBERTa, XLM-R and DeBERTa-v2, ``activation`` beside
   ALBERT's ``ffn`` and DistilBERT's ``lin1``), where the remapper can fuse it too;
3. every ``LayerNormalization`` over the last axis becomes a :class:`TokenLayerNorm`, built as the graph the
   remapper's layer-norm pattern matches (``FindMklLayerNorm``), so that inference runs one ``_MklLayerNorm``
   kernel instead of eight element-wise passes. Keras takes that path itself only for an epsilon of at least
   1.001e-5 and float32 variables; these encoders use 1e-12 and, exported in bfloat16, bfloat16 variables.

The arithmetic is unchanged (float32 outputs equal to round-off: ``tests/fused_graph_test.py``). transformers 4.57
is the last release with TensorFlow classes, so the attribute names this relies on are frozen; still, a layer
that no longer has them is an error here (:class:`FusionError`), never a silently unfused model.

Not fused, in DeBERTa-v2: its relative-position projections of the position embeddings (``pos_key_proj``,
``pos_query_proj``) run on 2-D matrices too, but what follows them is a gather, not a bias or an activation.
"""

from __future__ import annotations

from bert_cls.modeling.keras_compat import keras, tf

# (layer attribute holding the feed-forward Dense, attribute holding the activation applied after it)
FEED_FORWARD_ATTRIBUTES = (("dense", "intermediate_act_fn"), ("ffn", "activation"), ("lin1", "activation"))


class FusionError(RuntimeError):
    """transformers' layers no longer look as this module expects (a different transformers release)."""


class TokenDense(keras.layers.Dense):
    """``Dense`` that flattens its input to ``[tokens, features]`` so MatMul, BiasAdd and activation are adjacent.

    Under a mixed bfloat16 policy (training: float32 variables, bfloat16 compute) an exact GELU runs in float32
    with its own gradient (:func:`gelu_in_float32`): TensorFlow's element-wise CPU kernels are not vectorized for
    bfloat16, and the GELU and its gradient took about a quarter of a MiniLM training step there.
    """

    def call(self, inputs):
        rank = inputs.shape.rank
        if rank is None or isinstance(inputs, (tf.RaggedTensor, tf.SparseTensor)):
            return super().call(inputs)
        if rank <= 2:
            return self._dense_2d(inputs)
        features = int(self.kernel.shape[0])
        outputs = self._dense_2d(tf.reshape(inputs, [-1, features]))
        leading = tf.shape(inputs)[:-1]
        outputs = tf.reshape(outputs, tf.concat([leading, [self.units]], axis=0))
        outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
        return outputs

    def _dense_2d(self, inputs):
        """MatMul, BiasAdd, activation: the ops ``Dense`` runs on a 2-D input, in the order the remapper fuses."""
        inputs = tf.cast(inputs, self.compute_dtype)
        outputs = tf.matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if self.activation is None or self.activation is keras.activations.linear:
            return outputs
        if self.activation is keras.activations.gelu and self._mixed_bfloat16():
            return gelu_in_float32(outputs)
        return self.activation(outputs)

    def _mixed_bfloat16(self) -> bool:
        policy = self.dtype_policy
        return policy.compute_dtype == "bfloat16" and policy.variable_dtype == "float32"


@tf.custom_gradient
def gelu_in_float32(x):
    """Exact GELU of a bfloat16 tensor computed in float32 (forward and gradient), returned in bfloat16."""
    x32 = tf.cast(x, tf.float32)
    cdf = 0.5 * tf.math.erfc(x32 * -0.7071067811865476)  # Phi(x), as tf.nn.gelu computes it

    def grad(upstream, variables=None):  # no variables are read here; the keyword keeps TensorFlow's contract
        pdf = tf.exp(-0.5 * tf.square(x32)) * 0.3989422804014327  # phi(x) = exp(-x^2/2) / sqrt(2 pi)
        dx = tf.cast(tf.cast(upstream, tf.float32) * (cdf + x32 * pdf), x.dtype)
        return (dx, [None] * len(variables)) if variables else dx

    return tf.cast(x32 * cdf, x.dtype), grad


class TokenLayerNorm(keras.layers.LayerNormalization):
    """``LayerNormalization`` over the last axis as the graph the oneDNN remapper rewrites into ``_MklLayerNorm``:
    Reshape to ``[1, tokens, features, 1]``, ``FusedBatchNormV3`` (training mode: the statistics of each token,
    unit scale, zero offset), Reshape back, times gamma, plus beta. This is Keras' own fused layer-norm graph,
    built with the layer's real epsilon (``tf.compat.v1.nn.fused_batch_norm`` would raise it to 1.001e-5) and
    with bfloat16 inputs allowed (statistics, scale and offset stay float32, as the op requires)."""

    def call(self, inputs):
        inputs = tf.cast(inputs, self.compute_dtype)
        shape = tf.shape(inputs)
        tokens = tf.reduce_prod(shape[:-1])
        flat = tf.reshape(inputs, tf.stack([1, tokens, shape[-1], 1]))
        empty = tf.constant([], tf.float32)
        normalized, *_ = tf.raw_ops.FusedBatchNormV3(
            x=flat,
            scale=tf.ones(tokens[None], tf.float32),
            offset=tf.zeros(tokens[None], tf.float32),
            mean=empty,
            variance=empty,
            epsilon=float(self.epsilon),
            data_format="NCHW",
            is_training=True,
        )
        outputs = tf.reshape(normalized, shape) * tf.cast(self.gamma, inputs.dtype) + tf.cast(self.beta, inputs.dtype)
        outputs.set_shape(inputs.shape)
        return outputs


def _layer_norm_convertible(layer) -> bool:
    """A built layer norm over the last axis alone, with scale and offset (what ``TokenLayerNorm`` computes)."""
    axis = list(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    built = getattr(layer, "_build_input_shape", None)
    return bool(built is not None and len(axis) == 1 and axis[0] in (-1, built.rank - 1) and layer.center and layer.scale)


def _linear(x):
    return x


def _move_activation(layer) -> bool:
    """Moves a feed-forward activation into its Dense; True where ``layer`` had one to move."""
    for dense_name, activation_name in FEED_FORWARD_ATTRIBUTES:
        dense, activation = getattr(layer, dense_name, None), getattr(layer, activation_name, None)
        if isinstance(dense, keras.layers.Dense) and callable(activation) and not isinstance(activation, keras.layers.Layer):
            if activation is _linear:
                return True  # moved by an earlier call
            if dense.activation not in (None, keras.activations.linear):
                raise FusionError(f"{layer.name}.{dense_name} already has an activation: cannot move {activation_name} into it")
            dense.activation = keras.activations.get(activation) if isinstance(activation, str) else activation
            setattr(layer, activation_name, _linear)
            return True
    return False


def fuse_dense_layers(model, expected_feed_forward: int | None = None):
    """Rewrites ``model``'s dense layers in place (see the module docstring) and returns it.

    Args:
        model: a built transformers ``TF*Model`` (or any Keras layer holding one).
        expected_feed_forward: how many feed-forward activations must move (the encoder's layer count; ALBERT's
            shared layers count once per distinct layer). A different count raises :class:`FusionError`.
    """
    moved, dense = 0, 0
    for layer in sublayers(model):
        if type(layer) is keras.layers.Dense:
            layer.__class__ = TokenDense
        if isinstance(layer, TokenDense):
            dense += 1
        if type(layer) is keras.layers.LayerNormalization and _layer_norm_convertible(layer):
            layer.__class__ = TokenLayerNorm
        moved += _move_activation(layer)
    if dense == 0:
        raise FusionError(f"{model.name} has no Dense layers to fuse: transformers' layers changed")
    if expected_feed_forward is not None and moved != expected_feed_forward:
        raise FusionError(
            f"{model.name}: moved {moved} feed-forward activations into their dense layers, expected "
            f"{expected_feed_forward}: transformers' feed-forward layers changed"
        )
    return model


def sublayers(model) -> list:
    """Every Keras layer under ``model``, each once (ALBERT shares its layers between groups), in the model's own
    (deterministic) order."""
    seen, out = set(), []
    for module in [model, *model.submodules]:
        if isinstance(module, keras.layers.Layer) and id(module) not in seen:
            seen.add(id(module))
            out.append(module)
    return out


def feed_forward_count(model_type: str, config) -> int:
    """How many feed-forward activations an encoder of this family and config holds."""
    if model_type == "albert":
        return config.num_hidden_groups * config.inner_group_num
    return getattr(config, "num_hidden_layers", None) or config.n_layers
