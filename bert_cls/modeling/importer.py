"""``bert-cls import``: a fine-tuned Hugging Face sequence classifier as a bert-cls run directory.

The checkpoint's ``TF*ForSequenceClassification`` is loaded with transformers' own weight loaders (through
``pretrained.load_weights``), and its encoder and head weights are copied by name into a ``BertClassifier`` of
the same family, whose head has the same layout (``families.Family.head_weights``). Label names come from
``id2label``; ``problem_type: multi_label_classification`` makes it a multi-label model. Before anything is
written, the copy is checked: both models must give the same logits (within ``PARITY_TOLERANCE``) on the
same ids. The run directory is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import operator
import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np

from bert_cls.errors import BertClsError
from bert_cls.json_files import write_json
from bert_cls.modeling.classifier import BertClassifier, ClassifierConfig
from bert_cls.modeling.keras_compat import tf
from bert_cls.modeling.pretrained import Checkpoint, load_weights, resolve_checkpoint

IMPORT_FILE = "import.json"
PARITY_TOLERANCE = 1e-4
PROBE_TEXTS = ("a short text", "정말 재밌게 봤어요. 배우들 연기가 최고!", "", "지루하다 " * 40)


def import_classifier(config) -> dict:
    """Writes ``config.output_dir`` from the checkpoint ``config.checkpoint[0]``; returns what was imported."""
    output_dir = Path(config.output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not config.overwrite:
        raise BertClsError(f"--output-dir {output_dir} is not empty: pass --overwrite to replace it")
    checkpoint = resolve_checkpoint(config.checkpoint[0], config.cache_dir)
    label_names, multi_label = _labels(checkpoint)
    outputs = _head_outputs(checkpoint)
    if outputs is not None and outputs != len(label_names):
        raise BertClsError(
            f"checkpoint {checkpoint.path}: its classification head has {outputs} outputs but "
            f"config.json's id2label names {len(label_names)} classes: fix id2label to match the head"
        )
    source = _load_source(checkpoint, len(label_names))
    spec, resource = checkpoint.tokenizer
    classifier = BertClassifier.from_config(
        ClassifierConfig(
            bert_config=source.config.to_dict(),
            label_names=label_names,
            lower_case=spec["lower_case"],
            max_length=config.max_length,
            text_pair=config.text_pair,
            multi_label=multi_label,
            tokenizer=spec,
        ),
        resource,
    )
    _copy_weights(source, classifier, checkpoint.family)
    difference = _check_same_logits(source, classifier)
    report = {
        "checkpoint": config.checkpoint[0],
        "path": str(checkpoint.path),
        "model_type": checkpoint.family.model_type,
        "labels": label_names,
        "multi_label": multi_label,
        "tokenizer": spec["kind"],
        "max_abs_logit_diff": difference,
    }
    _write_atomically(classifier, report, output_dir)
    return report


def _labels(checkpoint: Checkpoint) -> tuple:
    """``(label names in id order, multi-label?)``; a checkpoint that is no sequence classifier is refused."""
    values = checkpoint.config_dict
    architectures = values.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise BertClsError(
            f"checkpoint {checkpoint.path} is not a sequence classifier (architectures: "
            f"{', '.join(architectures) or 'none'}): to fine-tune it, use bert-cls train --pretrained {checkpoint.name}"
        )
    id2label = values.get("id2label") or {}
    try:
        names = [str(id2label[key]) for key in sorted(id2label, key=int)]
    except ValueError:
        raise BertClsError(f"checkpoint {checkpoint.path}: config.json's id2label keys must be class ids") from None
    if not names or [int(k) for k in sorted(id2label, key=int)] != list(range(len(names))):
        raise BertClsError(
            f"checkpoint {checkpoint.path}: config.json's id2label must name classes 0..K-1, got {sorted(id2label, key=int)}"
        )
    if len(set(names)) != len(names):
        raise BertClsError(f"checkpoint {checkpoint.path}: config.json's id2label names a class twice: {names}")
    return names, values.get("problem_type") == "multi_label_classification"


def _head_outputs(checkpoint: Checkpoint) -> Optional[int]:
    """How many classes the stored head's output layer has (the length of its bias), or ``None`` if the file
    holds no such layer (``_load_source`` then reports the missing head)."""
    output_layer = checkpoint.family.head_weights[-1][1]  # "classifier" or "classifier.out_proj"
    h5_file = checkpoint.path / "tf_model.h5"
    if h5_file.is_file():
        import h5py

        suffix = "/" + output_layer.replace(".", "/") + "/bias:0"
        with h5py.File(h5_file, "r") as handle:
            found = []
            handle.visititems(
                lambda name, item: (
                    found.append(item.shape[0]) if isinstance(item, h5py.Dataset) and name.endswith(suffix) else None
                )
            )
        return found[0] if found else None
    from safetensors import safe_open

    with safe_open(str(checkpoint.path / "model.safetensors"), framework="numpy") as handle:
        name = output_layer + ".bias"
        return handle.get_slice(name).get_shape()[0] if name in handle.keys() else None


def _load_source(checkpoint: Checkpoint, num_labels: int):
    """transformers' ``TF*ForSequenceClassification`` with the checkpoint's weights, head included."""
    family = checkpoint.family
    config = checkpoint.encoder_config()
    config.num_labels = num_labels
    model = family.classifier_class_object()(config)
    model(model.dummy_inputs, training=False)
    heads = tuple(path.split(".")[0] for _, path in family.head_weights)
    return load_weights(model, checkpoint, family.prefix, pooler_used=family.pooled, also_required=heads)


def _relative(weight) -> str:
    """A weight's name without the outer model's (``electra/encoder/...``): the transformers classifier and our
    encoder hold the same main layer under different model names."""
    return weight.name.split("/", 1)[1]


def _copy_weights(source, classifier: BertClassifier, family) -> None:
    """Encoder weights by name, then each head layer from its place in the transformers classifier."""
    values = {_relative(w): w for w in getattr(source, family.prefix).weights}
    targets = getattr(classifier.encoder, family.prefix).weights
    missing = [_relative(w) for w in targets if _relative(w) not in values]
    if missing:
        raise BertClsError(f"the checkpoint's classifier has no encoder weights {missing[:3]}: cannot import it")
    for weight in targets:
        weight.assign(values[_relative(weight)])
    for ours, theirs in family.head_weights:
        classifier.encoded_model.get_layer(ours).set_weights(operator.attrgetter(theirs)(source).get_weights())


def _check_same_logits(source, classifier: BertClassifier) -> float:
    """Largest logit difference between transformers' classifier and the copy, on the same ids."""
    texts = tf.constant(PROBE_TEXTS)
    inputs = classifier.tokenizer((texts, texts) if classifier.config.text_pair else texts)
    ours = classifier.encoded_model(inputs, training=False).numpy()
    theirs = source(**inputs, training=False).logits.numpy()
    difference = float(np.abs(ours - theirs).max())
    if not difference <= PARITY_TOLERANCE:
        raise BertClsError(
            f"the imported classifier's logits differ from transformers' by {difference:.2e} "
            f"(tolerance {PARITY_TOLERANCE}): this checkpoint's head is not one bert-cls reproduces"
        )
    return difference


def _write_atomically(classifier: BertClassifier, report: dict, output_dir: Path) -> None:
    staging = output_dir.parent / f".{output_dir.name}.import-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        classifier.save(staging)
        write_json(staging / IMPORT_FILE, report)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
