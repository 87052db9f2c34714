"""Backups (``shifa manage backup`` / ``shifa manage restore``, docs/decisions/0037-backups.md): a backup of a day's
work restores into a fresh, empty database on the same PostgreSQL server, and a ``shifa run`` started on it with a
fresh data folder and the same field keys serves what was written: a visit's encrypted complaint, a patient found by
national number (the blind index) and a stored document's bytes, through the API. The restore creates no audit rows
and leaves every trigger in place.

A restore refuses, exiting non-zero with one sentence and having written nothing: a missing backup, a damaged dump,
a dump that pg_restore cannot load, other field keys than the backup's, and a database that already has tables.

The restore runs as an operator would run it: ``shifa manage restore`` in a process of its own, with ``DATABASE_URL``
naming the new database and ``SHIFA_DATA_DIR`` an empty folder (its files go there)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from shifa.core import backup
from shifa.documents.models import Document
from tests.core.test_jobs import run_worker_until_idle
from tests.documents.test_documents import ask
from tests.support.private_postgres import ShifaProcess
from tests.support.records import base, committed_visit

pytestmark = pytest.mark.heavy(100)

ROOT = Path(__file__).resolve().parents[2]


# --- a fresh database on the suite's server, and Shifa's commands against it ----------------------------------------


def _server_url(database: str) -> str:
    """A postgres:// URL of ``database`` on the server of the suite's database (a Unix socket folder included)."""
    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    host = quote(str(s.get("HOST") or "localhost"), safe="")
    return f"postgres://{user}:{password}@{host}:{s.get('PORT') or 5432}/{database}"


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database (its URL) on the suite's server, dropped afterwards."""
    name = f"shifa_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(name)
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """A process of Shifa on ``database_url`` with its own data folder and the suite's field keys (as an operator
    sets them from the secret store)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL", "MAKEFLAGS"}
    }
    env |= {
        "DATABASE_URL": database_url,
        "SHIFA_DATA_DIR": str(data_dir),
        "FIELD_MASTER_KEYS": settings.FIELD_MASTER_KEYS,
        "FIELD_BLIND_INDEX_KEY": settings.FIELD_BLIND_INDEX_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    return env


def shifa_manage(database_url: str, data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shifa", "manage", *args],
        cwd=ROOT,
        env=_environment(database_url, data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [
            name
            for (name,) in conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY relname"
            )
        ]


def _figures(conn) -> dict[str, int]:
    """What a restore must keep exactly: audit rows, visits, documents, data keys and the triggers."""
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "audit rows": one("SELECT count(*) FROM audit_event"),
        "visits": one("SELECT count(*) FROM records_visit"),
        "documents": one("SELECT count(*) FROM documents_document"),
        "data keys": one("SELECT count(*) FROM core_data_key"),
        "triggers": one("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"),
    }


@contextlib.contextmanager
def shifa_run(database_url: str, data_dir: Path, folder: Path) -> Iterator[str]:
    """``shifa run`` serving ``database_url`` (its base URL), stopped afterwards as Ctrl-C stops it."""
    shifa = ShifaProcess(
        database_url,
        folder,
        extra_env=_environment(
            database_url, data_dir, HOST="127.0.0.1", SHIFA_DEMO="0", SHIFA_RUN_WORKER="0"
        ),
    )
    try:
        shifa.wait_healthy(240)
        yield shifa.base
    finally:
        shifa.stop()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a backup restores, and Shifa reads it ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only
def test_a_backup_restores_into_a_fresh_database_and_shifa_serves_it(cast, api, tmp_path):
    # A day's work: a national number, a committed visit with its (encrypted) complaint, a rendered document.
    national_id = "9" + f"{uuid.uuid4().int % 10**9:09d}"
    patient = api(cast.patient_user)
    assert (
        patient.patch(
            f"/api/v1/me/patients/{cast.patient.external_id}", {"national_id": national_id}
        ).status_code
        == 200
    )
    visit = committed_visit(cast, api)
    complaint = visit["complaint"]
    assert complaint
    document_id = ask(cast, api).json()["id"]
    run_worker_until_idle()
    document = Document.unscoped.get(external_id=document_id)
    with document.file.open("rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF")

    out, err = StringIO(), StringIO()
    call_command("backup", str(tmp_path / "backups"), stdout=out, stderr=err)
    (made,) = (tmp_path / "backups").iterdir()
    assert made.name.startswith("shifa-backup-") and sorted(p.name for p in made.iterdir()) == [
        "database.dump",
        "files.tar",
        "manifest.json",
    ]
    assert "keys are NOT in this backup" in err.getvalue()
    manifest = json.loads((made / "manifest.json").read_text())
    assert manifest["keys_included"] is False
    assert manifest["keys"]["master"]  # the data key of the day's values: the restore checks its master key
    written = (made / "manifest.json").read_text()
    for key in (
        *(part.split(":", 1)[1] for part in settings.FIELD_MASTER_KEYS.split(",")),
        *settings.FIELD_ENCRYPTION_KEYS,
        settings.FIELD_BLIND_INDEX_KEY,
        settings.SECRET_KEY,
    ):
        assert key.strip() not in written
    assert manifest["database"]["migrations"]["records"]
    with psycopg.connect(_server_url(connection.settings_dict["NAME"])) as source:
        before = _figures(source)
    assert before["visits"] >= 1 and before["documents"] == 1 and before["audit rows"] > 0

    with fresh_database() as url:
        data_dir = tmp_path / "restored-data"
        restored = shifa_manage(url, data_dir, "restore", str(made))
        assert restored.returncode == 0, restored.stderr[-3000:]
        assert f"{manifest['files']['count']} files" in restored.stdout
        # The load wrote no audit rows and was blocked by no trigger: the triggers came after the rows.
        with psycopg.connect(url) as target:
            assert _figures(target) == before
        # The document's file is in the new data folder's storage, byte for byte.
        assert (data_dir / "media" / document.file.name).read_bytes() == pdf

        with shifa_run(url, data_dir, tmp_path) as served:
            minted = shifa_manage(
                url,
                data_dir,
                "shell",
                "-c",
                "from shifa.accounts.models import User; from shifa.accounts.actions import token_pair_issue; "
                f"print(token_pair_issue(user=User.objects.get(pk={cast.staff_a['doctor'].pk}), mfa=True)"
                "['access_token'])",
            )
            assert minted.returncode == 0, minted.stderr[-3000:]
            headers = {"Authorization": f"Bearer {minted.stdout.strip().splitlines()[-1]}"}
            clinic = base(cast.clinic_a)
            with httpx.Client(base_url=served, headers=headers, timeout=30) as doctor:
                read = doctor.get(f"{clinic}/visits/{visit['id']}")
                assert read.status_code == 200, read.text[:800]
                assert read.json()["complaint"] == complaint
                found = doctor.get(f"{clinic}/patients", params={"q": national_id})
                assert found.status_code == 200, found.text[:800]
                assert [p["id"] for p in found.json()["items"]] == [str(cast.patient.external_id)]
                file = doctor.get(f"{clinic}/documents/{document_id}/file")
                assert file.status_code == 200 and _sha256(file.content) == _sha256(pdf)


# --- what a backup holds ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_backup_holds_every_stored_file_and_its_checksums_match(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    stored = {
        "documents/1/letter.pdf": b"%PDF-1.7 a letter",
        "documents/2/nested/scan.png": os.urandom(300_000),
        "applications/7/licence.pdf": b"%PDF licence",
        "top.txt": b"",
    }
    for name, data in stored.items():
        assert default_storage.save(name, ContentFile(data)) == name

    outcome = backup.backup_create(tmp_path / "backups", say=lambda _: None)

    assert [p.name for p in (tmp_path / "backups").iterdir()] == [
        outcome.path.name
    ]  # nothing half-written left
    manifest = json.loads((outcome.path / "manifest.json").read_text())
    assert manifest["files"] == {
        "count": len(stored),
        "bytes": sum(len(d) for d in stored.values()),
        "storage": "django.core.files.storage.FileSystemStorage",
    }
    for part in ("database.dump", "files.tar"):
        assert manifest["sha256"][part] == _sha256((outcome.path / part).read_bytes())
    with tarfile.open(outcome.path / "files.tar") as tar:
        held = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert held == stored
    assert (outcome.path / "database.dump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert manifest["database"]["server_major"] == connection.pg_version // 10000


@pytest.mark.django_db
def test_a_failed_backup_leaves_nothing_that_looks_like_one(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    default_storage.save("documents/1/a.pdf", ContentFile(b"%PDF"))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(backup, "_write_files_tar", broken)
    with pytest.raises(OSError, match="disk full"):
        backup.backup_create(tmp_path / "backups", say=lambda _: None)
    assert list((tmp_path / "backups").iterdir()) == []


# --- refusals -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made_backup(django_db_setup, django_db_blocker, tmp_path_factory) -> Path:
    """One backup of the suite's database (reference data, no files), for the refusals to spoil copies of."""
    media = tmp_path_factory.mktemp("media")
    from django.core.files.storage import FileSystemStorage

    FileSystemStorage(location=media).save("documents/1/a.pdf", ContentFile(b"%PDF kept"))
    with django_db_blocker.unblock():
        outcome = backup.backup_create(
            tmp_path_factory.mktemp("backups"), storage=FileSystemStorage(location=media), say=lambda _: None
        )
    return outcome.path


