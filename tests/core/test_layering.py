"""Writes live only in actions.py (and migrations, tests): a small AST check over the source tree (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "shifa"
SQL_WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
WRITE_FUNCTIONS = {"login", "logout"}  # django.contrib.auth: they write the session and last_login
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
#: Files allowed to write besides actions.py, each with why. Keep it short.
EXEMPT: set[str] = {
    # Backups write no row: pg_restore loads a whole database, the stored files go back through the storage's
    # .save(), and its .update() calls are checksums' (docs/decisions/0037).
    "core/backup.py",
}


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
        if not isinstance(node, ast.Call) or id(node) in decorators:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in WRITE_METHODS or name in WRITE_FUNCTIONS:
            yield node.lineno, name
        elif name == "execute" and node.args and isinstance(node.args[0], ast.Constant):
            sql = str(node.args[0].value).lstrip().upper()
            if sql.startswith(SQL_WRITES):
                yield node.lineno, "execute"


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
        "@router.delete('/x')\ndef v(request, obj):\n    obj.save()\n    Model.objects.filter().update(x=1)\n"
        "    cursor.execute('UPDATE t SET a = 1')\n    cursor.execute('SELECT 1')\n    login(request, obj)\n"
    )
    assert sorted(name for _, name in _calls(bad)) == ["execute", "login", "save", "update"]
