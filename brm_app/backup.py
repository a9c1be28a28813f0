"""`brm backup` and `brm restore`: a consistent copy of the database and the attachments, taken
while the app serves, with a manifest to check a restore against.

One backup is one tar file, encrypted (brm_app/encryption/files.py: AES-256-GCM in chunks under a
data key wrapped by the key ring's newest key; `brm-backup-<time>.tar.enc`):
  manifest.json    when, the app version, the database backend and migration revision, the row
                   count of every table and the audit chain's head (seq and hash) as of the copy,
                   and the SHA-256 of every other file in the archive
  database.sqlite  SQLite: the online backup API's copy (a consistent snapshot while writers run)
  database.pgdump  PostgreSQL: `pg_dump --format=custom` of an exported snapshot; the counts and
                   the chain head are read in that same snapshot
  attachments/...  the message attachments, copied after the snapshot (so every row has its file)

The secret key (BRM_SECRET_KEY or data/secret_key) is never written into a backup: two-factor
secrets in it are encrypted with that key, so keep the key apart, in the secret store you use for
the environment. The manifest holds a fingerprint of the key (a hash, not the key) so a restore
can say when the key differs. Nor is the key ring (BRM_ENCRYPTION_KEYS or data/encryption_keys):
the backup, its attachments and the database's sensitive columns are encrypted with it, so it is
kept apart too, and a restore needs it in place first (restore refuses otherwise, saying so).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from brm_app import __version__
from brm_app.encryption import files as sealed_files
from brm_app.encryption.keyring import KeyRing
from brm_app.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1
PREFIX = "brm-backup-"
BACKUP_NAME = "brm-backup"  # the associated data's name (a backup file may be renamed)


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    audit_seq: int
    audit_head: str
    revision: str | None


def key_fingerprint(secret_key: str) -> str:
    return hashlib.sha256(b"brm-key-fingerprint:" + secret_key.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_of(conn: sa.Connection) -> Snapshot:
    """Row counts of every table, the audit chain head and the revision, as this connection sees
    the database (one transaction: one moment)."""
    inspector = sa.inspect(conn)
    counts = {}
    for table in sorted(inspector.get_table_names()):
        query = sa.select(sa.func.count()).select_from(sa.table(table))
        counts[table] = int(conn.execute(query).scalar_one())
    head = None
    if "audit_events" in counts:
        head = conn.exec_driver_sql(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).first()
    revision = None
    if "alembic_version" in counts:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return Snapshot(
        counts=counts,
        audit_seq=int(head[0]) if head else 0,
        audit_head=head[1] if head else "0" * 64,
        revision=revision,
    )


def _pg_tool(name: str, args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    """Run pg_dump or pg_restore against `url`; the password goes in the environment, never on
    a command line (which every local user can read)."""
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(
            f"{name} not found: install PostgreSQL's client tools (postgresql-client)"
        )
    parsed = sa.engine.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string()
    return subprocess.run(  # noqa: S603  (a fixed tool; arguments are ours, not a shell)
        [exe, *args, f"--dbname={libpq}"], capture_output=True, text=True, check=False, env=env
    )


def _sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"not a SQLite file: {url}")
    return Path(database)


def _copy_sqlite(url: str, dest: Path) -> Snapshot:
    src = sqlite3.connect(str(_sqlite_path(url)), timeout=30)
    try:
        out = sqlite3.connect(str(dest))
        try:
            # In one step: a read transaction, so the copy is one moment while writers go on (WAL).
            # (Step by step, each commit of another connection would restart the copy.)
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    engine = sa.create_engine(f"sqlite:///{dest}")
    try:
        with engine.connect() as conn:
            return snapshot_of(conn)
    finally:
        engine.dispose()


def _dump_postgres(url: str, dest: Path) -> Snapshot:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                snap = snapshot_of(conn)
                # The dump reads the very snapshot the counts were taken in (held open until then).
                done = _pg_tool(
                    "pg_dump",
                    [
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot_id}",
                        f"--file={dest}",
                    ],
                    url,
                )
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
        return snap
    finally:
        engine.dispose()


def create_backup(settings: Settings, target_dir: Path) -> Path:
    """Write one backup file into `target_dir` and answer its path."""
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = target_dir / f"{PREFIX}{stamp}.tar.enc"
    with tempfile.TemporaryDirectory(prefix="brm-backup-", dir=target_dir) as work_name:
        work = Path(work_name)
        if settings.is_sqlite:
            db_file = work / "database.sqlite"
            snap = _copy_sqlite(settings.database_url, db_file)
        else:
            db_file = work / "database.pgdump"
            snap = _dump_postgres(settings.database_url, db_file)
        files = {db_file.name: _sha256(db_file)}
        attachments = settings.data_dir / "attachments"
        copied: list[tuple[Path, str]] = []
        if attachments.is_dir():
            for path in sorted(attachments.rglob("*")):
                if path.is_file():
                    name = "attachments/" + path.relative_to(attachments).as_posix()
                    copied.append((path, name))
                    files[name] = _sha256(path)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app_version": __version__,
            "backend": "sqlite" if settings.is_sqlite else "postgresql",
            "revision": snap.revision,
            "counts": snap.counts,
            "audit": {"events": snap.audit_seq, "head_hash": snap.audit_head},
            "key_fingerprint": key_fingerprint(settings.secret_key),
            "files": files,
        }
        # The tar is written straight into its encrypted file (no copy of it in clear).
        partial = work / "backup.tar.enc"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(fd, "wb") as out,
            sealed_files.SealingWriter(
                out, role=sealed_files.BACKUP, name=BACKUP_NAME, ring=_ring(settings)
            ) as sealed,
            tarfile.open(fileobj=sealed, mode="w|") as tar,  # type: ignore[call-overload]
        ):
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(db_file, arcname=db_file.name)
            for path, name in copied:
                tar.add(path, arcname=name)
        os.replace(partial, final)
    return final


def _ring(settings: Settings, *, restoring: bool = False) -> KeyRing:
    """The key ring of `settings`. On SQLite without BRM_ENCRYPTION_KEYS, the keys file must be
    there already when restoring (a new one would not open the backup)."""
    from brm_app.encryption.keyring import keys_file, load_ring

    if restoring and settings.is_sqlite and not settings.encryption_keys:
        path = keys_file(settings.data_dir)
        if not path.exists():
            raise BackupError(
                "the backup is encrypted with the key ring, which is never in a backup: copy the "
                f"keys file (encryption_keys) of the data folder it came from to {path}, or set "
                "BRM_ENCRYPTION_KEYS, then restore again"
            )
    return load_ring(
        configured=settings.encryption_keys,
        data_dir=settings.data_dir,
        shared_database=not settings.is_sqlite,
        secret_key=settings.secret_key,
    )


def decrypt_backup(settings: Settings, archive: Path, dest: Path) -> Path:
    """The tar inside the backup file `archive`, decrypted into `dest` (a backup written before
    backups were encrypted is the tar itself: answered as it is)."""
    with open(archive, "rb") as src:
        if not sealed_files.is_sealed(src.read(len(sealed_files.MAGIC))):
            return archive
        src.seek(0)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as dst:
            try:
                sealed_files.open_stream(
                    src,
                    dst,
                    role=sealed_files.BACKUP,
                    name=BACKUP_NAME,
                    ring=_ring(settings, restoring=True),
                )
            except sealed_files.UndecryptableFile as exc:
                raise BackupError(f"the backup does not decrypt: {exc}") from None
    return dest


def prune(target_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups of the folder; answer the removed ones."""
    backups = sorted(
        [*target_dir.glob(f"{PREFIX}*.tar"), *target_dir.glob(f"{PREFIX}*.tar.enc")],
        key=lambda p: p.name.removesuffix(".enc"),
    )
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
    except KeyError:
        member = None
    if member is None:
        raise BackupError("not a BrokerSync backup: no manifest.json inside")
    manifest: dict[str, Any] = json.load(member)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not supported")
    return manifest


