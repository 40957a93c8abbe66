"""Loading like TF Serving, under faults: versions appear, break, arrive half-copied and disappear while
requests run; version policies, labels, config reloads and warm-up replay. The server runs in-process
(``make_server``) on real loopback sockets."""

import os
import shutil
import threading
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from bert_cls.serving import ServingClient, ServingError
from bert_cls.serving.export import WARMUP_FILE, export_classifier, remove_stale_staging
from bert_cls.serving.model_config import ConfigWatcher, parse_model_config, read_model_config
from bert_cls.serving.models import ModelSpec, State, VersionPolicy
from bert_cls.serving.server import make_server

MODEL = "toy"


def copy_version(source, base, version):
    """Copies a version in place the way `cp -r` does: the directory exists, half-written, for a while."""
    target = base / str(version)
    shutil.copytree(source, target)
    return target


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Load:
    """Clients sending requests in threads until stopped; counts failures (the test wants none)."""

    def __init__(self, address, clients=4):
        self.address, self.stop, self.errors, self.done, self.versions = address, threading.Event(), [], 0, set()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]

    def run(self):
        with ServingClient(self.address, MODEL, timeout=30, max_retries=0) as client:
            while not self.stop.is_set():
                try:
                    client.predict(["good movie", "bad"])
                    self.versions.add(client.metadata()["model_spec"]["version"])
                    self.done += 1
                except ServingError as exc:
                    self.errors.append(str(exc))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


@pytest.fixture
def base(tmp_path, tiny_export):
    base = tmp_path / "base"
    shutil.copytree(tiny_export, base)
    return base


def test_swaps_breakage_and_half_copies_under_load_fail_no_request(base, tiny_export):
    running = make_server([ModelSpec(MODEL, str(base))], port=0, poll_seconds=0.2)
    address = f"127.0.0.1:{running.port}"
    model = running.manager.model(MODEL)
    try:
        with Load(address) as load:
            # a newest version whose saved_model.pb is broken: not served, version 1 keeps answering
            broken = copy_version(tiny_export / "1", base, 3)
            (broken / "saved_model.pb").write_bytes(b"")
            assert wait_for(lambda: any(v == 3 and s == State.END for v, s, _ in model.status()))
            assert model.available_versions == [1]
            error = dict((v, e) for v, _, e in model.status())[3]
            assert "requires a `tags=` argument" in error  # the load error is kept for GetModelStatus
            shutil.rmtree(broken)
            # a version copied in place (not renamed into place): loaded only once complete and unchanged
            partial = base / "4"
            partial.mkdir()
            (partial / "saved_model.pb").write_bytes((tiny_export / "1" / "saved_model.pb").read_bytes())
            time.sleep(0.6)  # no variables/ yet: incomplete, never tried
            assert 4 not in [v for v, _, _ in model.status()]
            shutil.copytree(tiny_export / "1" / "variables", partial / "variables")
            shutil.copytree(tiny_export / "1" / "assets", partial / "assets", dirs_exist_ok=True)
            shutil.copytree(tiny_export / "1" / "assets.extra", partial / "assets.extra", dirs_exist_ok=True)
            assert wait_for(lambda: model.available_versions == [4])  # 1 unloaded once 4 was available
            # the newest version deleted while serving: back to the one below, never to nothing
            copy_version(tiny_export / "1", base, 5)
            assert wait_for(lambda: model.available_versions == [5])
            shutil.rmtree(base / "5")
            assert wait_for(lambda: model.available_versions == [4])
            time.sleep(0.5)
        assert load.errors == [] and load.done > 20, load.errors[:3]
        assert {1, 4, 5} <= load.versions
    finally:
        running.stop()


def test_a_failing_warmup_record_keeps_the_version_out(base, tiny_export, tmp_path):
    running = make_server([ModelSpec(MODEL, str(base))], port=0, poll_seconds=0.2)
    try:
        bad = copy_version(tiny_export / "1", tmp_path, 2)  # prepared aside, then renamed into place
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=MODEL, signature_name="serving_default"))
        request.inputs["wrong_input"].CopyFrom(tf.make_tensor_proto(["x"]))
        with tf.io.TFRecordWriter(str(bad / "assets.extra" / WARMUP_FILE)) as writer:
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
        bad.rename(base / "2")
        model = running.manager.model(MODEL)
        assert wait_for(lambda: any(v == 2 and s == State.END for v, s, _ in model.status()))
        states = {v: (s, e) for v, s, e in model.status()}
        assert "warm-up record 1 failed" in states[2][1] and "wrong_input" in states[2][1]
        assert model.available_versions == [1]  # the version already serving stays in service
        with ServingClient(f"127.0.0.1:{running.port}", MODEL) as client:
            assert client.status()[1]["error_message"].startswith("RuntimeError: warm-up record 1 failed")
            assert len(client.predict(["still answering"])) == 1
    finally:
        running.stop()


