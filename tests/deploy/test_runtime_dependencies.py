"""The image installs Shifa without its dev extras (Dockerfile): every package the product's code imports must be a
runtime dependency, directly or through one, or the image would fail where the test suite passes."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement

SRC = Path(__file__).resolve().parents[2] / "src" / "shifa"


def _runtime_closure() -> set[str]:
    """The distributions ``pip install .`` brings: Shifa's requirements without extras, and theirs, recursively
    (with the extras each asks for)."""
    seen: set[str] = set()
    pending = [Requirement(text) for text in importlib.metadata.requires("shifa") or []]
    pending = [req for req in pending if req.marker is None or req.marker.evaluate({"extra": ""})]
    while pending:
        requirement = pending.pop()
        key = (requirement.name.lower().replace("_", "-"), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not for this platform or Python
        extras = ["", *sorted(requirement.extras)]
        for text in requires:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(child)
    return {name for name, _extras in seen}


def _imported_top_levels() -> dict[str, str]:
    """Each top-level module imported by the product's code, with one file that imports it."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(SRC)))
    return found


def _distribution_names(module: str, owners: dict[str, list[str]]) -> set[str]:
    return {name.lower().replace("_", "-") for name in owners.get(module, [])}


def test_every_package_the_product_imports_is_a_runtime_dependency():
    runtime = _runtime_closure()
    owners = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(_imported_top_levels().items()):
        if module == "shifa" or module in sys.stdlib_module_names:
            continue
        distributions = _distribution_names(module, owners)
        assert distributions, f"{module} (imported in {where}) belongs to no installed distribution"
        if not distributions & runtime:
            missing.append(f"{module} ({', '.join(sorted(distributions))}), imported in {where}")
    assert missing == [], "imported by the product but only a dev dependency:\n" + "\n".join(missing)


def test_the_check_tells_a_dev_only_package_apart():
    runtime = _runtime_closure()
    owners = importlib.metadata.packages_distributions()
    assert "django" in runtime and "opentelemetry-sdk" in runtime
    assert not _distribution_names("factory", owners) & runtime  # factory_boy: tests only
    assert not _distribution_names("polib", owners) & runtime
