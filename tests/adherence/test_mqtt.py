"""Devices over MQTT against a real broker (CP-5): Mosquitto on loopback — the one on 1883 when it runs (`.ci/run`
starts it), else a private one on a free port."""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from shifa.adherence import mqtt
from shifa.adherence.models import Alert, Reading
from shifa.notifications.models import Notification
from tests.support.booking import open_for_booking
from tests.support.records import base, in_care

pytestmark = pytest.mark.django_db(transaction=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def broker_url():
    if _listening(1883):
        yield "mqtt://127.0.0.1:1883"
        return
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert Path(binary).exists(), "Mosquitto is needed for this test (scripts/system-packages.sh installs it)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = Path(tempfile.mkdtemp())
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline, "Mosquitto did not start"
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ingestion(broker_url):
    """The ingestion service, running in its own thread and event loop, until the test ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started = asyncio.Event()
    failure: list[BaseException] = []

    async def main():
        task = asyncio.create_task(mqtt.serve(broker_url, ready=started))
        await started.wait()
        ready.set()
        await task

    thread = threading.Thread(target=lambda: _run(loop, main(), failure), daemon=True)
    thread.start()
    assert ready.wait(15), "the ingestion service did not subscribe"
    yield broker_url
    assert not failure, f"the ingestion service stopped: {failure!r}"
    assert thread.is_alive(), "the ingestion service stopped by itself"
    loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
    thread.join(15)


def _run(loop, coroutine, failure: list):
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(coroutine)
    except asyncio.CancelledError:
        pass
    except BaseException as exc:  # reported by the fixture
        failure.append(exc)
    finally:
        loop.close()


class Device:
    """A device on the broker: publishes to its topics and reads the replies."""

    def __init__(self, url: str, device_id: str):
        broker = mqtt.broker_of(url)
        self.id = device_id
        self.replies: queue.Queue = queue.Queue()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"device-{uuid.uuid4().hex[:8]}"
        )
        subscribed = threading.Event()
        self.client.on_message = lambda client, data, message: self.replies.put(json.loads(message.payload))
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(f"devices/{device_id}/replies", qos=1)
        assert subscribed.wait(10)

    def publish(self, channel: str, body: dict) -> None:
        self.client.publish(f"devices/{self.id}/{channel}", json.dumps(body), qos=1).wait_for_publish(10)

    def reply(self, timeout: float = 15) -> dict:
        return self.replies.get(timeout=timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _follow(cast, api) -> dict:
    """The doctor follows the patient with a plan whose systolic limit is 140; the patient registers a cuff."""
    open_for_booking(cast)
    in_care(cast)
    plan = {
        "title": "Blood pressure control",
        "items": [
            {
                "kind": "task",
                "task": "vital",
                "vital_code": "8480-6",
                "title": "BP",
                "count": 7,
                "every_days": 1,
            }
        ],
        "thresholds": {"8480-6": {"high": 140}},
    }
    made = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans", plan
    )
    assert made.status_code == 201, made.content
    device = api(cast.patient_user).post("/api/v1/me/devices", {"kind": "bp_cuff", "name": "Cuff"})
    assert device.status_code == 201
    return device.json()


def test_a_device_publishes_a_reading_it_is_charted_and_an_out_of_range_value_alerts_the_doctor(
    cast, api, ingestion
):
    registered = _follow(cast, api)
    device = Device(ingestion, registered["id"])
    try:
        device.publish(
            "readings",
            {"secret": registered["secret"], "message_id": "r-1", "readings": {"8480-6": 128, "8462-4": 79}},
        )
        assert device.reply() == {
            "status": "filed",
            "message_id": "r-1",
            "filed": 2,
            "flags": {"8480-6": "high", "8462-4": ""},
        }
        device.publish(
            "readings", {"secret": registered["secret"], "message_id": "r-2", "readings": {"8480-6": 176}}
        )
        assert device.reply()["flags"] == {"8480-6": "high"}
        # the same message delivered again is filed once
        device.publish(
            "readings", {"secret": registered["secret"], "message_id": "r-2", "readings": {"8480-6": 176}}
        )
        assert device.reply()["filed"] == 0
    finally:
        device.close()

    chart = api(cast.staff_a["doctor"]).get(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/vitals?code=8480-6"
    )
    assert [(r["value"], r["source"]) for r in chart.json()["items"]] == [
        ("128", "device"),
        ("176", "device"),
    ]
    alert = Alert.unscoped.get()
    assert alert.reading.value == 176 and alert.clinic == cast.clinic_a and alert.flag == "high"
    told = Notification.objects.get(recipient=cast.staff_a["doctor"], kind="vitals.alert")
    assert "176" in told.title


def test_a_device_publishing_for_another_patient_is_refused(cast, api, ingestion):
    registered = _follow(cast, api)
    device = Device(ingestion, registered["id"])
    try:
        other = str(cast.other_patient_user.patient.external_id)
        device.publish(
            "readings", {"secret": registered["secret"], "patient_id": other, "readings": {"8480-6": 190}}
        )
        answer = device.reply()
        assert answer["status"] == "refused" and answer["code"] == "wrong_patient"
        # a wrong secret gets no answer at all, and files nothing
        device.publish("readings", {"secret": "guess", "readings": {"8480-6": 190}})
        device.publish("readings", {"secret": registered["secret"], "readings": {"8480-6": 900}})
        refused = device.reply()
        assert refused["code"] == "validation_failed" and refused["errors"][0]["field"] == "readings.8480-6"
        with pytest.raises(queue.Empty):
            device.reply(timeout=1)
    finally:
        device.close()
    assert not Reading.objects.exists() and not Alert.unscoped.exists()


def test_a_message_that_cannot_be_filed_does_not_stop_the_service(cast, api, ingestion, monkeypatch):
    registered = _follow(cast, api)
    real = mqtt.handle
    calls = []

    def failing_once(topic, body):
        calls.append(topic)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(topic, body)

    monkeypatch.setattr(mqtt, "handle", failing_once)
    device = Device(ingestion, registered["id"])
    try:
        device.publish(
            "readings", {"secret": registered["secret"], "message_id": "a", "readings": {"8480-6": 120}}
        )
        device.publish(
            "readings", {"secret": registered["secret"], "message_id": "b", "readings": {"8480-6": 121}}
        )
        assert device.reply()["message_id"] == "b"  # the first was not filed (the device sends it again)
    finally:
        device.close()
    assert [str(r.value) for r in Reading.objects.all()] == ["121.00"]