def test_version_policies_and_labels_over_grpc_and_rest(base, tiny_export):
    import json
    import urllib.request

    for version in (2, 3):
        copy_version(tiny_export / "1", base, version)
    cases = [
        (VersionPolicy("latest", num_versions=2), [2, 3]),
        (VersionPolicy("specific", versions=(1, 3)), [1, 3]),
        (VersionPolicy("all"), [1, 2, 3]),
        (VersionPolicy(), [3]),
    ]
    for policy, expected in cases:
        running = make_server(
            [ModelSpec(MODEL, str(base), policy, labels=(("stable", expected[0]),))], port=0, rest_port=0, poll_seconds=0.2
        )
        try:
            assert running.manager.model(MODEL).available_versions == expected, policy
            spec = model_pb2.ModelSpec(name=MODEL, version_label="stable")
            with ServingClient(f"127.0.0.1:{running.port}", MODEL) as client:
                request = predict_pb2.PredictRequest(model_spec=spec)
                request.inputs["text"].CopyFrom(tf.make_tensor_proto(["good movie"]))
                response = client._predict_stub.Predict(request, timeout=10)
                assert response.model_spec.version.value == expected[0]
            url = f"http://127.0.0.1:{running.rest_port}/v1/models/{MODEL}/labels/stable"
            status = json.loads(urllib.request.urlopen(url).read())
            assert status["model_version_status"][0]["version"] == str(expected[0])
            body = json.dumps({"instances": ["good movie"]}).encode()
            answer = json.loads(urllib.request.urlopen(urllib.request.Request(url + ":predict", data=body)).read())
            assert len(answer["predictions"]) == 1
        finally:
            running.stop()


def test_config_file_reload_and_a_bad_config_keeps_the_last_good_one(base, tmp_path, caplog):
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{MODEL}" base_path: "base" model_platform: "tensorflow" }} }}')
    specs = read_model_config(config)
    assert specs[0].base_path == str(base)  # relative to the config file
    running = make_server(specs, port=0, poll_seconds=0.2)
    watcher = ConfigWatcher(str(config), running.manager, 0.1)
    try:
        config.write_text("model_config_list { config { name: ")  # does not parse
        assert watcher.check() is False
        assert "rejected, keeping the last good config" in caplog.text
        with ServingClient(f"127.0.0.1:{running.port}", MODEL) as client:
            assert len(client.predict(["still served"])) == 1
        config.write_text(
            f'model_config_list {{ config {{ name: "{MODEL}" base_path: "base" '
            'version_labels { key: "canary" value: 1 } } '
            f'config {{ name: "second" base_path: "{base}" }} }}'
        )
        assert watcher.check() is True
        assert wait_for(lambda: running.manager.model("second").available_versions == [1])  # loaded in the background
        with ServingClient(f"127.0.0.1:{running.port}", "second") as second:
            assert second.metadata()["model_spec"]["version"] == 1
        assert running.manager.model(MODEL).resolve(label="canary").version == 1
    finally:
        running.stop()


def test_the_shipped_models_config_parses_and_bad_configs_are_clear():
    specs = read_model_config("export/models.config")
    assert [(s.name, s.policy.kind, s.policy.num_versions) for s in specs] == [("nsmc", "latest", 2)]
    for text, message in [
        ("model_config_list { config { name: 'a' } }", "needs a name and a base_path"),
        ("model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }", "twice"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_version_policy { specific { versions: 1 } } "
            "version_labels { key: 'l' value: 2 } } }",
            "label 'l' points at version 2",
        ),
        ("nonsense", "does not parse"),
        ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }", "only tensorflow is served"),
        ("model_config_list { }", "lists no model"),
        ("custom_model_config { }", "needs a model_config_list"),
    ]:
        with pytest.raises(Exception, match=message):
            parse_model_config(text)


