"""TF Serving's REST API on `bert-cls serve --rest-api-port`, over real loopback sockets with plain HTTP
(urllib: no bert-cls code on the client side), checked against api_rest.md and against the gRPC answers."""

import base64
import json
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from bert_cls.serving import ServingClient
from bert_cls.serving.process import ServerProcess

MODEL = "toy"
TEXTS = ["good movie", "최악이고 지루한 영화", "", "정말 재밌다 " * 50]


@pytest.fixture(scope="module")
def rest(tmp_path_factory, tiny_classifier, tiny_export):
    base = tmp_path_factory.mktemp("rest") / "base"
    shutil.copytree(tiny_export, base)
    with ServerProcess(base, MODEL, rest=True, log_file=base.parent / "server.log") as server:
        yield server, tiny_classifier


def http(server, path, body=None, method=None, raw=None):
    """(status, parsed JSON or text) of one plain HTTP request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.rest_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read().decode()
    try:
        return status, json.loads(payload)
    except json.JSONDecodeError:
        return status, payload


def test_status_and_metadata_routes(rest):
    server, _ = rest
    for path in (f"/v1/models/{MODEL}", f"/v1/models/{MODEL}/versions/1"):
        status, body = http(server, path)
        assert status == 200
        # proto3 JSON of GetModelStatusResponse, as the container prints it (int64 as a string, OK printed)
        assert body == {
            "model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
        }
    status, body = http(server, f"/v1/models/{MODEL}/metadata")
    assert status == 200 and body["model_spec"]["name"] == MODEL and body["model_spec"]["version"] == "1"
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "encoded"}
    assert set(signatures["serving_default"]["inputs"]) == {"text"}


def test_row_and_columnar_predict_equal_grpc(rest):
    server, classifier = rest
    status, row = http(server, f"/v1/models/{MODEL}:predict", {"instances": TEXTS})
    assert status == 200 and len(row["predictions"]) == len(TEXTS)
    assert set(row["predictions"][0]) == {"probabilities", "label_id", "label"}
    status, columnar = http(
        server, f"/v1/models/{MODEL}/versions/1:predict", {"signature_name": "serving_default", "inputs": {"text": TEXTS}}
    )
    assert status == 200 and set(columnar["outputs"]) == {"probabilities", "label_id", "label"}
    with ServingClient(server.address, MODEL) as client:
        over_grpc = client.predict(TEXTS)
    np.testing.assert_allclose([p["probabilities"] for p in row["predictions"]], [p.probabilities for p in over_grpc], atol=1e-6)
    np.testing.assert_allclose(columnar["outputs"]["probabilities"], [p.probabilities for p in over_grpc], atol=1e-6)
    assert [p["label"] for p in row["predictions"]] == [p.label for p in over_grpc]
    np.testing.assert_allclose(columnar["outputs"]["probabilities"], classifier.predict_proba(TEXTS), atol=1e-5)
    # binary strings as {"b64": ...}, and a single named output filtered by the signature's only input
    encoded = [{"b64": base64.b64encode(t.encode()).decode()} for t in TEXTS]
    status, b64 = http(server, f"/v1/models/{MODEL}:predict", {"instances": encoded})
    assert status == 200 and b64["predictions"] == row["predictions"]


BAD_REQUESTS = [
    ("malformed JSON", f"/v1/models/{MODEL}:predict", None, b'{"instances": [', "POST", 400, "JSON Parse error"),
    ("both formats", f"/v1/models/{MODEL}:predict", {"instances": ["a"], "inputs": ["a"]}, None, "POST", 400, "not both"),
    (
        "neither format",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": "serving_default"},
        None,
        "POST",
        400,
        "Missing 'inputs' or 'instances'",
    ),
    (
        "number for a string",
        f"/v1/models/{MODEL}:predict",
        {"instances": [1, 2]},
        None,
        "POST",
        400,
        "is not of expected type: string",
    ),
    ("wrong rank", f"/v1/models/{MODEL}:predict", {"instances": [["a", "b"], ["c", "d"]]}, None, "POST", 400, "rank 1"),
    (
        "unknown signature",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": "nope", "instances": ["a"]},
        None,
        "POST",
        400,
        'Serving signature name: "nope" not found',
    ),
    ("unknown model", "/v1/models/nope:predict", {"instances": ["a"]}, None, "POST", 404, "Servable not found"),
    ("unknown version", f"/v1/models/{MODEL}/versions/9:predict", {"instances": ["a"]}, None, "POST", 404, "Specific(toy, 9)"),
    (
        "unknown label",
        f"/v1/models/{MODEL}/labels/canary:predict",
        {"instances": ["a"]},
        None,
        "POST",
        400,
        "Unrecognized servable version label: canary",
    ),
    ("not UTF-8", f"/v1/models/{MODEL}:predict", None, b'{"instances": ["\xff\xfe"]}', "POST", 400, "not UTF-8"),
    ("GET on :predict", f"/v1/models/{MODEL}:predict", None, None, "GET", 400, "Malformed request: GET"),
    ("unknown status version", f"/v1/models/{MODEL}/versions/9", None, None, "GET", 404, "Could not find version 9"),
]


@pytest.mark.parametrize("what, path, body, raw, method, code, message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_tf_serving_statuses_and_the_server_keeps_answering(rest, what, path, body, raw, method, code, message):
    server, _ = rest
    status, answer = http(server, path, body, method=method, raw=raw)
    assert status == code and set(answer) == {"error"} and message in answer["error"], answer
    status, answer = http(server, f"/v1/models/{MODEL}:predict", {"instances": ["still here"]})
    assert status == 200 and len(answer["predictions"]) == 1


def test_body_limit_is_a_clear_400(rest):
    server, _ = rest
    just_over = b'{"instances": ["' + b"a" * (64 * 1024 * 1024) + b'"]}'
    status, answer = http(server, f"/v1/models/{MODEL}:predict", raw=just_over, method="POST")
    assert status == 400 and "64 MiB limit" in answer["error"]
    status, _ = http(server, f"/v1/models/{MODEL}:predict", {"instances": ["a" * 100_000]})
    assert status == 200


def test_twenty_concurrent_clients_and_metrics_count_them(rest):
    server, _ = rest

    def count(text, status):
        for line in text.splitlines():
            if (
                line.startswith(":tensorflow:serving:request_count{")
                and f'model_name="{MODEL}"' in line
                and f'status="{status}"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    _, before = http(server, "/monitoring/prometheus/metrics")
    results = []

    def client(k):
        for _ in range(3):
            results.append(http(server, f"/v1/models/{MODEL}:predict", {"instances": [f"review {k}", "good movie"]})[0])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 60
    _, after = http(server, "/monitoring/prometheus/metrics")
    assert count(after, "OK") - count(before, "OK") == 60 + 0  # the metrics requests themselves are not model requests
    assert ':tensorflow:serving:request_latency_bucket{API="predict",entrypoint="REST"' in after


def test_rest_client_equals_grpc_client_and_imports_no_tensorflow(rest, capsys):
    import subprocess
    import sys

    from bert_cls.cli import main
    from bert_cls.serving import RestClient, ServingError

    server, _ = rest
    texts = TEXTS + [f"review {k}" for k in range(9)]
    with (
        RestClient(f"127.0.0.1:{server.rest_port}", MODEL, batch_size=4) as over_rest,
        ServingClient(server.address, MODEL, batch_size=4) as over_grpc,
    ):
        got, expected = over_rest.predict(texts), over_grpc.predict(texts)
        assert [p.label for p in got] == [p.label for p in expected] and [p.text for p in got] == texts
        np.testing.assert_allclose([p.probabilities for p in got], [p.probabilities for p in expected], atol=1e-6)
        assert over_rest.status() == over_grpc.status()
        assert over_rest.metadata() == over_grpc.metadata()
    with RestClient(f"127.0.0.1:{server.rest_port}", "nope") as missing, pytest.raises(ServingError) as info:
        missing.predict(["x"])
    assert info.value.code.name == "NOT_FOUND" and "Servable not found" in str(info.value)
    assert "served under another name than 'nope'? pass it with --model-name" in str(info.value)
    with ServingClient(server.address, "nope", max_retries=0) as missing, pytest.raises(ServingError) as info:
        missing.predict(["x"])  # the same hint over gRPC
    assert info.value.code.name == "NOT_FOUND" and "pass it with --model-name" in str(info.value)
    with RestClient("127.0.0.1:9", MODEL, max_retries=1, backoff=0.01) as down, pytest.raises(ServingError) as info:
        down.status()
    assert info.value.code.name == "UNAVAILABLE" and "after 2 attempts" in str(info.value)
    # the REST client is usable where TensorFlow is not installed: it never imports it
    probe = "import sys, bert_cls.serving.rest_client; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
    capsys.readouterr()
    assert (
        main(
            ["query", "--rest", "--server", f"127.0.0.1:{server.rest_port}", "--model-name", MODEL, "--json", "good movie", "bad"]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with ServingClient(server.address, MODEL) as over_grpc:
        expected = over_grpc.predict(["good movie", "bad"])
    np.testing.assert_allclose([r["probabilities"] for r in rows], [p.probabilities for p in expected], atol=1e-6)
