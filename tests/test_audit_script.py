"""scripts/audit.py (CI's dependency audit): a known vulnerability fails the run; pins the advisory service cannot
answer for are counted and reported without failing it; pip-audit not running at all is its own failure."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_audit():
    spec = importlib.util.spec_from_file_location("shifa_audit_script", ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_pip_audit(monkeypatch, audit, dependencies: list | None, returncode: int = 0):
    def run(command, **kwargs):
        output = Path(command[command.index("--output") + 1])
        if dependencies is not None:
            output.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
        return subprocess.CompletedProcess(command, returncode, stdout="", stderr="no network")

    monkeypatch.setattr(audit.subprocess, "run", run)


CLEAN = {"name": "django", "version": "5.2.1", "vulns": []}
UNKNOWN = {
    "name": "uvloop",
    "skip_reason": "Dependency not found on PyPI and could not be audited: uvloop (0.23.0)",
}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": [], "description": ""}],
}


@pytest.mark.parametrize(
    ("dependencies", "code", "said"),
    [
        ([CLEAN, UNKNOWN], 0, "1 of 2 pinned packages audited, 0 known vulnerabilities"),
        ([CLEAN, VULNERABLE, UNKNOWN], 1, "VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"),
        (None, 2, "pip-audit could not run"),
    ],
)
def test_the_audit_fails_on_a_known_vulnerability_only(monkeypatch, capsys, dependencies, code, said):
    audit = load_audit()
    fake_pip_audit(monkeypatch, audit, dependencies, returncode=1 if dependencies is None else 0)
    assert audit.main() == code
    printed = capsys.readouterr()
    assert said in printed.out + printed.err
    if dependencies and UNKNOWN in dependencies:
        assert "1 could not be audited from this network" in printed.out