def test_stale_staging_left_by_a_killed_export_is_removed(tmp_path, tiny_classifier):
    base = tmp_path / "base"
    base.mkdir()
    dead = base / ".export-1-999999999-abc"  # a pid that does not exist: its export was killed
    dead.mkdir()
    (dead / "saved_model.pb").write_bytes(b"x" * 100)
    alive = base / f".export-2-{os.getpid()}-def"  # a running export's staging stays
    alive.mkdir()
    assert remove_stale_staging(base) == [dead]
    assert alive.is_dir()
    alive.rmdir()
    (base / ".export-3-999999999-ghi").mkdir()
    report = export_classifier(tiny_classifier, base, verify=False)
    assert report["version"] == 1 and sorted(p.name for p in base.iterdir()) == ["1"]


def test_grpc_unknown_label_is_invalid_argument(base):
    running = make_server([ModelSpec(MODEL, str(base))], port=0)
    try:
        with ServingClient(f"127.0.0.1:{running.port}", MODEL) as client:
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=MODEL, version_label="nope"))
            request.inputs["text"].CopyFrom(tf.make_tensor_proto(["x"]))
            with pytest.raises(grpc.RpcError) as info:
                client._predict_stub.Predict(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Unrecognized servable version label: nope" in info.value.details()
    finally:
        running.stop()


def test_a_policy_naming_a_missing_version_logs_once_and_answers_not_found(base, caplog):
    running = make_server([ModelSpec(MODEL, str(base), VersionPolicy("specific", versions=(7,)))], port=0, poll_seconds=0.1)
    try:
        time.sleep(0.5)
        warnings = [r for r in caplog.records if "names versions [7] that are not in" in r.getMessage()]
        assert len(warnings) == 1  # not once per poll
        with ServingClient(f"127.0.0.1:{running.port}", MODEL, max_retries=0) as client, pytest.raises(ServingError) as info:
            client.predict(["x"])
        assert info.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        running.stop()


def test_a_large_request_runs_in_chunks_with_the_same_result(tiny_export, tiny_classifier, monkeypatch):
    import numpy as np

    from bert_cls.serving import models

    loaded = models.load_version(tiny_export / "1", 1)
    calls = []
    signature = loaded.model.signatures["serving_default"]
    monkeypatch.setattr(loaded.model, "signatures", {"serving_default": CountingSignature(signature, calls)})
    rows = 2 * models.CHUNK_ROWS + 60
    texts = np.array([("good movie " * (k % 40)).encode() for k in range(rows)], dtype=object)
    outputs = loaded.predict("serving_default", {"text": texts})
    assert calls == [models.CHUNK_ROWS, models.CHUNK_ROWS, 60]  # three chunks, not one run of every row
    expected = tiny_classifier.predict_proba([t.decode() for t in texts])
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)  # in request order
    assert outputs["label_id"].tolist() == expected.argmax(1).tolist()


class CountingSignature:
    """A signature function that records the batch size of each call."""

    def __init__(self, function, calls):
        self.function, self.calls = function, calls
        self.structured_input_signature = function.structured_input_signature

    def __call__(self, **inputs):
        self.calls.append(int(next(iter(inputs.values())).shape[0]))
        return self.function(**inputs)


def test_serve_reads_and_rereads_a_model_config_file(base, tmp_path):
    """`bert-cls serve --model-config-file`, as a process: a label added to the file is served after a poll."""
    import json
    import urllib.request

    from bert_cls.serving.process import ServerProcess

    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" }} }}')
    with ServerProcess(
        None, MODEL, rest=True, model_config_file=config, config_poll_seconds=0.3, log_file=tmp_path / "server.log"
    ) as server:
        url = f"{server.rest_url}/v1/models/{MODEL}/labels/stable"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url)
        assert info.value.code == 400  # no such label yet
        config.write_text(
            f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" '
            'version_labels { key: "stable" value: 1 } } }'
        )

        def labelled():
            try:
                return json.loads(urllib.request.urlopen(url).read())["model_version_status"][0]["version"] == "1"
            except urllib.error.HTTPError:
                return False

        assert wait_for(labelled, timeout=30)
    assert "model config" in (tmp_path / "server.log").read_text()
