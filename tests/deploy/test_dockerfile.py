"""The image's Dockerfile, checked without building it (no container engine runs where the tests run): what it
copies is in the build context, it builds in stages without the dev tools, runs as a fixed non-root user, and
its static files, collected at build time, are the ones `shifa run` would collect at start, so that it writes
nothing there with a read-only root filesystem."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from .support import (
    ROOT,
    dockerfile_instructions,
    final_stage,
    image_environment,
    image_user,
    shifa_command_exists,
)


def _ignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore as (is_exception, regex) in order, with Docker's meaning: the last pattern that matches a path
    or one of its parent folders decides; ``*`` stays within a folder, ``**`` crosses folders."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in {"**", "**/"}:
                regex += "(?:.*/)?" if part == "**/" else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def _excluded(path: str, patterns) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exception, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not exception
    return excluded


def _copy_sources() -> list[str]:
    sources = []
    for name, arguments in dockerfile_instructions():
        if name == "COPY" and "--from=" not in arguments:
            sources += arguments.split()[:-1]
    return sources


def test_every_copied_file_is_in_the_build_context():
    patterns = _ignore_patterns()
    sources = _copy_sources()
    assert {"pyproject.toml", "requirements.lock", "README.md", "src"} <= set(sources)
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for source in sources:
        assert (ROOT / source).exists(), source
        files = [f for f in tracked if f == source or f.startswith(source.rstrip("/") + "/")]
        if (ROOT / source).is_file():
            files = [source]
        assert files, source
        for path in files:
            assert not _excluded(path, patterns), f"{path} is copied but .dockerignore leaves it out"


def test_the_build_context_leaves_out_data_and_secrets():
    patterns = _ignore_patterns()
    for path in (
        ".shifa/secrets/secret_key",
        ".venv/bin/python",
        ".git/config",
        "deploy/compose/.env",
        "src/shifa/__pycache__/cli.cpython-311.pyc",
        "node_modules/axe-core/axe.js",
        "staticfiles/x.css",
    ):
        assert _excluded(path, patterns), path
    assert not _excluded("src/shifa/cli.py", patterns)
    assert not _excluded("deploy/container/probe.py", patterns)


def test_two_stages_from_one_pinned_base_with_only_the_runtime_dependencies():
    instructions = dockerfile_instructions()
    base = next(
        arguments for name, arguments in instructions if name == "ARG" and arguments.startswith("PYTHON_")
    )
    image = base.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image
    stages = [arguments for name, arguments in instructions if name == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]
    installs = [arguments for name, arguments in instructions if name == "RUN" and "pip install" in arguments]
    assert any(re.search(r"pip install --quiet -c requirements\.lock \.$", run) for run in installs), installs
    assert not any("[dev]" in run or "dev" in run.split() for run in installs)
    final = final_stage()
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    assert not any(
        name == "RUN" and re.search(r"\b(gcc|build-essential|pip install)\b", arguments)
        for name, arguments in final
    )
    # WeasyPrint's libraries are there (it loads them by these names, weasyprint.text.ffi).
    apt = " ".join(arguments for name, arguments in final if name == "RUN" and "apt-get install" in arguments)
    for package in (
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "libharfbuzz0b",
        "libharfbuzz-subset0",
        "libfontconfig1",
    ):
        assert package in apt.split(), package


def test_runs_as_a_fixed_non_root_user_with_production_settings():
    assert image_user() == 10001
    runs = " ".join(arguments for name, arguments in final_stage() if name == "RUN")
    assert re.search(r"useradd .*--uid 10001 ", runs)
    environment = image_environment()
    assert environment["DJANGO_SETTINGS_MODULE"] == "shifa.settings.production"
    assert environment["HOST"] == "0.0.0.0"
    exposed = [arguments for name, arguments in final_stage() if name == "EXPOSE"]
    assert exposed == [environment["PORT"]]
    # STATIC_ROOT is in the image, not under the data folder, which is a volume that would hide it.
    assert not environment["STATIC_ROOT"].startswith(environment["SHIFA_DATA_DIR"])


def test_the_default_command_and_the_healthcheck_exist():
    final = dict(final_stage())
    assert shifa_command_exists(json.loads(final["CMD"]))
    options, _, command = final["HEALTHCHECK"].partition(" CMD ")
    assert "--start-period=" in options
    python, flag, code = json.loads(command)  # the exec form: JSON, or Docker runs it through a shell
    assert (python, flag) == ("python", "-c")
    compile(code, "HEALTHCHECK", "exec")
    assert "/healthz" in code and "ALLOWED_HOSTS" in code


def test_static_files_collected_at_build_time_are_not_collected_again_at_start(tmp_path):
    """The build's RUN, as written, collects; then the production settings of a running container find nothing to
    do (shifa.cli.collect_static compares its stamp), so a read-only image is never written to."""
    run = next(
        arguments for name, arguments in final_stage() if name == "RUN" and "collect_static" in arguments
    )
    static_root = tmp_path / "static"
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}},
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "STATIC_ROOT": str(static_root),
    }
    built = subprocess.run(["bash", "-c", run], env=environment, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    stamp = (static_root / ".sources").read_text()
    manifest = (static_root / "staticfiles.json").stat().st_mtime_ns

    production = {
        **environment,
        "DJANGO_SETTINGS_MODULE": image_environment()["DJANGO_SETTINGS_MODULE"],
        "SHIFA_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "postgres://shifa@127.0.0.1:1/shifa",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "ALLOWED_HOSTS": "shifa.example.jo",
        "SHIFA_PUBLIC_URL": "https://shifa.example.jo",
        **{
            name: "k" * 44
            for name in ("SECRET_KEY", "JWT_SIGNING_KEY", "FIELD_BLIND_INDEX_KEY", "VAPID_PRIVATE_KEY")
        },
        "FIELD_ENCRYPTION_KEYS": "x" * 43 + "=",
        "FIELD_MASTER_KEYS": "m1:" + "A" * 43,
    }
    again = subprocess.run(
        [sys.executable, "-c", "from shifa import cli; cli._setup(); print(cli.collect_static())"],
        env=production,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() == "False"
    assert (static_root / ".sources").read_text() == stamp
    assert (static_root / "staticfiles.json").stat().st_mtime_ns == manifest
