"""Served models and their versions, managed the way TF Serving's model server does it.

* **Version policy** (``model_version_policy`` of TF Serving's ``ModelConfig``): ``latest`` (the newest
  ``num_versions``, default 1: TF Serving's default), ``specific`` or ``all``; version labels name versions.
* **Loading never happens on a request.** The poller finds version directories, waits until a
  directory is complete (``saved_model.pb`` and ``variables/``) and unchanged for one poll (a copy in
  progress is not picked up), loads it, replays its ``assets.extra/tf_serving_warmup_requests`` and only
  then marks it ``AVAILABLE``. A load or warm-up failure leaves the version in state ``END`` with the
  error (one log line) and the versions already serving keep answering. A version leaves the policy
  (a newer one arrived) only once a wanted version is available: availability is preserved.
* **Predict** runs a signature on NumPy inputs with TF Serving's checks and status codes, shared by
  the gRPC and REST front ends and the warm-up replay; a large request runs in length-sorted chunks of
  ``CHUNK_ROWS`` rows (bounded memory, little padding) and is answered in its own order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from pathlib import Path
from typing import Optional

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops the exports use)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_status_pb2, prediction_log_pb2

from bert_cls.serving.contract import DEFAULT_MAX_TOKENS, MAX_TOKENS_KEY, METADATA_FILE, SERVING_SIGNATURE

log = logging.getLogger("bert_cls.serving")
State = get_model_status_pb2.ModelVersionStatus.State
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
# Rows a signature runs on at once, so a large request's activations stay bounded. 64, not 256: measured with
# bert_cls/bench/serving_memory.py, the server grew from 1.16 GB idle to 1.87 GB (1.61x) after a 30 MiB request with 256
# and to 1.39 GB (1.20x) with 64; batch 64 is as fast as larger batches on CPU (bench: texts/s by batch size).
CHUNK_ROWS = 64


class RequestError(Exception):
    """A request TF Serving would refuse: its gRPC status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve: ``latest`` (newest ``num_versions``), ``specific`` or ``all``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def select(self, on_disk) -> set:
        on_disk = sorted(on_disk)
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return set(self.versions) & set(on_disk)
        return set(on_disk[-self.num_versions :]) if self.num_versions > 0 else set()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One entry of the model config: a name, a base path, a policy and version labels."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: tuple = ()  # ((label, version), ...)


@dataclasses.dataclass
class LoadedVersion:
    version: int
    model: object  # tf.saved_model.load's object
    meta_graph: object  # MetaGraphDef, for GetModelMetadata
    max_tokens: int = DEFAULT_MAX_TOKENS  # values per row a numeric input may hold (limits.py)

    def predict(self, signature_name: str, inputs: dict, output_filter=()) -> dict:
        """Runs a signature on ``{name: np.ndarray}``; ``{name: np.ndarray}`` of the (filtered) outputs."""
        signature_name = signature_name or SERVING_SIGNATURE
        if signature_name not in self.model.signatures:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f'Serving signature key "{signature_name}" not found.')
        function = self.model.signatures[signature_name]
        specs = function.structured_input_signature[1]
        sent, expected = set(inputs), set(specs)
        if sent != expected:
            missing, extra = sorted(expected - sent), sorted(sent - expected)
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensors do not match signature {signature_name}: missing {missing}, unexpected {extra}",
            )
        tensors = {name: _as_tensor(name, inputs[name], spec) for name, spec in specs.items()}
        try:
            outputs = _run_in_chunks(function, tensors)
        except tf.errors.InvalidArgumentError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from None
        wanted = set(output_filter) or set(outputs)
        unknown = wanted - set(outputs)
        if unknown:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output_filter names unknown outputs {sorted(unknown)}")
        return {key: outputs[key] for key in sorted(wanted)}


def _run_in_chunks(function, tensors: dict) -> dict:
    """Runs a signature on at most ``CHUNK_ROWS`` rows at a time, rows of similar text length together, and
    returns the outputs in request order: one large request cannot grow the server by gigabytes, and little is
    computed on padding. Requests whose inputs do not share a batch dimension run whole."""
    sizes = {int(t.shape[0]) if t.shape.rank else -1 for t in tensors.values()}
    rows = sizes.pop() if len(sizes) == 1 else -1
    if rows <= CHUNK_ROWS:
        return {k: v.numpy() for k, v in function(**tensors).items()}
    strings = [t for t in tensors.values() if t.dtype == tf.string and t.shape.rank == 1]
    lengths = sum(tf.strings.length(t).numpy() for t in strings) if strings else np.zeros(rows, np.int64)
    order = np.argsort(lengths, kind="stable")
    parts = []
    for start in range(0, rows, CHUNK_ROWS):
        chunk = order[start : start + CHUNK_ROWS]
        out = function(**{k: tf.gather(v, chunk) for k, v in tensors.items()})
        out = {k: v.numpy() for k, v in out.items()}
        if any(v.ndim == 0 or v.shape[0] != len(chunk) for v in out.values()):  # not row-wise: cannot split
            return {k: v.numpy() for k, v in function(**tensors).items()}
        parts.append(out)
    restore = np.empty(rows, np.int64)
    restore[order] = np.arange(rows)
    return {k: np.concatenate([p[k] for p in parts])[restore] for k in parts[0]}


