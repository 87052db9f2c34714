"""Backups of a Shifa site and their restore (docs/decisions/0037-backups.md).

A backup is a folder ``shifa-backup-<UTC time>`` holding:

* ``database.dump``: ``pg_dump`` in its custom format, without owners or grants, so that it restores into any
  role's empty database;
* ``files.tar``: every file of Django's default storage (documents, licence scans, photos, attachments), read
  through the storage API, so that the file system and S3 are backed up the same way;
* ``manifest.json``: when, by which Shifa, the last migration of each app, the PostgreSQL version, the number and
  size of the files, the SHA-256 of the two other files, and a way to tell whether the keys configured at restore
  time are the keys the data was encrypted with (never the keys themselves).

The keys are not in a backup; they are kept in the secret store, apart from backups. A restored site needs
``FIELD_MASTER_KEYS`` (the encrypted clinical fields), ``FIELD_BLIND_INDEX_KEY`` (national IDs),
``FIELD_ENCRYPTION_KEYS`` (authenticator secrets) and ``SECRET_KEY`` (digests of recovery codes, refresh tokens and
invitations); a restore refuses keys that are not the backup's.

A backup is written under a hidden temporary name and renamed when complete: a backup that failed half-way never
looks like one. A restore checks everything it can before it writes anything (checksums, keys, versions, an empty
database, files that would be overwritten), then loads the dump in one transaction and writes the files.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import connections

from shifa.core import crypto, keys, timezones

FORMAT = 1
DUMP = "database.dump"
FILES = "files.tar"
MANIFEST = "manifest.json"
PREFIX = "shifa-backup-"
_CHUNK = 1024 * 1024
#: Blind index of a fixed value, kept in the manifest: equal only when ``FIELD_BLIND_INDEX_KEY`` is the same.
_KEY_CHECK = ("backup.key-check", "shifa")

Say = Callable[[str], None]

KEYS_NOT_INCLUDED = (
    "The keys are NOT in this backup. Keep FIELD_MASTER_KEYS, FIELD_BLIND_INDEX_KEY, FIELD_ENCRYPTION_KEYS and "
    "SECRET_KEY (on one machine: the files field_master_keys, field_blind_index_key, field_encryption_key and "
    "secret_key of the data folder's secrets/) in the secret store: without them a restored site cannot read its "
    "encrypted fields, find national IDs or let anyone sign in with an authenticator app or a recovery code."
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Tools:
    """A pg_dump and the pg_restore beside it, of one PostgreSQL major version."""

    pg_dump: str
    pg_restore: str
    major: int


@dataclass
class Outcome:
    path: Path
    manifest: dict
    restored_files: int = 0
    present_files: int = 0
    tables: int = 0


# --- PostgreSQL tools ---------------------------------------------------------------------------------------------


def _candidate_folders() -> list[Path]:
    """Folders that may hold pg_dump and pg_restore: the embedded server's own (pgserver ships the client tools
    with it), the system's versioned installs (Debian's ``/usr/lib/postgresql/<major>/bin``), then PATH."""
    folders = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        folders.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    folders += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).resolve().parent)
    return folders


def _major_of(binary: Path) -> int | None:
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL tool found above, no shell
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(found.group(1)) if found else None


def postgres_tools(at_least: int) -> Tools:
    """The pg_dump/pg_restore pair of the lowest major version that is ``at_least`` (a pg_dump cannot dump a newer
    server, a pg_restore cannot read a newer pg_dump's archive). Raises BackupError when there is none."""
    found: dict[Path, int | None] = {}
    for folder in _candidate_folders():
        dump, restore = folder / "pg_dump", folder / "pg_restore"
        if folder not in found and dump.exists() and restore.exists():
            found[folder] = _major_of(dump)
    usable = sorted((major, str(folder)) for folder, major in found.items() if major and major >= at_least)
    if not usable:
        have = ", ".join(f"{major} in {folder}" for folder, major in found.items()) or "none"
        raise BackupError(
            f"No pg_dump/pg_restore of PostgreSQL {at_least} or newer was found (found: {have}); install the "
            f"PostgreSQL {at_least} client tools (Debian: postgresql-client-{at_least})."
        )
    major, folder = usable[0]
    return Tools(str(Path(folder) / "pg_dump"), str(Path(folder) / "pg_restore"), major)


def _libpq_env(settings_dict: dict) -> dict[str, str]:
    """The database's connection settings as libpq environment variables: the password never appears in a command
    line (where ``ps`` would show it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {
        "PGHOST": str(settings_dict.get("HOST") or ""),
        "PGPORT": str(settings_dict.get("PORT") or "5432"),
        "PGUSER": str(settings_dict.get("USER") or ""),
        "PGPASSWORD": str(settings_dict.get("PASSWORD") or ""),
        "PGDATABASE": str(settings_dict["NAME"]),
    }
    options = settings_dict.get("OPTIONS") or {}
    for option in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "target_session_attrs"):
        if options.get(option):
            env["PG" + option.upper()] = str(options[option])
    return {k: v for k, v in env.items() if v != ""}


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # pg_dump/pg_restore with arguments of ours, no shell
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def _server(alias: str) -> tuple[str, int]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SHOW server_version")
        (text,) = cursor.fetchone()
        cursor.execute("SHOW server_version_num")
        (number,) = cursor.fetchone()
    return text, int(number) // 10000


# --- files ------------------------------------------------------------------------------------------------------


def storage_files(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file name of ``storage``, walking its folders with ``listdir`` (which S3 answers by prefix)."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # a file-system storage nothing has been saved to yet
        return
    for name in sorted(files):
        yield f"{folder}/{name}" if folder else name
    for name in sorted(folders):
        yield from storage_files(storage, f"{folder}/{name}" if folder else name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _same_content(storage: Storage, name: str, member: tarfile.TarFile, info: tarfile.TarInfo) -> bool:
    if storage.size(name) != info.size:
        return False
    ours, theirs = hashlib.sha256(), hashlib.sha256()
    with storage.open(name, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            ours.update(chunk)
    source = member.extractfile(info)
    while chunk := source.read(_CHUNK):
        theirs.update(chunk)
    return ours.digest() == theirs.digest()


def _write_files_tar(storage: Storage, path: Path) -> tuple[int, int]:
    """Stream every stored file into an uncompressed tar (documents and images are compressed already)."""
    count = size = 0
    now = int(timezones.now().timestamp())
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in storage_files(storage):
            info = tarfile.TarInfo(name)
            info.size = storage.size(name)
            info.mtime = now
            info.mode = 0o600
            with storage.open(name, "rb") as handle:
                tar.addfile(info, handle)  # copies in chunks of exactly info.size bytes
            count += 1
            size += info.size
    return count, size


def _backend(storage: Storage) -> str:
    """The storage's class (the configured one behind Django's lazy ``default_storage``)."""
    if storage is default_storage:
        return settings.STORAGES["default"]["BACKEND"]
    return f"{type(storage).__module__}.{type(storage).__qualname__}"


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for info in tar:
        name = PurePosixPath(info.name)
        if not info.isfile() or name.is_absolute() or ".." in name.parts:
            raise BackupError(
                f"files.tar holds an entry Shifa does not write ({info.name!r}): it is not a backup."
            )
        members.append(info)
    return members


# --- keys -------------------------------------------------------------------------------------------------------


def _key_checks(alias: str) -> dict:
    """Evidence of the keys a restored site needs, from which a restore can tell whether it was given the same
    keys, while the keys themselves are never written:

    * for each master key that wraps a data key, a random value wrapped by it, and that value's SHA-256;
    * a random value encrypted with ``FIELD_ENCRYPTION_KEYS`` (authenticator secrets), and its SHA-256;
    * a blind index (``FIELD_BLIND_INDEX_KEY``: national IDs) and a digest (``SECRET_KEY``: recovery codes,
      refresh tokens, invitations) of a fixed value, of the same forms as the database holds many of."""
    from .models import DataKey

    provider = keys.provider()
    master = {}
    for key_id in sorted(set(DataKey.objects.using(alias).values_list("master_key_id", flat=True))):
        probe = secrets.token_bytes(32)
        try:
            wrapped = provider.wrap(key_id, probe)
        except keys.KeyUnavailable:
            continue  # not configured here either: nothing readable depends on it today
        master[key_id] = {
            "wrapped": base64.b64encode(wrapped).decode(),
            "sha256": hashlib.sha256(probe).hexdigest(),
        }
    probe_text = secrets.token_urlsafe(32)
    return {
        "master": master,
        "field_encryption": {
            "token": crypto.encrypt(probe_text),
            "sha256": hashlib.sha256(probe_text.encode()).hexdigest(),
        },
        "blind_index": keys.blind_index(*_KEY_CHECK),
        "secret_key": crypto.digest(*_KEY_CHECK),
    }


def _check_keys(manifest: dict) -> None:
    """Refuse a restore whose configured keys are not the backup's (before anything is written)."""
    checks = manifest.get("keys") or {}
    provider = keys.provider()
    for key_id, check in (checks.get("master") or {}).items():
        try:
            probe = provider.unwrap(key_id, base64.b64decode(check["wrapped"]))
        except keys.KeyUnavailable:
            probe = b""
        if hashlib.sha256(probe).hexdigest() != check["sha256"]:
            raise BackupError(
                f"The master key {key_id!r} of this backup is not among the configured FIELD_MASTER_KEYS: set the "
                "keys from the secret store before restoring, or the encrypted clinical fields cannot be read."
            )
    if check := checks.get("field_encryption"):
        try:
            probe_text = crypto.decrypt(check["token"])
        except InvalidToken:
            probe_text = ""
        if hashlib.sha256(probe_text.encode()).hexdigest() != check["sha256"]:
            raise BackupError(
                "The configured FIELD_ENCRYPTION_KEYS do not include the backup's: set them from the secret store "
                "before restoring, or no one can sign in with an authenticator app."
            )
    if checks.get("blind_index") and checks["blind_index"] != keys.blind_index(*_KEY_CHECK):
        raise BackupError(
            "The configured FIELD_BLIND_INDEX_KEY is not the backup's: set it from the secret store before "
            "restoring, or national IDs cannot be found."
        )
    # A key rotated since the backup was taken still matches as one of SECRET_KEY_FALLBACKS.
    if checks.get("secret_key") and checks["secret_key"] not in crypto.digests(*_KEY_CHECK):
        raise BackupError(
            "Neither SECRET_KEY nor SECRET_KEY_FALLBACKS holds the backup's key: set it from the secret store before "
            "restoring, or recovery codes, refresh tokens and invitations stop working."
        )


