"""What the deployment files are checked against: the environment variables Shifa reads, its commands, and the
image's Dockerfile, read from the sources themselves so that a renamed setting fails these tests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"

#: Variables read by what Shifa runs on rather than by its settings, with the reader.
READ_BY_OTHERS = {
    "FORWARDED_ALLOW_IPS": "uvicorn: the proxies whose X-Forwarded-For it believes",
    "PGAPPNAME": "libpq: the worker's connections' application_name, which its probe looks for",
    "AWS_ACCESS_KEY_ID": "boto3, under django-storages' S3 storage",
    "AWS_SECRET_ACCESS_KEY": "boto3, under django-storages' S3 storage",
}

_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|env_bool|os\.environ\[|environ\.get)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def variables_read() -> set[str]:
    """Every environment variable the settings and the ``shifa`` command read by name."""
    sources = [*sorted((ROOT / "src/shifa/settings").glob("*.py")), ROOT / "src/shifa/cli.py"]
    names = set()
    for source in sources:
        names |= set(_READ.findall(source.read_text()))
    return names


#: Prefixes of variables read by a library as a family: OpenTelemetry's SDK reads every standard OTEL_* variable
#: (shifa.core.tracing).
READ_BY_PREFIX = ("OTEL_",)


def unknown_variables(names) -> set[str]:
    return {
        name
        for name in set(names) - variables_read() - set(READ_BY_OTHERS)
        if not name.startswith(READ_BY_PREFIX)
    }


def shifa_command_exists(command: list[str]) -> bool:
    """Whether ``command`` is one the image can run: ``shifa run|migrate|demo-code`` or ``shifa manage <a Django
    management command>``."""
    if not command or command[0] != "shifa" or len(command) < 2:
        return False
    if command[1] in {"run", "migrate"}:
        return len(command) == 2
    if command[1] == "manage" and len(command) > 2:
        from django.core.management import get_commands

        return command[2] in get_commands()
    return False


def dockerfile_instructions(text: str | None = None) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text() if text is None else text
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def image_environment() -> dict[str, str]:
    """The final stage's ENV (KEY=value pairs; ``$PATH``-style references left as written)."""
    found = {}
    for name, arguments in final_stage():
        if name == "ENV":
            for word in shlex.split(arguments):
                key, _, value = word.partition("=")
                found[key] = value
    return found


def image_user() -> int:
    users = [arguments for name, arguments in final_stage() if name == "USER"]
    return int(users[-1].split(":")[0])
