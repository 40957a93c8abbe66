"""Hostile requests against `bert-cls serve`: what each costs the server (peak and kept RSS, seconds) and what it
answers. Run it against the current source, and with ``--source`` against another checkout (an older commit) for
a before/after comparison; both write one JSON object per run.

    python -m bert_cls.bench.hostile_requests --out bench/hostile_requests.json
    git worktree add /tmp/before <commit> && python -m bert_cls.bench.hostile_requests --source /tmp/before --label before ...

The export is ``nsmc-small`` with a fresh two-class head (the weights do not matter to what a request costs).
Peak RSS per case: the kernel's high-water mark, reset before each case through ``/proc/PID/clear_refs``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

os.environ.setdefault("USE_TORCH", "0")
MODEL = "hostile"


def _status(pid: int) -> dict:
    values = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            values[key] = int(rest.split()[0])
    return values


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _grpc_case(address: str, dims: list):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=MODEL, signature_name="encoded"))
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(1, dtype=tf.int32, shape=dims))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
    try:
        stub.Predict(request, timeout=300)
        return "OK", "", request.ByteSize()
    except grpc.RpcError as exc:
        return exc.code().name, exc.details()[:160], request.ByteSize()


def _rest_case(rest_url: str, raw: bytes):
    request = urllib.request.Request(f"{rest_url}/v1/models/{MODEL}:predict", data=raw, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return str(response.status), response.read()[:160].decode(errors="replace"), len(raw)
    except urllib.error.HTTPError as exc:
        return str(exc.code), exc.read()[:160].decode(errors="replace"), len(raw)
    except (urllib.error.URLError, ConnectionError) as exc:
        return "connection error", str(exc)[:160], len(raw)


def _encoded(values: dict) -> bytes:
    row = {"input_ids": [2, 5, 3], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0], **values}
    return json.dumps({"signature_name": "encoded", "instances": [row]}).encode()


def cases(server):
    """(name, callable returning (answer, detail, request bytes))."""
    address, rest = server.address, server.rest_url
    yield "grpc encoded [1, 150000000] (126 bytes)", lambda: _grpc_case(address, [1, 150_000_000])
    yield "grpc encoded [1, 50000000]", lambda: _grpc_case(address, [1, 50_000_000])
    yield "rest 60 MiB of empty strings", lambda: _rest_case(rest, b'{"instances": [' + b'"", ' * (15 << 20) + b'""]}')
    yield "rest nested 100,000 deep", lambda: _rest_case(rest, b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    yield "rest nested 500 deep", lambda: _rest_case(rest, b'{"instances": ' + b"[" * 500 + b"]" * 500 + b"}")
    yield "rest input_ids 5.9", lambda: _rest_case(rest, _encoded({"input_ids": [2, 5.9, 3]}))
    yield "rest attention_mask 1.7", lambda: _rest_case(rest, _encoded({"attention_mask": [1, 1.7, 1]}))
    yield 'rest input_ids ["2","5","3"]', lambda: _rest_case(rest, _encoded({"input_ids": ["2", "5", "3"]}))
    yield "rest attention_mask booleans", lambda: _rest_case(rest, _encoded({"attention_mask": [True, True, True]}))
    yield "rest 31-digit integer", lambda: _rest_case(rest, _encoded({"input_ids": [2, 10**30, 3]}))
    yield "rest 1e400", lambda: _rest_case(rest, _encoded({"input_ids": [2, 1e400, 3]}))
    yield "rest lone surrogate", lambda: _rest_case(rest, b'{"instances": ["ok", "\\ud800"]}')
    # last: before the request bounds, it took the server past the machine's memory (killed)
    yield "grpc encoded [10000, 100000]", lambda: _grpc_case(address, [10_000, 100_000])


def _stalled_connections(server, count: int, wait_s: float) -> dict:
    """``count`` connections that send headers and half a body, then nothing: threads before, with them, after."""
    pid = server.process.pid
    before = _status(pid)["Threads"]
    head = f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=5)
        sock.sendall(head + b'{"instances": [')
        sockets.append(sock)
    time.sleep(1.0)
    held = _status(pid)["Threads"]
    time.sleep(wait_s)
    after = _status(pid)["Threads"]
    for sock in sockets:
        sock.close()
    return {"connections": count, "threads_before": before, "threads_held": held, f"threads_after_{wait_s:.0f}s": after}


def export_model(work: Path) -> Path:
    from bert_cls.modeling.classifier import BertClassifier
    from bert_cls.modeling.pretrained import resolve_checkpoint
    from bert_cls.serving.export import export_classifier

    classifier = BertClassifier.from_checkpoint(resolve_checkpoint("nsmc-small"), ["negative", "positive"], 64, 0.1)
    export_classifier(classifier, work / "base", model_name=MODEL, verify=False)
    return work / "base"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--source", help="run the server from this checkout's bert_cls (default: the installed one)")
    parser.add_argument("--label", default="after", help="name of this run in the JSON")
    parser.add_argument("--stalled", type=int, default=800, help="connections that stop mid-request")
    parser.add_argument("--stall-wait", type=float, default=35.0, help="seconds to wait before counting threads again")
    args = parser.parse_args()
    from bert_cls import hardware
    from bert_cls.serving.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    base = export_model(work)
    if args.source:  # the server child (`python -m bert_cls`, which puts its working directory first) imports it
        os.environ["PYTHONPATH"] = str(Path(args.source).resolve())
        os.chdir(args.source)
    results = {"label": args.label, "source": args.source or "installed", "cpu": hardware.describe(), "cases": []}
    with ServerProcess(base, MODEL, rest=True, log_file=work / "server.log") as server:
        pid = server.process.pid
        results["idle_rss_mib"] = round(_status(pid)["VmRSS"] / 1024)
        results["stalled"] = _stalled_connections(server, args.stalled, args.stall_wait)
        print(json.dumps(results["stalled"]), flush=True)
        for name, run in cases(server):
            peak_reset = _reset_peak(pid)
            before = _status(pid)["VmRSS"]
            started = time.monotonic()
            answer, detail, size = run()
            seconds = time.monotonic() - started
            time.sleep(0.5)
            if server.process.poll() is not None:  # killed (the kernel's OOM killer): nothing more to measure
                row = {"case": name, "answer": answer, "detail": detail, "seconds": round(seconds, 3), "server_alive": False}
                print(json.dumps(row), flush=True)
                results["cases"].append(row)
                results["server_exit_status"] = server.process.returncode
                break
            status = _status(pid)
            row = {
                "case": name,
                "request_bytes": size,
                "answer": answer,
                "detail": detail,
                "seconds": round(seconds, 3),
                "rss_before_mib": round(before / 1024),
                "peak_rss_mib": round(status["VmHWM"] / 1024) if peak_reset else None,
                "rss_after_mib": round(status["VmRSS"] / 1024),
                "server_alive": server.process.poll() is None,
            }
            print(json.dumps(row), flush=True)
            results["cases"].append(row)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
