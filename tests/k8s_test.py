"""The Kubernetes manifests (export/k8s, tuning/k8s): parsed with PyYAML, core kinds validated against the
Kubernetes 1.30 OpenAPI schemas by kubernetes-validate (strict: unknown fields are errors), the Kubeflow TFJob
(a custom resource without a bundled schema) by the fields its operator requires, and the pieces checked
against each other and against what bert-cls serves."""

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bert_cls.serving.model_config import parse_model_config

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.30"


def load(path):
    return [doc for doc in yaml.safe_load_all((ROOT / path).read_text()) if doc]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


SERVING = (
    load("export/k8s/configmap.yaml")
    + load("export/k8s/deployment.yaml")
    + load("export/k8s/service.yaml")
    + load("export/k8s/hpa.yaml")
)
TUNING = load("tuning/k8s/tuner-jobs.yaml")
TFJOB = load("tuning/k8s/tfjob-train.yaml")


@pytest.mark.parametrize("doc", SERVING + TUNING, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_core_manifests_validate_against_the_kubernetes_schema(doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_catches_mistakes():
    deployment = copy.deepcopy(by_kind(SERVING, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8500"  # a string
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = copy.deepcopy(by_kind(SERVING, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_serving_pieces_fit_together():
    config = by_kind(SERVING, "ConfigMap")[0]["data"]
    models = parse_model_config(config["models.config"])  # the parser `bert-cls serve` uses
    assert "prometheus_config" in config["monitoring.config"]
    deployment = by_kind(SERVING, "Deployment")[0]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    assert container["readinessProbe"]["httpGet"]["path"] == f"/v1/models/{models[0].name}"
    assert "--monitoring_config_file=/config/monitoring.config" in container["args"]
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/models", "/config"}
    assert models[0].base_path.startswith("/models/")
    cpus = container["resources"]["requests"]["cpu"]
    # thread pools sized to the pod, not the node
    assert f"--tensorflow_intra_op_parallelism={cpus}" in container["args"]
    assert f"--tensorflow_inter_op_parallelism={cpus}" in container["args"]
    service = by_kind(SERVING, "Service")[0]
    assert service["spec"]["selector"] == labels
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"grpc", "http"}
    hpa = by_kind(SERVING, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_tfjob_has_what_the_training_operator_requires():
    job = TFJOB[0]
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "TFJob" and job["metadata"]["name"]
    specs = job["spec"]["tfReplicaSpecs"]
    assert set(specs) <= {"Chief", "Worker", "PS", "Evaluator"} and specs["Chief"]["replicas"] == 1
    for role, spec in specs.items():
        assert spec["restartPolicy"] in ("Always", "OnFailure", "Never", "ExitCode")
        container = spec["template"]["spec"]["containers"][0]
        assert container["name"] == "tensorflow"  # the operator injects TF_CONFIG into the container so named
        command = container["command"]
        assert command[:2] == ["bert-cls", "train"] and command[command.index("--strategy") + 1] == "multi-worker"
        # the pod spec itself is a core PodSpec: validate it as a Pod
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"tfjob-{role.lower()}"}, "spec": spec["template"]["spec"]}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_tuner_jobs_wire_the_oracle():
    service = by_kind(TUNING, "Service")[0]
    chief, workers = (j for j in by_kind(TUNING, "Job"))
    chief_env = {e["name"]: e["value"] for e in chief["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert chief_env["KERASTUNER_TUNER_ID"] == "chief"
    worker_spec = workers["spec"]["template"]["spec"]["containers"][0]
    worker_env = {e["name"]: e["value"] for e in worker_spec["env"]}
    assert worker_env["KERASTUNER_ORACLE_IP"] == service["metadata"]["name"]
    assert worker_env["KERASTUNER_ORACLE_PORT"] == chief_env["KERASTUNER_ORACLE_PORT"] == str(service["spec"]["ports"][0]["port"])
    assert "KERASTUNER_TUNER_ID=tuner$JOB_COMPLETION_INDEX" in worker_spec["command"][-1]
    assert workers["spec"]["completionMode"] == "Indexed"
    assert service["spec"]["selector"].items() <= chief["spec"]["template"]["metadata"]["labels"].items()
