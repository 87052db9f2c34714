"""The single-machine install (deploy/compose): Compose itself checks the file (Debian's docker-compose, which
needs no engine for `config`), and these tests check what it cannot: what Shifa reads, pinned images, the
variables of env.example, and the Mosquitto configuration with a real broker."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import yaml

from .support import DEPLOY, READ_BY_OTHERS, shifa_command_exists, unknown_variables

COMPOSE = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE / "env.example"
#: Files the operator makes on the machine, never committed (docs/operations.md).
MADE_ON_THE_MACHINE = {"./mosquitto.passwd"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def _docker_compose(*args: str, env_file, cwd) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is needed for this test (scripts/system-packages.sh installs it)"
    return subprocess.run(
        [binary, "--env-file", str(env_file), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _filled(tmp_path) -> str:
    """env.example with every empty value filled, as an operator would."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#") and line.endswith("="):
            line += "shifa.example.jo" if "DOMAIN" in line or "HOST" in line else "filled"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _shifa_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s["image"].startswith("${SHIFA_IMAGE")}


def test_compose_accepts_the_file_once_env_is_filled_in(tmp_path):
    env_file = tmp_path / "filled.env"
    env_file.write_text(_filled(tmp_path))
    result = _docker_compose("-f", str(COMPOSE_FILE), "config", "-q", env_file=env_file, cwd=COMPOSE)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    result = _docker_compose("-f", str(COMPOSE_FILE), "config", "-q", env_file=ENV_EXAMPLE, cwd=COMPOSE)
    assert result.returncode != 0
    assert "Missing mandatory value" in result.stderr


def test_compose_rejects_an_unknown_option(tmp_path):
    env_file = tmp_path / "filled.env"
    env_file.write_text(_filled(tmp_path))
    compose = _compose()
    compose["services"]["web"]["restart_policy"] = "always"  # `restart`, or deploy.restart_policy
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    result = _docker_compose("-f", str(broken), "config", "-q", env_file=env_file, cwd=tmp_path)
    assert result.returncode != 0 and "restart_policy" in result.stderr


def test_env_example_lists_exactly_the_variables_the_file_uses():
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    assert set(_example()) == used


def test_images_are_pinned_and_services_consistent():
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        image = service["image"]
        if image.startswith("${SHIFA_IMAGE"):
            continue
        tag = image.rpartition(":")[2]
        assert ":" in image and re.match(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
        for target in service.get("depends_on", {}):
            assert target in services, name
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, (name, target)
            if condition["condition"] == "service_healthy":
                assert "test" in services[target]["healthcheck"], target
            if condition["condition"] == "service_completed_successfully":
                assert services[target]["restart"] == "no", target
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (COMPOSE / source).exists() or source in MADE_ON_THE_MACHINE, (name, source)
            else:
                assert source in compose["volumes"], (name, source)


def test_shifa_services_run_shifa_commands_with_what_shifa_reads():
    compose = _compose()
    shifa = _shifa_services(compose)
    assert set(shifa) == {"migrate", "web", "worker", "mqtt"}
    for name, service in shifa.items():
        assert shifa_command_exists(service["command"]), name
        assert not unknown_variables(service["environment"]), name
        assert service["read_only"] is True
    assert shifa["web"]["environment"]["SHIFA_RUN_WORKER"] == "0"
    assert shifa["web"]["environment"]["SHIFA_MIGRATE"] == "0"
    assert shifa["migrate"]["command"] == ["shifa", "migrate"]
    for name in ("web", "worker", "mqtt"):
        assert shifa[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "test" in shifa[name]["healthcheck"], name
    # Only the ingestion subscribes to the broker; only the worker is told apart by PGAPPNAME for its probe.
    assert [n for n, s in shifa.items() if "MQTT_URL" in s["environment"]] == ["mqtt"]
    assert [n for n, s in shifa.items() if "PGAPPNAME" in s["environment"]] == ["worker"]
    assert "PGAPPNAME" in READ_BY_OTHERS


def test_coturn_checks_the_credentials_shifa_mints_with_the_same_secret():
    compose = _compose()
    environment = _shifa_services(compose)["web"]["environment"]
    assert environment["TURN_SECRET"] == "${TURN_SECRET:?set TURN_SECRET}"
    assert "--static-auth-secret=${TURN_SECRET}" in compose["services"]["coturn"]["command"]
    config = (COMPOSE / "turnserver.conf").read_text().splitlines()
    assert "use-auth-secret" in config
    assert not any(line.startswith("static-auth-secret") for line in config)
    assert all(url.startswith("turn:${TURN_HOST}:3478") for url in environment["TURN_URLS"].split(","))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def broker(tmp_path):
    """Mosquitto with the committed configuration and ACL (the container's paths moved to a temporary folder), a
    free port, and two accounts: Shifa's ingestion and a device."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert shutil.which("mosquitto_passwd"), "Mosquitto is needed (scripts/system-packages.sh installs it)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = (COMPOSE / "mosquitto.conf").read_text().replace("/mosquitto/config", str(tmp_path))
    config = config.replace("listener 1883", f"listener {port} 127.0.0.1")
    if os.geteuid() == 0:  # else Mosquitto drops to its own user, who cannot read this private folder
        config += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(config)
    shutil.copy(COMPOSE / "mosquitto.acl", tmp_path / "mosquitto.acl")
    passwords = tmp_path / "mosquitto.passwd"
    for user, password in (("shifa", "ingestion-secret"), ("device", "device-secret")):
        subprocess.run(
            [
                "mosquitto_passwd",
                "-b",
                *(["-c"] if not passwords.exists() else []),
                str(passwords),
                user,
                password,
            ],
            check=True,
            capture_output=True,
        )
    passwords.chmod(0o600)
    process = subprocess.Popen(
        [binary, "-c", str(tmp_path / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "Mosquitto did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _client(port: int, user: str | None, password: str | None, client_id: str):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if user:
        client.username_pw_set(user, password)
    outcome: dict = {}
    client.on_connect = lambda c, userdata, flags, reason, props: outcome.setdefault("reason", reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while "reason" not in outcome and time.monotonic() < deadline:
        time.sleep(0.02)
    return client, outcome.get("reason")


def test_mosquitto_lets_devices_reach_only_their_own_topics_and_shifa_read_them_all(broker):
    received: list[str] = []
    shifa, reason = _client(broker, "shifa", "ingestion-secret", "shifa-ingest-test")
    assert not reason.is_failure
    shifa.on_message = lambda c, userdata, message: received.append(message.topic)
    shifa.subscribe([("devices/+/readings", 1), ("devices/+/doses", 1)])
    anonymous, refused = _client(broker, None, None, "nobody")
    assert refused is not None and refused.is_failure
    anonymous.loop_stop()
    device_id = str(uuid.uuid4())
    device, reason = _client(broker, "device", "device-secret", device_id)
    assert not reason.is_failure
    time.sleep(0.3)  # the subscription is in place
    device.publish(f"devices/{uuid.uuid4()}/readings", b"{}", qos=1).wait_for_publish(
        5
    )  # another device's topic
    device.publish(f"devices/{device_id}/readings", b"{}", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for client in (shifa, device):
        client.loop_stop()
        client.disconnect()
    assert received == [f"devices/{device_id}/readings"]
