"""Requests built to hurt the server, over real loopback sockets: tensors whose declared shape disagrees with
their values, a 20-byte request declaring a billion rows, oversized rows and texts, versions past int64,
made-up model names that would grow the metrics, and token ids a model cannot read. Each gets
INVALID_ARGUMENT (or NOT_FOUND) and the server keeps answering."""

import http.server
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from bert_cls.cli import main
from bert_cls.errors import BertClsError
from bert_cls.serving import RestClient, ServingClient, ServingError
from bert_cls.serving.process import ServerProcess

MODEL = "toy"
REST_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_export):
    base = tmp_path_factory.mktemp("hostile") / "base"
    shutil.copytree(tiny_export, base)
    limits = ["--max-request-rows", "50", "--max-text-bytes", "1000"]
    limits += ["--rest-api-timeout-in-ms", str(int(REST_TIMEOUT_S * 1000)), "--rest-api-max-connections", "8"]
    with ServerProcess(base, MODEL, rest=True, log_file=base.parent / "server.log", extra_args=limits) as running:
        yield running


def strings_proto(dims, values=()):
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=[v.encode() for v in values])


def predict(running, signature="serving_default", **inputs):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=MODEL, signature_name=signature))
    for name, proto in inputs.items():
        request.inputs[name].CopyFrom(proto)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(running.address))
    return stub.Predict(request, timeout=10)


def refused(running, **inputs) -> str:
    with pytest.raises(grpc.RpcError) as info:
        predict(running, **inputs)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return info.value.details()


def still_answers(running) -> None:
    with ServingClient(running.address, MODEL) as client:
        assert len(client.predict(["still here"])) == 1


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_billion_declared_rows_in_20_bytes_is_refused_at_once_without_allocating(server):
    proto = strings_proto([1_000_000_000])
    assert proto.ByteSize() < 20
    before = rss_kib(server.process.pid)
    started = time.monotonic()
    message = refused(server, text=proto)
    assert time.monotonic() - started < 1.0
    assert "1000000000 rows" in message and "--max-request-rows" in message
    assert rss_kib(server.process.pid) - before < 50 * 1024  # under 50 MiB: nothing the size of the shape
    still_answers(server)


@pytest.mark.parametrize(
    "dims, values, expected",
    [
        ([5], ["one"], "declares 5 values but the request holds 1"),
        ([3], [], "declares 3 values but the request holds 0"),
        ([1], ["a", "b"], "declares 1 values but the request holds 2"),
        ([-1], ["a"], "negative dimension"),
    ],
)
def test_a_shape_that_disagrees_with_its_values_is_refused(server, dims, values, expected):
    assert expected in refused(server, text=strings_proto(dims, values))
    still_answers(server)


def test_rows_and_text_bytes_are_bounded_over_grpc_and_rest(server):
    assert "51 rows" in refused(server, text=tf.make_tensor_proto(["x"] * 51))
    assert "1001 bytes" in refused(server, text=tf.make_tensor_proto(["a" * 1001]))
    assert predict(server, text=tf.make_tensor_proto(["x"] * 50)).outputs["label"].tensor_shape.dim[0].size == 50
    with RestClient(f"127.0.0.1:{server.rest_port}", MODEL, batch_size=51) as client, pytest.raises(ServingError) as info:
        client.predict(["x"] * 51)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "51 rows" in str(info.value)
    with RestClient(f"127.0.0.1:{server.rest_port}", MODEL) as client, pytest.raises(ServingError) as info:
        client.predict(["a" * 1001])
    assert "1001 bytes" in str(info.value)
    with ServingClient(server.address, MODEL, batch_size=50) as client:  # the client splits what the server bounds
        assert len(client.predict(["x"] * 120)) == 120


