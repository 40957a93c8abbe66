"""TF Serving's model config file (``--model_config_file``): several models, version policies and labels.

Parsed with TF Serving's own ``ModelServerConfig`` proto in protobuf text format (``google.protobuf.text_format``),
not by hand, so a file that works here works in the container and the other way round. ``ConfigWatcher``
re-reads it every ``--model-config-file-poll-wait-seconds``: a file that no longer parses, or names a
policy it cannot hold, keeps the last good config (one log line) and the server keeps answering.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from bert_cls import config as cfg
from bert_cls.errors import BertClsError
from bert_cls.serving.models import ModelSpec, VersionPolicy

log = logging.getLogger("bert_cls.serving")


def _policy(config) -> VersionPolicy:
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "specific":
        if not policy.specific.versions:
            raise BertClsError(f"model {config.name!r}: a specific version policy needs at least one version")
        return VersionPolicy("specific", versions=tuple(int(v) for v in policy.specific.versions))
    if kind == "all":
        return VersionPolicy("all")
    num = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return VersionPolicy("latest", num_versions=num)


def parse_model_config(text: str, relative_to: Path = Path(".")) -> list:
    """``ModelSpec``s of a ``models.config`` text; a relative ``base_path`` is taken from ``relative_to``."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise BertClsError(f"the model config does not parse: {exc}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise BertClsError("the model config needs a model_config_list (custom_model_config is not supported)")
    specs, names = [], set()
    for entry in config.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise BertClsError("every config { } in the model config needs a name and a base_path")
        if entry.name in names:
            raise BertClsError(f"the model config names model {entry.name!r} twice")
        if entry.model_platform not in ("", "tensorflow"):
            raise BertClsError(f"model {entry.name!r}: model_platform {entry.model_platform!r}; only tensorflow is served")
        names.add(entry.name)
        base = Path(entry.base_path)
        base = base if base.is_absolute() else relative_to / base
        policy = _policy(entry)
        labels = tuple(sorted((label, int(v)) for label, v in entry.version_labels.items()))
        if policy.kind == "specific":
            for label, version in labels:
                if version not in policy.versions:
                    raise BertClsError(
                        f"model {entry.name!r}: label {label!r} points at version {version}, "
                        f"which its specific policy does not serve ({list(policy.versions)})"
                    )
        specs.append(ModelSpec(entry.name, str(base), policy, labels))
    if not specs:
        raise BertClsError("the model config lists no model")
    return specs


def read_model_config(path) -> list:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BertClsError(f"cannot read --model-config-file {path}: {exc.strerror}") from None
    return parse_model_config(text, path.resolve().parent)


def specs_from_flags(config) -> list:
    """The models ``bert-cls serve`` serves: ``--model-config-file``, or ``--model-base-path``/``--model-name``."""
    if config.model_config_file:
        if config.model_base_path:
            raise BertClsError("pass --model-config-file or --model-base-path, not both (as TF Serving)")
        return read_model_config(config.model_config_file)
    if not config.model_base_path:
        raise BertClsError("nothing to serve: pass --model-base-path DIR (with --model-name) or --model-config-file")
    cfg.require("--model-base-path", config.model_base_path, cfg.EXPORT_BASE)
    return [ModelSpec(config.model_name, str(Path(config.model_base_path)))]


class ConfigWatcher:
    """Re-reads the model config file periodically and applies it; a bad file keeps the last good config."""

    def __init__(self, path, manager, poll_seconds: float):
        self.path, self.manager, self.poll_seconds = path, manager, poll_seconds
        self._last_text = Path(path).read_text(encoding="utf-8") if path else None

    def check(self) -> bool:
        """Applies the file if it changed and is valid; True when a new config was applied."""
        try:
            text = Path(self.path).read_text(encoding="utf-8")
        except OSError as exc:
            log.error("cannot read model config %s (%s): keeping the last good config", self.path, exc.strerror)
            return False
        if text == self._last_text:
            return False
        self._last_text = text
        try:
            specs = parse_model_config(text, Path(self.path).resolve().parent)
        except BertClsError as exc:
            log.error("model config %s rejected, keeping the last good config: %s", self.path, exc)
            return False
        self.manager.configure(specs)
        self.manager.poll_all()
        log.info("model config %s applied: %s", self.path, ", ".join(s.name for s in specs))
        return True

    def run_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll_seconds):
            self.check()
