"""Writes live only in actions.py (and migrations, tests): a small AST check over the source tree (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "shifa"
WRITE_METHODS = {
    "save",
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "group_send",
}
#: Files allowed to write besides actions.py. Keep it empty or shrinking.
EXEMPT: set[str] = set()


def _calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    # Route decorators such as @router.delete(...) declare an HTTP method; they write nothing.
    decorators = {
        id(d)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        for d in n.decorator_list
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and id(node) not in decorators
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITE_METHODS
        ):
            yield node.lineno, node.func.attr


def test_writes_only_in_actions():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if path.name == "actions.py" or "/migrations/" in f"/{rel}" or rel in EXEMPT:
            continue
        offenders += [f"{rel}:{line} .{name}(" for line, name in _calls(path)]
    assert offenders == [], "writes outside actions.py:\n" + "\n".join(offenders)


def test_the_check_can_fail(tmp_path):
    bad = tmp_path / "views.py"
    bad.write_text(
        "@router.delete('/x')\ndef v(obj):\n    obj.save()\n    Model.objects.filter().update(x=1)\n"
    )
    assert [name for _, name in _calls(bad)] == ["save", "update"]
