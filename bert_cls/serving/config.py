"""Configs of ``bert-cls export``, ``serve`` and ``query`` (light: no TensorFlow)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from bert_cls import config as cfg
from bert_cls.config import arg
from bert_cls.serving.contract import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_TEXT_BYTES,
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    SERVING_SIGNATURE,
)


@dataclasses.dataclass
class ExportConfig(cfg.Config):
    """Arguments of ``bert-cls export``."""

    model: str = cfg.model_dir()
    export_dir: str = arg(help="model base path that TF Serving watches; versions go in numbered subdirectories")
    model_name: str = cfg.model_name(DEFAULT_MODEL_NAME)
    version: Optional[int] = cfg.version("version number (default: one above the highest present)")
    max_length: Optional[int] = cfg.max_length(None, "override the model's max sequence length for serving")
    verify: bool = arg(
        True, "load the export in a fresh TensorFlow + TF Text process and compare (--no-verify skips it: not recommended)"
    )
    precision: str = cfg.export_precision()


@dataclasses.dataclass
class ServeConfig(cfg.Config):
    """Arguments of ``bert-cls serve`` (named after TF Serving's: ``--port``, ``--rest_api_port``,
    ``--model_config_file`` ...)."""

    model_base_path: Optional[str] = arg(None, "directory with numbered SavedModel versions (or --model-config-file)")
    model_name: str = cfg.model_name(DEFAULT_MODEL_NAME)
    model_config_file: Optional[str] = arg(
        None,
        "TF Serving's models.config (text ModelServerConfig): several models, "
        "version policies (latest/specific/all) and version labels",
    )
    model_config_file_poll_wait_seconds: float = arg(60.0, "how often to re-read --model-config-file", check=cfg.positive)
    port: int = cfg.port(8500, "gRPC port (0: a free one, printed)")
    rest_api_port: Optional[int] = cfg.port(
        None,
        "also serve TF Serving's REST API and /monitoring/prometheus/metrics "
        "on this port (TF Serving uses 8501; 0: a free one, printed)",
    )
    host: str = arg("127.0.0.1", "address to bind (0.0.0.0 exposes it)")
    poll_seconds: float = arg(
        1.0, "how often to look for new versions (TF Serving's --file_system_poll_wait_seconds)", check=cfg.positive
    )
    tensorflow_intra_op_parallelism: int = arg(
        0,
        "threads one op may use (TF Serving's flag of the same name; 0: one per core). Set it to a container's CPU limit",
        check=cfg.at_least(0),
    )
    tensorflow_inter_op_parallelism: int = arg(
        0, "ops run at once (TF Serving's flag of the same name; 0: one per core)", check=cfg.at_least(0)
    )
    max_request_rows: int = arg(
        DEFAULT_MAX_ROWS,
        "refuse a request with more rows than this (INVALID_ARGUMENT), "
        "checked before its tensors are decoded; clients split larger batches",
        check=cfg.at_least(1),
    )
    max_text_bytes: int = arg(
        DEFAULT_MAX_TEXT_BYTES,
        "refuse a request holding a text longer than this many bytes "
        "(INVALID_ARGUMENT); texts are truncated to the model's max length anyway",
        check=cfg.at_least(1),
    )
    rest_api_timeout_in_ms: int = arg(
        int(DEFAULT_REST_TIMEOUT_S * 1000),
        "close a REST connection that sends nothing for this long, mid-request or idle (TF Serving's flag of the same name)",
        check=cfg.at_least(1),
    )
    rest_api_max_connections: int = arg(
        DEFAULT_MAX_CONNECTIONS,
        "REST connections held at once (a thread each); one more is answered 503 and closed",
        check=cfg.at_least(1),
    )


@dataclasses.dataclass
class QueryConfig(cfg.Config):
    """Arguments of ``bert-cls query``."""

    server: Optional[str] = arg(
        None,
        "host:port of the gRPC endpoint (default localhost:8500), or with --rest of the REST "
        "API (default localhost:8501; an http(s):// URL works too)",
    )
    rest: bool = arg(False, "use TF Serving's REST API instead of gRPC (no TensorFlow needed on this side)")
    model_name: str = cfg.model_name(DEFAULT_MODEL_NAME)
    signature: str = arg(SERVING_SIGNATURE, "signature to call")
    version: Optional[int] = cfg.version("model version (default: latest)")
    timeout: float = arg(DEFAULT_TIMEOUT_S, "deadline per call in seconds", check=cfg.positive)
    batch_size: int = cfg.batch_size(64, "texts per request")
    retries: int = arg(3, "retries when the server is unavailable", check=cfg.at_least(0))
    root_cert: Optional[str] = arg(None, "PEM root certificates: use TLS")
    file: Optional[str] = cfg.text_file()
    format: Optional[str] = cfg.data_format()
    text_column: str = cfg.text_column()
    text_pair_column: Optional[str] = cfg.text_pair_column()
    pair: Optional[list] = cfg.pair()
    json: bool = cfg.json_lines()
    metadata: bool = arg(False, "print the model's status and signatures instead")
    texts: list = cfg.texts()