def test_encoded_inputs_a_model_cannot_read_are_invalid_argument(server, tiny_classifier):
    encoded = {k: v.numpy() for k, v in tiny_classifier.tokenizer(tf.constant(["good movie"])).items()}

    def send(**changes):
        inputs = {**encoded, **changes}
        return predict(server, "encoded", **{k: tf.make_tensor_proto(v) for k, v in inputs.items()})

    assert send().outputs["probabilities"].tensor_shape.dim[0].size == 1
    vocab_size = tiny_classifier.encoder.config.vocab_size
    bad_mask = encoded["attention_mask"].copy()
    bad_mask[0, 0] = 2
    for changes, expected in [
        (dict(input_ids=encoded["input_ids"] + vocab_size), "below the vocabulary size"),
        (dict(input_ids=-encoded["input_ids"] - 1), "input_ids must be at least 0"),
        (dict(attention_mask=bad_mask), "attention_mask values must be 0 or 1"),
        (dict(token_type_ids=encoded["token_type_ids"] + 5), "token_type_ids must be below"),
        (dict(attention_mask=encoded["attention_mask"][:, :-1]), "attention_mask must have the shape of input_ids"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            send(**changes)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        assert expected in info.value.details(), info.value.details()[:1500]
    still_answers(server)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_versions_past_int64_are_refused_over_rest_and_by_the_clients(server, capsys):
    for version in ("99999999999999999999", str(2**63)):
        for suffix in (":predict", "/metadata", ""):
            url = f"{server.rest_url}/v1/models/{MODEL}/versions/{version}{suffix}"
            if suffix == ":predict":
                request = urllib.request.Request(url, data=b'{"instances": ["x"]}', method="POST")
                try:
                    status = urllib.request.urlopen(request, timeout=30).status
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read().decode()
            else:
                status, body = http_get(url)
            assert status == 400 and "out of range" in body, (url, status)
    with pytest.raises(BertClsError, match="out of range"):
        ServingClient(server.address, MODEL, version=2**63)
    with pytest.raises(BertClsError, match="out of range"):
        RestClient(server.rest_url, MODEL, version=2**63)
    for extra in ([], ["--rest", "--server", f"127.0.0.1:{server.rest_port}"]):
        assert main(["query", *extra, "--version", "99999999999999999999", "x"]) == 2
        assert "--version" in capsys.readouterr().err
    assert main(["query", "--root-cert", "/nonexistent.pem", "--server", server.address, "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--root-cert /nonexistent.pem" in err and len(err.splitlines()) == 1
    still_answers(server)


def test_300_made_up_model_names_add_no_metric_series(server):
    def lines():
        return http_get(f"{server.rest_url}/monitoring/prometheus/metrics")[1].splitlines()

    with ServingClient(server.address, "warm-up-unknown") as client, pytest.raises(ServingError):
        client.predict(["x"])  # the one series for unknown names exists from here on
    before = len(lines())
    for k in range(300):
        name = ".." if k == 0 else f"made-up-{k}"
        with ServingClient(server.address, name, max_retries=0) as client, pytest.raises(ServingError):
            client.predict(["x"])
    after = lines()
    assert len(after) == before
    assert not any("made-up" in line for line in after)
    assert any(line.startswith(':tensorflow:serving:request_count{model_name="",status="NOT_FOUND"} ') for line in after)
    assert any(f'model_name="{MODEL}"' in line for line in after)


class _HtmlErrors(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>\n<body><h1>502 Bad Gateway</h1>\n</body></html>\n")

    def log_message(self, *args):
        pass


def test_a_non_json_error_page_is_one_line_with_the_http_status():
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlErrors)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with RestClient(f"127.0.0.1:{proxy.server_port}", MODEL, max_retries=0) as client, pytest.raises(ServingError) as info:
            client.status()
    finally:
        proxy.shutdown()
    message = str(info.value)
    assert "HTTP 502" in message and "text/html" in message and "<html>" not in message and "\n" not in message


def test_numeric_tensor_content_must_hold_whole_values_and_one_value_may_fill_a_tensor(server, tiny_classifier):
    encoded = {k: v.numpy() for k, v in tiny_classifier.tokenizer(tf.constant(["good movie"])).items()}
    inputs = {k: tf.make_tensor_proto(v) for k, v in encoded.items()}
    inputs["input_ids"].tensor_content = inputs["input_ids"].tensor_content[:-1]  # 1 byte short of whole int32s
    with pytest.raises(grpc.RpcError) as info:
        predict(server, "encoded", **inputs)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "does not hold whole values" in info.value.details()
    # TensorFlow's compact form, one value for a whole numeric tensor (make_tensor_proto(x, shape=...)), is accepted
    shape = list(encoded["attention_mask"].shape)
    compact = {
        **{k: tf.make_tensor_proto(v) for k, v in encoded.items()},
        "attention_mask": tf.make_tensor_proto(1, dtype=tf.int32, shape=shape),
        "token_type_ids": tf.make_tensor_proto(0, dtype=tf.int32, shape=shape),
    }
    assert len(compact["attention_mask"].int_val) == 1 and not compact["attention_mask"].tensor_content
    assert predict(server, "encoded", **compact).outputs["probabilities"].tensor_shape.dim[0].size == 1
    still_answers(server)


def encoded_names(tiny_classifier) -> list:
    return list(tiny_classifier.encoded_inputs)


def test_a_126_byte_encoded_request_declaring_150_million_tokens_is_refused_from_its_header(server, tiny_classifier):
    shape = [1, 150_000_000]
    inputs = {name: tf.make_tensor_proto(1, dtype=tf.int32, shape=shape) for name in encoded_names(tiny_classifier)}
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=MODEL, signature_name="encoded"))
    for name, proto in inputs.items():
        request.inputs[name].CopyFrom(proto)
    assert request.ByteSize() < 130
    longest = tiny_classifier.config.family.max_length(tiny_classifier.encoder.config)
    before, started = rss_kib(server.process.pid), time.monotonic()
    message = refused(server, signature="encoded", **inputs)
    assert time.monotonic() - started < 1.0
    assert "150000000 values per row" in message and f"over this model's {longest}" in message, message
    assert rss_kib(server.process.pid) - before < 50 * 1024
    # within the bounds, the compact form (one value for a whole tensor) still serves
    compact = {name: tf.make_tensor_proto(1, dtype=tf.int32, shape=[2, 8]) for name in encoded_names(tiny_classifier)}
    compact["token_type_ids"] = tf.make_tensor_proto(0, dtype=tf.int32, shape=[2, 8])
    assert predict(server, "encoded", **compact).outputs["probabilities"].tensor_shape.dim[0].size == 2
    still_answers(server)


def rest_post(server, raw: bytes, signature_path=":predict"):
    """(status, decoded JSON body) of one raw POST to the model's REST predict."""
    request = urllib.request.Request(f"{server.rest_url}/v1/models/{MODEL}{signature_path}", data=raw, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def encoded_body(tiny_classifier, **values) -> bytes:
    row = {"input_ids": [2, 5, 3], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0], **values}
    row = {name: row[name] for name in encoded_names(tiny_classifier)}
    return json.dumps({"signature_name": "encoded", "instances": [row]}).encode()


@pytest.mark.parametrize(
    "values, expected",
    [
        (dict(input_ids=[2, 5.9, 3]), "Value: 5.9 Type: Number is not of expected type: int32 (input input_ids)"),
        (dict(attention_mask=[1, 1.7, 1]), "Value: 1.7 Type: Number is not of expected type: int32"),
        (dict(input_ids=["2", "5", "3"]), 'Value: "2" Type: String is not of expected type: int32'),
        (dict(attention_mask=[True, True, True]), "Value: true Type: Boolean is not of expected type: int32"),
        (dict(input_ids=[2, None, 3]), "Value: null Type: Null is not of expected type: int32"),
        (dict(attention_mask=[1, 2, 1]), "attention_mask values must be 0 or 1"),
        (dict(input_ids=[2, 10**30, 3]), "outside int32's range"),
        (dict(input_ids=[2, 2**31, 3]), "outside int32's range"),
        (dict(input_ids=[2, 1e400, 3]), "Value: Infinity Type: Number is not of expected type: int32"),
    ],
)
def test_rest_numbers_are_typed_as_tf_serving_types_them(server, tiny_classifier, values, expected):
    status, body = rest_post(server, encoded_body(tiny_classifier, **values))
    assert status == 400 and expected in body["error"], (status, body)
    assert rest_post(server, encoded_body(tiny_classifier))[0] == 200
    still_answers(server)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b'{"instances": ' + b"[" * 500 + b"]" * 500 + b"}", "nests JSON more than 32 deep"),
        (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests JSON more than 32 deep"),
        (b'{"instances": [' + b"1" * 5000 + b"]}", "JSON Parse error"),
        (b'{"instances": ["ok", "\\ud800"]}', "lone surrogate"),
        (b'{"instances": [' + b'"", ' * 100_000 + b'""]}', "holds over"),
    ],
    ids=["nested-500", "nested-100000", "5000-digits", "lone-surrogate", "too-many-values"],
)
def test_malformed_rest_bodies_are_400_never_500(server, raw, expected):
    status, body = rest_post(server, raw)
    assert status == 400 and expected in body["error"], (status, body)
    assert "\n" not in body["error"]
    still_answers(server)