def _safe_members(tar: tarfile.TarFile, manifest: dict[str, Any]) -> list[tarfile.TarInfo]:
    """Only the files the manifest lists, as regular files with plain relative names."""
    listed = set(manifest["files"])
    members = []
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name not in listed or not member.isfile():
            raise BackupError(f"unexpected entry in the backup: {member.name!r}")
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise BackupError(f"unsafe path in the backup: {member.name!r}")
        members.append(member)
    missing = listed - {m.name for m in members}
    if missing:
        raise BackupError(f"files missing from the backup: {', '.join(sorted(missing))}")
    return members


def _database_in_use(settings: Settings) -> bool:
    """True when the target database already holds the app's tables."""
    if settings.is_sqlite:
        path = _sqlite_path(settings.database_url)
        if not path.exists() or path.stat().st_size == 0:
            return False
    engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return len(sa.inspect(conn).get_table_names()) > 0
    finally:
        engine.dispose()


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    snapshot: Snapshot
    key_matches: bool

    @property
    def matches(self) -> bool:
        m = self.manifest
        return bool(
            self.snapshot.counts == m["counts"]
            and self.snapshot.audit_head == m["audit"]["head_hash"]
            and self.snapshot.audit_seq == m["audit"]["events"]
        )


def restore_backup(
    settings: Settings, archive: Path, *, force: bool, say: Callable[[str], None] = print
) -> RestoreReport:
    """Restore `archive` into the configured database and data folder. Refuses a database that
    already has tables, or an attachments folder with files, unless `force`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="brm-restore-", dir=settings.data_dir) as wd:
        work = Path(wd)
        tar_path = decrypt_backup(settings, archive, work / "backup.tar")
        report = _restore_tar(settings, tar_path, work, force=force, say=say)
    return report


def _restore_tar(
    settings: Settings, archive: Path, work: Path, *, force: bool, say: Callable[[str], None]
) -> RestoreReport:
    with tarfile.open(archive, "r") as tar:
        manifest = read_manifest(tar)
        backend = "sqlite" if settings.is_sqlite else "postgresql"
        if manifest["backend"] != backend:
            raise BackupError(
                f"this backup is of a {manifest['backend']} database; "
                f"BRM_DATABASE_URL points at {backend}"
            )
        attachments = settings.data_dir / "attachments"
        if not force:
            if _database_in_use(settings):
                raise BackupError(
                    "the target database is not empty (a live installation?): restore into an "
                    "empty database, or pass --force to replace it (stop the app first)"
                )
            if attachments.is_dir() and any(p.is_file() for p in attachments.rglob("*")):
                raise BackupError(f"{attachments} has files: pass --force to replace them")
        members = _safe_members(tar, manifest)
        work = work / "files"
        work.mkdir()
        tar.extractall(work, members=members, filter="data")
        for name, digest in manifest["files"].items():
            if _sha256(work / name) != digest:
                raise BackupError(f"{name} does not match its checksum: the file is damaged")
        say(f"checksums ok ({len(manifest['files'])} files)")
        if backend == "sqlite":
            _restore_sqlite(settings, work / "database.sqlite")
        else:
            _restore_postgres(settings, work / "database.pgdump", clean=force)
        if (work / "attachments").is_dir():
            if attachments.exists():
                shutil.rmtree(attachments)
            shutil.move(str(work / "attachments"), attachments)
    engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            snap = snapshot_of(conn)
    finally:
        engine.dispose()
    return RestoreReport(
        manifest=manifest,
        snapshot=snap,
        key_matches=manifest.get("key_fingerprint") == key_fingerprint(settings.secret_key),
    )


def _restore_sqlite(settings: Settings, copy: Path) -> None:
    target = _sqlite_path(settings.database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, staged)
    os.replace(staged, target)


def _restore_postgres(settings: Settings, dump: Path, *, clean: bool) -> None:
    args = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    done = _pg_tool("pg_restore", [*args, str(dump)], settings.database_url)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()[-2000:]}")