# --- backup -----------------------------------------------------------------------------------------------------


def _migrations(alias: str) -> dict[str, str]:
    from django.db.migrations.recorder import MigrationRecorder

    last: dict[str, str] = {}
    for app, name in (
        MigrationRecorder(connections[alias]).migration_qs.order_by("id").values_list("app", "name")
    ):
        last[app] = name
    return dict(sorted(last.items()))


def backup_create(
    folder: Path, *, alias: str = "default", storage: Storage | None = None, say: Say = print
) -> Outcome:
    """Write a new backup folder into ``folder`` and return it with its manifest."""
    storage = storage or default_storage
    connection = connections[alias]
    server_version, server_major = _server(alias)
    tools = postgres_tools(server_major)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = timezones.now()
    name = PREFIX + started.strftime("%Y%m%dT%H%M%SZ")
    final = folder / name
    if final.exists():
        raise BackupError(f"{final} exists already: wait a second and run the backup again.")
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=folder))
    try:
        say(
            f"Dumping database {connection.settings_dict['NAME']} (PostgreSQL {server_version}) with {tools.pg_dump}"
        )
        # The dump is taken first: a file saved while the files are copied is then at worst one nobody refers to.
        _run(
            [tools.pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={work / DUMP}"],
            _libpq_env(connection.settings_dict),
            "pg_dump",
        )
        say("Copying the stored files")
        count, size = _write_files_tar(storage, work / FILES)
        manifest = {
            "format": FORMAT,
            "created_at": timezones.isoformat_z(started),
            "shifa_version": importlib.metadata.version("shifa"),
            "database": {
                "name": connection.settings_dict["NAME"],
                "server_version": server_version,
                "server_major": server_major,
                "pg_dump_major": tools.major,
                "migrations": _migrations(alias),
            },
            "files": {"count": count, "bytes": size, "storage": _backend(storage)},
            "sha256": {DUMP: _sha256(work / DUMP), FILES: _sha256(work / FILES)},
            "keys_included": False,
            "keys": _key_checks(alias),
        }
        with (work / MANIFEST).open("w") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
        for part in (DUMP, FILES, MANIFEST):
            (work / part).chmod(0o600)  # patients' data, even sealed: for the operator's eyes only
            with (work / part).open("rb") as handle:
                os.fsync(handle.fileno())
        work.chmod(0o700)
        work.rename(final)
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # the rename itself reaches the disk
        finally:
            os.close(descriptor)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Outcome(path=final, manifest=manifest)


# --- restore ----------------------------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict:
    """The manifest of the backup folder ``source``, once both files match their checksums."""
    source = Path(source)
    if not (source / MANIFEST).is_file():
        inside = (
            sorted(p.name for p in source.glob(PREFIX + "*") if (p / MANIFEST).is_file())
            if source.is_dir()
            else []
        )
        hint = f" (it holds backups: name one of them, the newest is {inside[-1]})" if inside else ""
        raise BackupError(f"There is no Shifa backup at {source}: {MANIFEST} is missing{hint}.")
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except ValueError:
        raise BackupError(f"{source / MANIFEST} is not valid JSON: the backup is damaged.")
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{source} is a backup of format {manifest.get('format')!r}, which this Shifa cannot read."
        )
    for part in (DUMP, FILES):
        if not (source / part).is_file():
            raise BackupError(f"{source / part} is missing: the backup is incomplete.")
        if _sha256(source / part) != manifest.get("sha256", {}).get(part):
            raise BackupError(
                f"{source / part} does not match its checksum in the manifest: the backup is damaged."
            )
    return manifest


