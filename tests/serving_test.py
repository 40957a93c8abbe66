"""The client helper and raw TF Serving stubs against `bert-cls serve` over a real loopback socket."""

import shutil
import subprocess

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bert_cls.serving import ServingClient, ServingError
from bert_cls.serving.process import ServerProcess, free_port

MODEL = "toy"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_classifier, tiny_export):
    classifier = tiny_classifier
    base = tmp_path_factory.mktemp("served") / "base"
    shutil.copytree(tiny_export, base)  # this module adds and removes versions
    # TF Serving's thread flags, as a container with a CPU limit would pass them: setting the pools must happen
    # before TensorFlow runs an op, or the server would exit at start-up.
    threads = ["--tensorflow-intra-op-parallelism", "1", "--tensorflow-inter-op-parallelism", "2"]
    with ServerProcess(base, MODEL, poll_seconds=0.3, log_file=base.parent / "server.log", extra_args=threads) as server:
        yield server, classifier, base


def raw_stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.address))


def predict_request(name=MODEL, signature="serving_default", version=None, **inputs):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
    if version is not None:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value)
    return request


TEXTS = ["good movie", "최악이고 지루한 영화", "", "정말 재밌다 " * 200]


def test_client_predictions_equal_in_process(served):
    server, classifier, _ = served
    with ServingClient(server.address, MODEL, batch_size=3) as client:
        predictions = client.predict(TEXTS)
    expected = classifier.predict_proba(TEXTS)
    assert [p.text for p in predictions] == TEXTS  # order kept across batches
    np.testing.assert_allclose([p.probabilities for p in predictions], expected, atol=1e-5)
    assert [p.label_id for p in predictions] == expected.argmax(-1).tolist()
    assert [p.label for p in predictions] == [classifier.config.label_names[i] for i in expected.argmax(-1)]


def test_empty_batch_and_non_utf8_and_10000_texts(served):
    server, _, _ = served
    with ServingClient(server.address, MODEL, batch_size=2500, timeout=120) as client:
        assert client.predict([]) == []
        assert len(client.predict([b"\xff\xfe broken", "ok"])) == 2
        many = client.predict([f"good movie {i}" for i in range(10_000)])
    assert len(many) == 10_000 and many[-1].text == "good movie 9999"


def test_metadata_and_status(served):
    server, _, _ = served
    with ServingClient(server.address, MODEL) as client:
        metadata = client.metadata()
        status = client.status()
    assert set(metadata["signatures"]) == {"serving_default", "encoded"}
    assert metadata["signatures"]["serving_default"]["inputs"]["text"]["dtype"] == "DT_STRING"
    assert set(metadata["signatures"]["serving_default"]["outputs"]) == {"probabilities", "label_id", "label"}
    assert metadata["model_spec"]["version"] == 1
    assert status == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]


def test_raw_stub_predict_and_encoded_signature(served):
    server, classifier, _ = served
    stub = raw_stub(server)
    response = stub.Predict(predict_request(text=tf.make_tensor_proto(["good movie"])), timeout=10)
    assert response.model_spec.name == MODEL and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    encoded = classifier.tokenizer(tf.constant(["good movie"]))
    request = predict_request(signature="encoded", **{k: tf.make_tensor_proto(v.numpy()) for k, v in encoded.items()})
    via_ids = tf.make_ndarray(stub.Predict(request, timeout=10).outputs["probabilities"])
    np.testing.assert_allclose(via_ids, tf.make_ndarray(response.outputs["probabilities"]), atol=1e-6)
    metadata = stub.GetModelMetadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=model_pb2.ModelSpec(name=MODEL), metadata_field=["signature_def"]
        ),
        timeout=10,
    )
    assert metadata.model_spec.version.value == 1


