"""Known vulnerabilities in the pinned dependencies (requirements.lock), for CI.

Runs pip-audit against PyPI's advisory data and fails on any known vulnerability. A pinned version the advisory
service cannot answer for (no network, or an index that serves versions PyPI does not list) is reported with a
count and does not fail the run; ``make audit`` is the strict form that fails on those too. Exit codes: 0 clean
(or nothing could be audited), 1 a vulnerability found, 2 pip-audit could not run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run(  # noqa: S603 - our own fixed command
            [
                str(ROOT / ".venv" / "bin" / "pip-audit"),
                "--requirement",
                str(ROOT / "requirements.lock"),
                "--no-deps",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                out.name,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        text = Path(out.name).read_text() if Path(out.name).stat().st_size else ""
    if not text:
        print(f"pip-audit could not run (exit {done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
        return 2
    dependencies = json.loads(text)["dependencies"]
    found = [(d["name"], d["version"], v) for d in dependencies for v in d.get("vulns", [])]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for name, version, vuln in found:
        fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
        print(f"VULNERABLE {name} {version}: {vuln['id']} (fixed in {fixed})")
    audited = len(dependencies) - len(skipped)
    print(
        f"pip-audit: {audited} of {len(dependencies)} pinned packages audited, {len(found)} known vulnerabilities"
    )
    if skipped:
        print(
            f"pip-audit: {len(skipped)} could not be audited from this network (e.g. {skipped[0]['skip_reason']}); "
            "run `make audit` where PyPI's advisory data answers for every pin"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