def _check_migrations(manifest: dict) -> None:
    """Refuse a backup made by a newer Shifa: this code could not migrate, nor read, what it does not know."""
    from django.db.migrations.loader import MigrationLoader

    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = [
        f"{app}.{name}"
        for app, name in manifest["database"]["migrations"].items()
        if (app, name) not in known and app in {a for a, _ in known}
    ]
    if unknown:
        raise BackupError(
            f"The backup was made by a newer Shifa ({manifest.get('shifa_version')}: migration {unknown[0]} is "
            "unknown here); restore it with that version."
        )


def _relations(alias: str, kinds: str = "rpvmSf") -> int:
    """How many relations of ``kinds`` (``pg_class.relkind``: tables, views, sequences …) the database holds outside
    PostgreSQL's own schemas."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = ANY(%s) "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'",
            [list(kinds)],
        )
        return cursor.fetchone()[0]


def backup_restore(
    source: Path,
    *,
    alias: str = "default",
    storage: Storage | None = None,
    check_keys: bool = True,
    say: Say = print,
) -> Outcome:
    """Restore the backup folder ``source`` into the (empty) database ``alias`` and the storage."""
    storage = storage or default_storage
    source = Path(source)
    connection = connections[alias]
    database = connection.settings_dict["NAME"]
    manifest = read_manifest(source)
    say(f"Backup of {manifest['created_at']} by Shifa {manifest.get('shifa_version')}: checksums match")
    if check_keys:
        _check_keys(manifest)
        say("The configured keys are the backup's")
    _check_migrations(manifest)
    server_version, server_major = _server(alias)
    if server_major < manifest["database"]["server_major"]:
        raise BackupError(
            f"The backup comes from PostgreSQL {manifest['database']['server_version']} and this server is "
            f"{server_version}: restore into PostgreSQL {manifest['database']['server_major']} or newer."
        )
    relations = _relations(alias)
    if relations:
        raise BackupError(
            f"The database {database} is not empty (tables: {_relations(alias, 'rp')}, other relations: "
            f"{relations - _relations(alias, 'rp')}): restore only into an empty database "
            f"(for example: createdb {database}_restored, then point DATABASE_URL at it)."
        )
    tools = postgres_tools(max(server_major, manifest["database"]["pg_dump_major"]))
    with tarfile.open(source / FILES, "r:") as tar:
        members = _members(tar)
        present: set[str] = set()
        for info in members:
            if storage.exists(info.name):
                if not _same_content(storage, info.name, tar, info):
                    raise BackupError(
                        f"The stored file {info.name} exists with other content: restore into empty storage."
                    )
                present.add(info.name)
        say(f"Loading {DUMP} into {database} (PostgreSQL {server_version}) with {tools.pg_restore}")
        env = _libpq_env(connection.settings_dict)
        connection.close()  # nothing of ours holds the database while it is loaded
        _run(
            [
                tools.pg_restore,
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                f"--dbname={env['PGDATABASE']}",
                str(source / DUMP),
            ],
            env,
            "pg_restore",
        )
        say(f"Writing {len(members) - len(present)} files to the storage")
        restored = 0
        for info in members:
            if info.name in present:
                continue
            saved = storage.save(info.name, File(tar.extractfile(info), name=info.name))
            if saved != info.name:
                raise BackupError(f"The storage saved {info.name} as {saved}: it was written meanwhile.")
            restored += 1
    return Outcome(
        path=source,
        manifest=manifest,
        restored_files=restored,
        present_files=len(present),
        tables=_relations(alias, "rp"),
    )
