"""What the repository must never carry."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked() -> list[str]:
    return subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_no_data_folder_or_secret_is_tracked():
    assert [f for f in _tracked() if ".shifa/" in f or "/secrets/" in f] == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    head = "\n".join(readme.splitlines()[:30])
    assert "make run" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