@pytest.mark.parametrize(
    "request_kwargs, code",
    [
        (dict(name="nope", text=tf.make_tensor_proto(["x"])), grpc.StatusCode.NOT_FOUND),
        (dict(version=99, text=tf.make_tensor_proto(["x"])), grpc.StatusCode.NOT_FOUND),
        (dict(signature="nope", text=tf.make_tensor_proto(["x"])), grpc.StatusCode.NOT_FOUND),
        (dict(), grpc.StatusCode.INVALID_ARGUMENT),  # missing input
        (dict(text=tf.make_tensor_proto([1.0, 2.0])), grpc.StatusCode.INVALID_ARGUMENT),  # wrong dtype
        (dict(text=tf.make_tensor_proto([["a", "b"]])), grpc.StatusCode.INVALID_ARGUMENT),  # wrong rank
        (dict(text=tf.make_tensor_proto(["x"]), extra=tf.make_tensor_proto(["y"])), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_errors_have_tf_serving_status_codes(served, request_kwargs, code):
    server, _, _ = served
    with pytest.raises(grpc.RpcError) as info:
        raw_stub(server).Predict(predict_request(**request_kwargs), timeout=10)
    assert info.value.code() == code
    # the server is still up after a bad request
    with ServingClient(server.address, MODEL) as client:
        assert len(client.predict(["still alive"])) == 1


def test_client_errors_name_server_model_and_signature(served):
    server, _, _ = served
    with ServingClient(server.address, "nope") as client, pytest.raises(ServingError) as info:
        client.predict(["x"])
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert server.address in str(info.value) and "'nope'" in str(info.value) and "serving_default" in str(info.value)


def test_deadline_expires_cleanly(served):
    server, _, _ = served
    with ServingClient(server.address, MODEL, timeout=1e-4, max_retries=0) as client, pytest.raises(ServingError) as info:
        client.predict(["good movie"] * 500)
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_server_down_is_retried_then_reported():
    address = f"127.0.0.1:{free_port()}"
    with ServingClient(address, MODEL, timeout=1, max_retries=2, backoff=0.01) as client, pytest.raises(ServingError) as info:
        client.predict(["x"])
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert "after 3 attempts" in str(info.value)


def test_new_version_is_served_without_restart(served):
    import time

    server, classifier, base = served
    shutil.copytree(base / "1", base / ".tmp-copy")
    (base / ".tmp-copy").rename(base / "2")
    try:
        with ServingClient(server.address, MODEL) as client:
            deadline = time.monotonic() + 30
            while client.metadata()["model_spec"]["version"] != 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.metadata()["model_spec"]["version"] == 2
            # TF Serving's default policy serves the latest version only: 1 was unloaded once 2 was available
            assert [(s["version"], s["state"]) for s in client.status()] == [(1, "END"), (2, "AVAILABLE")]
        with ServingClient(server.address, MODEL, version=1) as pinned, pytest.raises(ServingError) as info:
            pinned.metadata()
        assert info.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        shutil.rmtree(base / "2")
    with ServingClient(server.address, MODEL) as client:  # version 1 is the latest again: loaded back
        deadline = time.monotonic() + 30
        while client.metadata()["model_spec"]["version"] != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.metadata()["model_spec"]["version"] == 1


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_reachable(), reason="no Docker engine reachable: the tensorflow/serving container test needs one")
def test_tensorflow_serving_container_serves_the_export(served):
    """The real TF Serving binary loads the same export and answers like the local server."""
    import time

    server, classifier, base = served
    port = free_port()
    name = f"bert-cls-test-{port}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-p",
            f"{port}:8500",
            "-v",
            f"{base}:/models/{MODEL}:ro",
            "-e",
            f"MODEL_NAME={MODEL}",
            "tensorflow/serving:2.20.0",
            "--enable_model_warmup=true",
        ],
        check=True,
        capture_output=True,
    )
    try:
        with ServingClient(f"127.0.0.1:{port}", MODEL, timeout=5, max_retries=30, backoff=1.0) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    predictions = client.predict(TEXTS)
                    break
                except ServingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(2)
        np.testing.assert_allclose([p.probabilities for p in predictions], classifier.predict_proba(TEXTS), atol=1e-4)
    finally:
        subprocess.run(["docker", "stop", name], capture_output=True)


def test_serve_on_a_busy_port_is_one_clear_error(served):
    """Not a second server silently sharing the port (gRPC's default SO_REUSEPORT)."""
    import sys

    server, _, base = served
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_cls",
            "serve",
            "--model-base-path",
            str(base),
            "--model-name",
            MODEL,
            "--port",
            str(server.port),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: cannot bind 127.0.0.1:{server.port} (in use?): pass another --port"
    assert "Traceback" not in proc.stderr


def test_sigterm_stops_the_server_with_a_line_counting_its_requests(tmp_path, tiny_export):
    base = tmp_path / "base"
    shutil.copytree(tiny_export, base)
    log = tmp_path / "server.log"
    with ServerProcess(base, MODEL, log_file=log) as server:
        with ServingClient(server.address, MODEL) as client:
            client.predict(["good movie"])
            with pytest.raises(ServingError):
                ServingClient(server.address, "made-up", max_retries=0).predict(["x"])
        server.process.terminate()  # SIGTERM, as docker stop and systemd send it
        assert server.process.wait(timeout=30) == 0
    lines = log.read_text().splitlines()
    stopped = [line for line in lines if line.startswith("stopped after answering")]
    # the ServerProcess readiness probe (status calls) and the two predictions, one of them NOT_FOUND
    assert stopped and "not OK)" in stopped[0] and " 1 not OK" in stopped[0].replace("(", " "), lines[-3:]
    assert not any("Traceback" in line for line in lines)