def test_a_60_mib_body_of_empty_strings_is_refused_before_it_is_parsed(server):
    raw = b'{"instances": [' + b'"", ' * (15 * 1024 * 1024) + b'""]}'
    before = rss_kib(server.process.pid)
    status, body = rest_post(server, raw)
    grown_mib = (rss_kib(server.process.pid) - before) / 1024
    assert status == 400 and "holds over" in body["error"]
    print(f"RSS grew {grown_mib:.0f} MiB")
    assert grown_mib < 200, grown_mib  # the body's own bytes and one scan, not a Python object per value (~520 MB)
    still_answers(server)


def threads(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads")


def partial_request(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=30)
    head = f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    sock.sendall(head.encode() + b'{"instances": [')
    return sock


def test_connections_that_stop_mid_request_are_closed_and_capped(server):
    still_answers(server)
    baseline = threads(server.process.pid)
    stalled = [partial_request(server) for _ in range(8)]
    time.sleep(0.3)
    assert threads(server.process.pid) >= baseline + 8
    refused_sock = partial_request(server)  # the 9th, past --rest-api-max-connections 8
    answer = refused_sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 503") and "--rest-api-max-connections" in answer, answer
    started = time.monotonic()
    for sock in stalled:  # each closed by the server after its read timeout: recv sees the end (or a reset)
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        sock.close()
    assert time.monotonic() - started < REST_TIMEOUT_S + 5
    deadline = time.monotonic() + 10
    while threads(server.process.pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.2)
    assert threads(server.process.pid) <= baseline
    assert rest_post(server, b'{"instances": ["back again"]}')[0] == 200
    still_answers(server)
