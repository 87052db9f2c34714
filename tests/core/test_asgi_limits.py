"""Oversized bodies are refused before Django buffers them, declared or streamed."""

from __future__ import annotations

import asyncio
import json

from shifa.core.asgi_limits import BodyLimit


def run(app, headers, chunks):
    sent = []
    calls = {"app": 0}
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/auth/tokens", "headers": headers}

    async def inner(scope, receive, send):
        calls["app"] += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    asyncio.run(BodyLimit(inner if app is None else app, 100)(scope, receive, send))
    return sent, calls["app"]


def test_declared_oversized_body_is_refused_without_calling_the_app():
    sent, calls = run(None, [(b"content-length", b"1000")], [b"x" * 1000])
    assert calls == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"


def test_streamed_body_without_length_is_cut_off():
    sent, _ = run(None, [], [b"x" * 60, b"x" * 60, b"x" * 60])
    assert sent[0]["status"] == 413


def test_malformed_length_is_400_and_small_bodies_pass():
    sent, _ = run(None, [(b"content-length", b"abc")], [b""])
    assert sent[0]["status"] == 400
    sent, calls = run(None, [(b"content-length", b"50")], [b"x" * 50])
    assert calls == 1 and sent[0]["status"] == 200 and sent[1]["body"] == b"50"


def test_answer_is_in_arabic_when_asked():
    sent, _ = run(None, [(b"content-length", b"1000"), (b"accept-language", b"ar")], [b""])
    assert json.loads(sent[1]["body"])["detail"] == "محتوى الطلب كبير جدًا."