def _copy(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / made.name
    shutil.copytree(made, copy)
    return copy


def _refused(result: subprocess.CompletedProcess, words: str) -> str:
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("CommandError: ") and words in message, result.stderr[-2000:]
    return message


@pytest.mark.django_db
def test_a_missing_backup_is_refused(tmp_path):
    with fresh_database() as url:
        _refused(
            shifa_manage(url, tmp_path / "data", "restore", str(tmp_path / "nowhere")), "no Shifa backup"
        )
        assert _tables(url) == []


@pytest.mark.django_db
def test_a_damaged_dump_is_refused_before_anything_is_written(made_backup, tmp_path):
    copy = _copy(made_backup, tmp_path)
    with (copy / "database.dump").open("r+b") as dump:
        dump.seek(2000)
        byte = dump.read(1)
        dump.seek(2000)
        dump.write(bytes([byte[0] ^ 0xFF]))
    data_dir = tmp_path / "data"
    with fresh_database() as url:
        _refused(shifa_manage(url, data_dir, "restore", str(copy)), "does not match its checksum")
        assert _tables(url) == []
    assert not (data_dir / "media").exists()


@pytest.mark.django_db
def test_a_dump_pg_restore_cannot_load_is_refused_and_leaves_the_database_empty(made_backup, tmp_path):
    """The checksums match (the manifest was rewritten too), but the dump is cut short: pg_restore fails, its one
    transaction is rolled back, and no file is written."""
    copy = _copy(made_backup, tmp_path)
    dump = copy / "database.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["sha256"]["database.dump"] = _sha256(dump.read_bytes())
    (copy / "manifest.json").write_text(json.dumps(manifest))
    data_dir = tmp_path / "data"
    with fresh_database() as url:
        _refused(shifa_manage(url, data_dir, "restore", str(copy)), "pg_restore failed")
        assert _tables(url) == []
    assert not (data_dir / "media").exists()


@pytest.mark.parametrize(
    ("variable", "words"),
    [
        ("FIELD_MASTER_KEYS", "master key"),
        ("FIELD_BLIND_INDEX_KEY", "FIELD_BLIND_INDEX_KEY is not the backup's"),
        ("FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEYS do not include the backup's"),
        ("SECRET_KEY", "Neither SECRET_KEY nor SECRET_KEY_FALLBACKS holds the backup's key"),
    ],
)
@pytest.mark.django_db
def test_other_keys_than_the_backups_are_refused(made_backup, tmp_path, variable, words):
    from cryptography.fernet import Fernet

    from shifa.core import keys

    copy = _copy(made_backup, tmp_path)
    # The suite's database holds no committed data key: the check of one is added as a backup of data would have it.
    manifest = json.loads((copy / "manifest.json").read_text())
    probe = os.urandom(32)
    current = keys.provider().current()
    manifest["keys"]["master"] = {
        current: {
            "wrapped": base64.b64encode(keys.provider().wrap(current, probe)).decode(),
            "sha256": _sha256(probe),
        }
    }
    (copy / "manifest.json").write_text(json.dumps(manifest))
    other = {
        "FIELD_MASTER_KEYS": f"{current}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}",
        "FIELD_BLIND_INDEX_KEY": "another-key",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECRET_KEY": "another-secret-key-" + uuid.uuid4().hex,
    }
    with fresh_database() as url:
        _refused(
            shifa_manage(url, tmp_path / "data", "restore", str(copy), **{variable: other[variable]}), words
        )
        assert _tables(url) == []


@pytest.mark.django_db
def test_a_secret_key_rotated_since_the_backup_is_accepted_while_the_old_one_is_a_fallback(
    made_backup, settings
):
    manifest = json.loads((made_backup / "manifest.json").read_text())
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-rotated-secret-key-" + uuid.uuid4().hex
    settings.SECRET_KEY_FALLBACKS = [old]
    backup._check_keys(manifest)
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(backup.BackupError, match="SECRET_KEY_FALLBACKS"):
        backup._check_keys(manifest)


@pytest.mark.django_db
def test_a_database_that_has_tables_is_refused_and_left_untouched(made_backup, tmp_path):
    data_dir = tmp_path / "data"
    with fresh_database() as url:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('mine')")
        _refused(
            shifa_manage(url, data_dir, "restore", str(made_backup)),
            "is not empty (tables: 1, other relations: 0)",
        )
        assert _tables(url) == ["kept"]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("mine",)]
    assert not (data_dir / "media").exists()


