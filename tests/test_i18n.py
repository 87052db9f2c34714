"""Every user-visible string is translated into Arabic, and the compiled catalogue matches the source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "shifa"
PO = PACKAGE / "locale" / "ar" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def test_arabic_catalogue_is_complete():
    po = polib.pofile(str(PO))
    assert len(po) > 100
    assert po.untranslated_entries() == []
    assert po.fuzzy_entries() == []


def test_compiled_catalogue_matches_the_source():
    po = {(e.msgctxt, e.msgid): e.msgstr for e in polib.pofile(str(PO)) if not e.obsolete}
    mo = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(MO))}
    assert {k: v for k, v in mo.items() if k[1]} == po


def test_format_arguments_survive_translation():
    for entry in polib.pofile(str(PO)):
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for token in ("%(max)s", "%(zone)s", "%(name)s", "%(seconds)s"):
            for text in translations:
                assert (token in entry.msgid) == (token in text), entry.msgid


def test_no_string_in_the_source_is_missing_from_the_catalogue(tmp_path):
    """Needs gettext's xgettext (installed by .ci/run)."""
    assert shutil.which("xgettext"), "install gettext (Debian package 'gettext')"
    copy = tmp_path / "shifa"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("static", "__pycache__", "migrations"))
    po_copy = copy / "locale" / "ar" / "LC_MESSAGES" / "django.po"
    po_copy.unlink()
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "ar", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shifa.settings.test",
            "SHIFA_DATA_DIR": str(settings.DATA_DIR),
            "PYTHONPATH": str(ROOT / "src"),
        },
    )
    extracted = {(e.msgctxt, e.msgid) for e in polib.pofile(str(po_copy))}
    committed = {(e.msgctxt, e.msgid) for e in polib.pofile(str(PO))}
    assert extracted - committed == set(), "run `make messages` and translate the new strings"