def _as_tensor(name: str, array: np.ndarray, spec):
    if spec.dtype == tf.string:
        not_text = array.dtype.kind == "O" and any(not isinstance(x, (bytes, str)) for x in array.flat)
        if array.dtype.kind not in "SUO" or not_text:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Expects arg[{name}] to be string but {array.dtype} is provided"
            )
    elif array.dtype.kind not in "biuf":
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT, f"Expects arg[{name}] to be {spec.dtype.name} but {array.dtype} is provided"
        )
    if array.ndim != spec.shape.rank:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input {name} must have rank {spec.shape.rank} (shape {spec.shape}), got shape {list(array.shape)}",
        )
    try:
        return tf.constant(array, dtype=spec.dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name}: {exc}") from None


def directory_fingerprint(path: Path) -> Optional[tuple]:
    """What a complete version directory looks like now (files, sizes, mtimes); ``None`` if incomplete."""
    if not (path / "saved_model.pb").is_file() or not (path / "variables").is_dir():
        return None
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:  # deleted while we looked: not stable
                return None
            entries.append((os.path.relpath(os.path.join(root, name), path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def recorded_max_tokens(path: Path) -> int:
    """The longest token sequence a bert-cls export's graph reads (its metadata file), else ``DEFAULT_MAX_TOKENS``."""
    try:
        value = json.loads((path / "assets.extra" / METADATA_FILE).read_text(encoding="utf-8")).get(MAX_TOKENS_KEY)
    except (OSError, ValueError, AttributeError):  # absent (another model, an older export) or not a JSON object
        return DEFAULT_MAX_TOKENS
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else DEFAULT_MAX_TOKENS


def load_version(path: Path, version: int) -> LoadedVersion:
    """Loads a SavedModel and replays its warm-up records; raises on any failure."""
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    loaded = LoadedVersion(version, tf.saved_model.load(str(path)), proto.meta_graphs[0], recorded_max_tokens(path))
    warmup = path / WARMUP_FILE
    if warmup.is_file():
        for number, record in enumerate(tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator(), start=1):
            entry = prediction_log_pb2.PredictionLog.FromString(record)
            if entry.WhichOneof("log_type") != "predict_log":
                continue
            request = entry.predict_log.request
            try:
                loaded.predict(
                    request.model_spec.signature_name,
                    {k: tf.make_ndarray(v) for k, v in request.inputs.items()},
                    request.output_filter,
                )
            except RequestError as exc:
                raise RuntimeError(f"warm-up record {number} failed: {exc}") from None
    return loaded


class ServedModel:
    """The versions of one model: what is on disk, loaded, available, and why not."""

    def __init__(self, spec: ModelSpec, loader=load_version):
        self.spec = spec
        self._loader = loader
        self._lock = threading.Lock()
        self._available: dict = {}  # version -> LoadedVersion
        self._states: dict = {}  # version -> (State, error message)
        self._seen: dict = {}  # version -> fingerprint at the previous poll
        self._failed: dict = {}  # version -> fingerprint that failed to load (retried when it changes)
        self._missing_logged: tuple = ()

    # ---- the poller's side ------------------------------------------------------------------------

    def on_disk(self) -> dict:
        """``{version: fingerprint}`` of complete version directories."""
        base = Path(self.spec.base_path)
        found = {}
        if base.is_dir():
            for path in base.iterdir():
                if path.name.isdigit() and path.is_dir():
                    fingerprint = directory_fingerprint(path)
                    if fingerprint is not None:
                        found[int(path.name)] = fingerprint
        return found

    def poll(self) -> None:
        """One round: load newly stable wanted versions, then unload those the policy no longer wants."""
        found = self.on_disk()
        stable = {v for v, fp in found.items() if self._seen.get(v) == fp}
        self._seen = found
        missing = tuple(sorted(set(self.spec.policy.versions) - set(found)))
        if missing != self._missing_logged:  # once per change, not every poll
            self._missing_logged = missing
            if missing:
                log.warning(
                    "the version policy of %s names versions %s that are not in %s: not serving them",
                    self.spec.name,
                    list(missing),
                    self.spec.base_path,
                )
        # A loaded version still on disk counts as present even while its files are touched.
        wanted = self.spec.policy.select(stable | (set(self._available) & set(found)))
        for version in sorted(wanted - set(self._available), reverse=True):
            if self._failed.get(version) != found[version]:
                self._load(version, found[version])
        with self._lock:
            # Availability preserving: an unwanted version goes only once a wanted one serves (or none is wanted).
            can_unload = any(v in self._available for v in wanted) or not wanted
            for version in list(self._available):
                gone = version not in found
                if version not in wanted and can_unload:
                    del self._available[version]
                    self._states[version] = (State.END, "")
                    log.info("unloaded %s version %d%s", self.spec.name, version, " (removed from disk)" if gone else "")
            for version in [v for v in self._states if v not in found and v not in self._available]:
                if self._states[version][0] != State.END:
                    self._states[version] = (State.END, "")

    def _load(self, version: int, fingerprint) -> None:
        with self._lock:
            self._states[version] = (State.LOADING, "")
        try:
            loaded = self._loader(Path(self.spec.base_path) / str(version), version)
        except Exception as exc:  # any failure: the version is not served, the others keep answering
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            log.error("loading %s version %d failed, not serving it: %s", self.spec.name, version, message)
            with self._lock:
                self._states[version] = (State.END, message)
                self._failed[version] = fingerprint
            return
        with self._lock:
            self._available[version] = loaded
            self._states[version] = (State.AVAILABLE, "")
            self._failed.pop(version, None)
        log.info("%s version %d is available (loaded and warmed up)", self.spec.name, version)

    # ---- the request side -------------------------------------------------------------------------

    @property
    def available_versions(self) -> list:
        with self._lock:
            return sorted(self._available)

    def resolve(self, version: Optional[int] = None, label: Optional[str] = None) -> LoadedVersion:
        """The loaded version a request asks for (the newest available one by default)."""
        name = self.spec.name
        if label:
            labels = dict(self.spec.labels)
            if label not in labels:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}")
            version = labels[label]
        with self._lock:
            if version is None:
                if not self._available:
                    raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
                return self._available[max(self._available)]
            if version not in self._available:
                raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})")
            return self._available[version]

    def status(self, version: Optional[int] = None) -> list:
        """``[(version, State, error message)]`` in version order, as ``GetModelStatus`` reports them."""
        with self._lock:
            states = dict(self._states)
        if version is not None:
            if version not in states:
                raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {self.spec.name}")
            return [(version, *states[version])]
        if not states:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {self.spec.name}")
        return [(v, *states[v]) for v in sorted(states)]


