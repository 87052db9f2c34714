from __future__ import annotations

import pytest

from shifa.cli import demo_wanted


@pytest.mark.parametrize(
    ("env", "host", "expected"),
    [
        ({}, "127.0.0.1", True),
        ({}, "0.0.0.0", False),  # reachable from the network: no published passwords
        ({"DATABASE_URL": "postgres://db/shifa"}, "127.0.0.1", False),  # a real database
        ({"SHIFA_DEMO": "1", "DATABASE_URL": "postgres://db/shifa"}, "0.0.0.0", True),
        ({"SHIFA_DEMO": "0"}, "127.0.0.1", False),
    ],
)
def test_demo_accounts_are_loaded_only_where_safe(monkeypatch, env, host, expected):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SHIFA_DEMO", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert demo_wanted(host) is expected


def test_demo_code_prints_the_current_code_of_the_demo_authenticator(capsys):
    import pyotp

    from shifa.cli import main
    from shifa.demo.constants import DEMO_TOTP_SECRET

    assert main(["demo-code"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(printed) == 6 and printed.isdigit()
    assert pyotp.TOTP(DEMO_TOTP_SECRET).verify(printed, valid_window=1)
