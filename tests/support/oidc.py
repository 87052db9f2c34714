"""A stand-in for Google's and Apple's key endpoints: real RSA keys, a JWKS served over HTTP on loopback, and
ID tokens signed with them, so sign-in is tested through the real verification path."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

GOOGLE_ISSUER = "https://accounts.google.com"
APPLE_ISSUER = "https://appleid.apple.com"
GOOGLE_CLIENT_ID = "shifa-test.apps.googleusercontent.com"
APPLE_CLIENT_ID = "jo.shifa.app"


class KeyServer:
    instance: KeyServer | None = None  # the one started for this test process

    def __init__(self) -> None:
        KeyServer.instance = self
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk |= {"kid": self.kid, "use": "sig", "alg": "RS256"}
        body = json.dumps({"keys": [jwk]}).encode()
        self.requests = 0
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server_self.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/keys"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def providers(self) -> dict:
        from django.conf import settings

        providers = {}
        for name, issuer, audience in [
            ("google", GOOGLE_ISSUER, GOOGLE_CLIENT_ID),
            ("apple", APPLE_ISSUER, APPLE_CLIENT_ID),
        ]:
            real = settings.SHIFA_OIDC_PROVIDERS[name]
            providers[name] = real | {"issuers": [issuer], "jwks_url": self.url, "audiences": [audience]}
        return providers

    def id_token(
        self,
        provider: str = "google",
        *,
        sub: str | None = None,
        email: str = "",
        email_verified: bool = True,
        name: str = "",
        nonce: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 600,
        forged: bool = False,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer or (GOOGLE_ISSUER if provider == "google" else APPLE_ISSUER),
            "aud": audience or (GOOGLE_CLIENT_ID if provider == "google" else APPLE_CLIENT_ID),
            "sub": sub or uuid.uuid4().hex,
            "iat": now - 5,
            "exp": now + expires_in,
        }
        if email:
            claims |= {"email": email, "email_verified": email_verified}
        if name:
            claims["name"] = name
        if nonce is not None:
            claims["nonce"] = nonce
        key = self.stranger if forged else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def close(self) -> None:
        self.httpd.shutdown()
