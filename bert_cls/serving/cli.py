"""``bert-cls serve`` and ``bert-cls query``."""

from __future__ import annotations

import dataclasses
import json

from bert_cls.serving.constants import DEFAULT_MODEL_NAME, DEFAULT_TIMEOUT_S, SERVING_SIGNATURE


def cmd_serve(args) -> int:
    from bert_cls.serving.server import serve_forever

    serve_forever(args.model_base_path, args.model_name, args.host, args.port, args.poll_seconds)
    return 0


def cmd_query(args) -> int:
    from bert_cls.cli import read_texts
    from bert_cls.serving.client import ServingClient

    with ServingClient(
        args.server, args.model_name, signature=args.signature, version=args.version, timeout=args.timeout,
        batch_size=args.batch_size, max_retries=args.retries, root_certificates=args.root_cert,
    ) as client:
        if args.metadata:
            print(json.dumps({"status": client.status(), **client.metadata()}, indent=2))
            return 0
        for p in client.predict(read_texts(args)):
            if args.json:
                print(json.dumps(dataclasses.asdict(p), ensure_ascii=False))
            else:
                print(f"{p.label}\t{max(p.probabilities):.4f}\t{p.text}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve exported versions over TF Serving's gRPC API (development server)",
        description="A TF-Serving-compatible gRPC server (Predict, GetModelMetadata, GetModelStatus) for "
        "development and tests where Docker is unavailable. Production: the tensorflow/serving container.",
    )
    p.add_argument("--model-base-path", required=True, help="directory with numbered SavedModel versions")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="(default: %(default)s)")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s; 0.0.0.0 exposes it)")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new versions (default: %(default)s)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("query", help="classify texts with a TF Serving (or bert-cls serve) endpoint over gRPC")
    p.add_argument("--server", default="localhost:8500", help="host:port of the gRPC endpoint (default: %(default)s)")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="(default: %(default)s)")
    p.add_argument("--signature", default=SERVING_SIGNATURE, help="(default: %(default)s)")
    p.add_argument("--version", type=int, help="model version (default: latest)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="deadline per call in seconds (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per request (default: %(default)s)")
    p.add_argument("--retries", type=int, default=3, help="retries when the server is unavailable (default: %(default)s)")
    p.add_argument("--root-cert", help="PEM root certificates: use TLS")
    p.add_argument("--file", help="file with one text per line ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object per text")
    p.add_argument("--metadata", action="store_true", help="print the model's status and signatures instead")
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.set_defaults(func=cmd_query)