@pytest.mark.django_db
def test_a_stored_file_with_other_content_is_refused_before_the_database_is_written(made_backup, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "media" / "documents" / "1").mkdir(parents=True)
    (data_dir / "media" / "documents" / "1" / "a.pdf").write_bytes(b"%PDF someone else's")
    with fresh_database() as url:
        _refused(shifa_manage(url, data_dir, "restore", str(made_backup)), "exists with other content")
        assert _tables(url) == []
    assert (data_dir / "media" / "documents" / "1" / "a.pdf").read_bytes() == b"%PDF someone else's"


@pytest.mark.django_db
def test_a_backup_of_a_newer_postgresql_is_refused(made_backup, tmp_path):
    copy = _copy(made_backup, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["database"] |= {"server_version": "99.1", "server_major": 99}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with fresh_database() as url:
        _refused(
            shifa_manage(url, tmp_path / "data", "restore", str(copy)), "restore into PostgreSQL 99 or newer"
        )
        assert _tables(url) == []


def test_the_tools_are_the_oldest_new_enough_and_their_absence_is_said():
    oldest = backup.postgres_tools(0)
    assert backup._major_of(Path(oldest.pg_dump)) == oldest.major
    assert Path(oldest.pg_restore).parent == Path(oldest.pg_dump).parent
    majors = {backup._major_of(folder / "pg_dump") for folder in backup._candidate_folders()} - {None}
    assert oldest.major == min(majors)
    assert backup.postgres_tools(max(majors)).major == max(majors)
    with pytest.raises(backup.BackupError, match="No pg_dump/pg_restore of PostgreSQL 99 or newer"):
        backup.postgres_tools(99)
