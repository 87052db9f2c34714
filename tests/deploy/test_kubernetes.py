"""The Kubernetes manifests (deploy/kubernetes): valid for the Kubernetes versions we support, with unknown fields
refused, and consistent with each other, with the image and with what Shifa reads, which no schema can tell."""

from __future__ import annotations

import copy
import math

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from .support import (
    DEPLOY,
    image_environment,
    image_user,
    shifa_command_exists,
    unknown_variables,
)

MANIFESTS = DEPLOY / "kubernetes"
#: The oldest Kubernetes we support and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
WORKLOADS = {"Deployment", "Job"}


def _documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def _manifest_files() -> list[str]:
    return sorted(p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def _all() -> list[dict]:
    return [doc for name in _manifest_files() for doc in _documents(name)]


def _of(kind: str) -> list[dict]:
    return [doc for doc in _all() if doc["kind"] == kind]


def _named(kind: str, name: str) -> dict:
    found = [doc for doc in _of(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name!r} is defined {len(found)} times"
    return found[0]


def _pod_specs() -> list[tuple[str, dict]]:
    return [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in _all()
        if doc["kind"] in WORKLOADS
    ]


def _containers() -> list[tuple[str, dict]]:
    return [(name, container) for name, spec in _pod_specs() for container in spec["containers"]]


def _web() -> dict:
    return _named("Deployment", "shifa-web")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", _manifest_files())
def test_every_manifest_is_valid_in_strict_mode(name, version):
    documents = _documents(name)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbes={}),  # unknown field
        lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="45s"),  # wrong type
        lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),  # missing required field
    ],
    ids=["unknown-field", "wrong-type", "missing-field"],
)
def test_a_broken_manifest_is_refused(breakage):
    broken = copy.deepcopy(_named("Deployment", "shifa-web"))
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [n for n in _manifest_files() if n != "secret.example.yaml"]
    images = {image["name"]: image for image in kustomization["images"]}
    assert {c["image"] for _, c in _containers()} == {"shifa"}
    assert images["shifa"]["newTag"] and images["shifa"]["newTag"] != "latest"
    namespaces = {doc["metadata"].get("namespace") for doc in _all() if doc["kind"] != "Namespace"}
    assert namespaces == {kustomization["namespace"]} == {_of("Namespace")[0]["metadata"]["name"]}


def test_the_secret_template_holds_only_placeholders():
    for secret in _of("Secret"):
        assert secret["stringData"]
        for key, value in secret["stringData"].items():
            assert value.startswith("REPLACE"), key
        assert "data" not in secret


def test_every_variable_given_is_one_shifa_reads():
    names = set(_named("ConfigMap", "shifa-config")["data"])
    for secret in _of("Secret"):
        names |= set(secret["stringData"])
    for _, container in _containers():
        names |= {variable["name"] for variable in container.get("env", [])}
    assert names and not unknown_variables(names)
    assert unknown_variables({"SECRETKEY", "SECRET_KEY"}) == {"SECRETKEY"}  # a misspelt one is caught