class ModelManager:
    """All served models, polled on one background thread; the config can be replaced while serving."""

    def __init__(self, specs, poll_seconds: float = 1.0, loader=load_version):
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._models: dict = {}
        self._stop = threading.Event()
        self.configure(specs)

    def configure(self, specs) -> None:
        """Serves exactly these models (a model whose spec is unchanged keeps its loaded versions)."""
        with self._lock:
            current = dict(self._models)
            models = {}
            for spec in specs:
                kept = current.get(spec.name)
                if kept is not None and kept.spec.base_path == spec.base_path:
                    kept.spec = spec  # a new policy or labels apply from the next poll
                    models[spec.name] = kept
                else:
                    models[spec.name] = ServedModel(spec, self._loader)
            self._models = models

    def model(self, name: str) -> ServedModel:
        with self._lock:
            model = self._models.get(name)
        if model is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        return model

    def serves(self, name: str) -> bool:
        """Whether ``name`` is a configured model (the metrics' closed set of model labels)."""
        with self._lock:
            return name in self._models

    @property
    def models(self) -> list:
        with self._lock:
            return list(self._models.values())

    def poll_all(self) -> None:
        # One poll at a time: the poller thread and a config reload must not load the same version twice.
        with self._poll_lock:
            for model in self.models:
                try:
                    model.poll()
                except Exception:  # one model's bad directory must not stop the others
                    log.exception("polling %s failed", model.spec.base_path)

    def start(self, settle_seconds: float = 0.2) -> None:
        """Loads what is on disk now (after one short stability check), then polls in the background."""
        self.poll_all()
        self._stop.wait(settle_seconds)
        self.poll_all()

        def loop():
            while not self._stop.wait(self.poll_seconds):
                self.poll_all()

        threading.Thread(target=loop, name="model-poller", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