def test_references_name_what_the_manifests_define():
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in _of("ConfigMap")}
    secrets = {doc["metadata"]["name"]: doc["stringData"] for doc in _of("Secret")}
    for workload, container in _containers():
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps, workload
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, workload
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], (workload, variable["name"])
        mounts = {mount["name"] for mount in container.get("volumeMounts", [])}
        pod = next(spec for name, spec in _pod_specs() if name == workload)
        assert mounts <= {volume["name"] for volume in pod.get("volumes", [])}, workload

    def pods_selected(selector: dict) -> list[dict]:
        return [
            doc["spec"]["template"]
            for doc in _of("Deployment")
            if selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
        ]

    for deployment in _of("Deployment"):
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    for service in _of("Service"):
        selected = pods_selected(service["spec"]["selector"])
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in selected[0]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
    for autoscaler in _of("HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        deployment = _named("Deployment", target["name"])
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
        assert all(
            c["resources"]["requests"]["cpu"] for c in deployment["spec"]["template"]["spec"]["containers"]
        )
    for budget in _of("PodDisruptionBudget"):
        assert pods_selected(budget["spec"]["selector"]["matchLabels"])
    for ingress in _of("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = _named("Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_probes_ask_healthz_on_the_container_port_under_an_allowed_host():
    allowed = _named("ConfigMap", "shifa-config")["data"]["ALLOWED_HOSTS"].split(",")
    web = _web()
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert ports == {"http": int(image_environment()["PORT"])}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = web[kind]["httpGet"]
        assert probe["path"] == "/healthz" and probe["port"] in ports, kind
        # Django answers only the hosts it serves: a probe naming the pod's address would get 400.
        assert {h["name"]: h["value"] for h in probe["httpHeaders"]}["Host"] in allowed, kind
    assert web["livenessProbe"]["periodSeconds"] * web["livenessProbe"]["failureThreshold"] >= 60
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    for workload, container in _containers():
        probe = container.get("livenessProbe", {}).get("exec")
        if probe:
            assert probe["command"][:2] == ["python", "/opt/shifa/probe.py"], workload
            assert "COPY deploy/container/probe.py /opt/shifa/probe.py" in dockerfile


def test_pods_run_as_the_image_user_with_a_read_only_root_and_writable_data():
    user = image_user()
    data_dir = image_environment()["SHIFA_DATA_DIR"]
    for workload, pod in _pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, workload
        assert pod["securityContext"]["runAsUser"] == user, workload
        assert pod["automountServiceAccountToken"] is False, workload
        empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, workload
            assert context["allowPrivilegeEscalation"] is False, workload
            assert context["capabilities"]["drop"] == ["ALL"], workload
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts[data_dir] in empty_dirs and mounts["/tmp"] in empty_dirs, workload
            assert container["resources"]["requests"] and container["resources"]["limits"], workload


def test_each_process_runs_a_shifa_command_with_its_own_switches():
    for workload, container in _containers():
        assert shifa_command_exists(container["command"]), (workload, container["command"])
    web_env = {v["name"]: v.get("value") for v in _web()["env"]}
    assert web_env["SHIFA_RUN_WORKER"] == "0" and web_env["SHIFA_MIGRATE"] == "0"
    assert _named("Job", "shifa-migrate")["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "shifa",
        "migrate",
    ]
    # Only the ingestion subscribes to the broker: a web pod given MQTT_URL would subscribe too.
    for workload, container in _containers():
        given = {v["name"] for v in container.get("env", [])}
        assert ("MQTT_URL" in given) is (workload == "shifa-mqtt"), workload
    assert "MQTT_URL" not in _named("ConfigMap", "shifa-config")["data"]
    assert "MQTT_URL" not in _named("Secret", "shifa-secrets")["stringData"]
    ingestion = _named("Deployment", "shifa-mqtt")["spec"]
    assert ingestion["replicas"] == 1 and ingestion["strategy"]["type"] == "Recreate"
    worker = _named("Deployment", "shifa-worker")["spec"]["template"]["spec"]["containers"][0]
    assert {v["name"]: v["valueFrom"]["fieldRef"]["fieldPath"] for v in worker["env"]} == {
        "PGAPPNAME": "metadata.name"
    }


def test_web_pods_stop_gracefully_and_the_ingress_keeps_websockets_and_uploads():
    pod = _named("Deployment", "shifa-web")["spec"]["template"]["spec"]
    pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    uvicorn_grace = 10  # shifa.cli.run: timeout_graceful_shutdown
    assert pod["terminationGracePeriodSeconds"] > pause + uvicorn_grace
    annotations = _of("Ingress")[0]["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    largest = max(settings.SHIFA_MAX_BODY_BYTES, *settings.SHIFA_UPLOAD_LIMITS.values())
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{math.ceil(largest / 2**20)}m"
    hosts = {rule["host"] for rule in _of("Ingress")[0]["spec"]["rules"]}
    assert hosts <= set(_named("ConfigMap", "shifa-config")["data"]["ALLOWED_HOSTS"].split(","))
