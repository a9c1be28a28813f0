"""The `brm` command: serve the app, migrate, manage users, verify the audit trail, load demo data."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from brm_app.settings import Settings

app = typer.Typer(help="BrokerSync BRM", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database migrations", no_args_is_help=True)
users_app = typer.Typer(help="User accounts", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(demo_app, name="demo")
import_app = typer.Typer(help="Import firms or traders from CSV files", no_args_is_help=True)
app.add_typer(import_app, name="import")
keys_app = typer.Typer(help="Encryption keys (encryption at rest)", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
export_app = typer.Typer(help="Regulator export archives", no_args_is_help=True)
app.add_typer(export_app, name="export")


@app.callback()
def _wire() -> None:
    """Before any command: the same record rules and merge hooks as the app."""
    from brm_app.bootstrap import wire

    wire()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    from brm_app.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None


def _schema_ready() -> None:
    """The database is at head and the key ring opens what it holds (a command writing with
    another ring would leave values no one key ring opens)."""
    from brm_app.db import get_engine
    from brm_app.encryption.keyring import KeyError_
    from brm_app.migrations import current_revision, head_revision, record_key_check

    if current_revision(get_engine()) != head_revision():
        raise _fail("the database is not migrated: run `brm db upgrade` first", 2)
    try:
        record_key_check(_settings().database_url)
    except KeyError_ as exc:
        raise _fail(f"encryption keys: {exc}", 2) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (safe to run at each deploy)."""
    import sqlalchemy as sa

    from brm_app.encryption.keyring import KeyError_
    from brm_app.migrations import upgrade_head

    settings = _settings()
    try:
        upgrade_head(settings.database_url)
    except sa.exc.OperationalError as exc:
        raise _fail(
            f"cannot reach the database ({settings.describe()['database_url']}): {exc.orig}", 2
        ) from None
    except KeyError_ as exc:
        raise _fail(f"encryption keys: {exc}", 2) from None
    typer.echo(f"database at head ({settings.describe()['database_url']})")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision and the code's head revision."""
    from brm_app.db import get_engine
    from brm_app.migrations import current_revision, head_revision

    _settings()
    typer.echo(f"current: {current_revision(get_engine())}  head: {head_revision()}")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email")],
    role: Annotated[str, typer.Option(help="admin, compliance, manager, broker or trader")],
    name: Annotated[str, typer.Option(help="Full name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user; without --password-stdin a random password is generated and printed once."""
    from pydantic import ValidationError

    from brm_app.auth.actor import SystemActor
    from brm_app.db import unit_of_work
    from brm_app.models.user import UserCreate
    from brm_app.services import users
    from brm_app.services.errors import DomainError
    from brm_app.services.validation import pydantic_errors

    _settings()
    _schema_ready()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        data = UserCreate(email=email, role=role.strip().lower(), name=name, password=password)
    except ValidationError as exc:
        errs = pydantic_errors(exc)
        raise _fail("; ".join(f"{k}: {v}" for k, v in errs.items()), 2) from None
    try:
        with unit_of_work(write=True) as db:
            created = users.create_user(db, actor=SystemActor(label="system:cli"), data=data)
    except DomainError as exc:
        raise _fail(exc.message, 2) from None
    typer.echo(
        f"created {created.user.role.value} {created.user.email} (id {created.user.user_id})"
    )
    if created.initial_password:
        typer.echo(f"initial password (shown once): {created.initial_password}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; name the first event that was altered, removed or reordered."""
    from brm_app.db import unit_of_work
    from brm_app.services.audit import verify_chain
    from brm_app.services.communication_log import verify_log

    _settings()
    _schema_ready()
    with unit_of_work() as db:
        report = verify_chain(db)
        # The communication log's entries are vouched for by hashes inside the chain.
        log_report = verify_log(db) if report.ok else None
    if report.ok and log_report is not None and log_report.ok:
        typer.echo(f"audit trail intact: {report.events} events, head hash {report.head_hash}")
        typer.echo(f"communication log intact: {log_report.entries} entries")
        return
    if not report.ok:
        typer.secho(f"audit trail BROKEN: {report.problem}", fg=typer.colors.RED, err=True)
        typer.echo(f"{report.events} events verified before the break", err=True)
    elif log_report is not None:
        typer.secho(
            f"communication log BROKEN: {log_report.problem}", fg=typer.colors.RED, err=True
        )
        typer.echo(f"{log_report.entries} entries verified before the break", err=True)
    raise typer.Exit(1)


@export_app.command("verify")
def export_verify(
    archive: Path = typer.Argument(..., help="A downloaded regulator export zip"),
) -> None:
    """Recompute every file's SHA-256 against the archive's manifest; name what does not match."""
    from brm_app.services.regulator_export import verify_archive

    result = verify_archive(archive)
    if result.ok:
        typer.echo(f"archive intact: {result.files} files match the manifest")
        return
    for problem in result.problems:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@demo_app.command("load")
def demo_load(
    firms: Annotated[
        int, typer.Option(min=0, help="Also bulk-load this many synthetic firms (fast path)")
    ] = 0,
    traders_per_firm: Annotated[
        int, typer.Option(min=0, max=500, help="Traders per synthetic firm, on average")
    ] = 5,
    brokers: Annotated[
        int | None,
        typer.Option(min=1, help="Broker pool for coverage (default: one per 200 firms, min 3)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 1,
) -> None:
    """Load the demo users (and, as they exist, demo firms and activity). Safe to run twice.

    With --firms N, also add N synthetic firms with their traders and coverage in bulk."""
    import time

    from brm_app.db import unit_of_work
    from brm_app.services import demo
    from brm_app.services import seed as bulk

    settings = _settings()
    _schema_ready()
    with unit_of_work(write=True) as db:
        result = demo.load(db, credentials_file=settings.data_dir / "demo-credentials.txt")
    _print_demo(result)
    if not firms:
        return
    plan = bulk.SeedPlan(firms=firms, traders_per_firm=traders_per_firm, brokers=brokers, seed=seed)
    typer.echo(f"bulk-loading {firms} firms, ~{firms * traders_per_firm} traders ...")
    started = time.perf_counter()
    with unit_of_work(write=True) as db:
        loaded = bulk.bulk_load(
            db,
            plan,
            progress=lambda done, total: typer.echo(f"  {done}/{total} firms", err=True),
        )
    seconds = time.perf_counter() - started
    typer.echo(
        f"loaded {loaded.firms} firms (ids {loaded.first_firm_id}-{loaded.last_firm_id}), "
        f"{loaded.traders} traders, {loaded.coverage} coverage rows over {loaded.brokers} brokers "
        f"in {seconds:.1f} s (search index: {loaded.search_index})"
    )
    if loaded.brokers_created:
        typer.echo(
            f"{loaded.brokers_created} brokers created (@{bulk.SEED_BROKER_DOMAIN}); "
            f"their password (shown once): {loaded.broker_password}"
        )


def _print_demo(result) -> None:
    if result.created:
        typer.echo(f"demo accounts created: {', '.join(result.created)}")
        if result.firms:
            typer.echo(f"demo book: {result.firms} firms with {result.traders} traders")
        typer.echo(f"demo password (all demo accounts, shown once): {result.password}")
    if result.skipped:
        typer.echo(f"demo accounts already present: {', '.join(result.skipped)}")


AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Import as this user (email); default: the system itself"),
]
PrimaryBrokerOption = Annotated[
    str | None,
    typer.Option("--primary-broker", help="Primary broker (email) of firms whose row names none"),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing")]
FileArgument = Annotated[Path, typer.Argument(help="The CSV file (header row first)")]


def _run_import(
    kind: str, file: Path, as_email: str | None, primary_broker: str | None, dry_run: bool
) -> None:
    """Exit 0: every row imported; 1: some rows rejected; 2: the input is unusable."""
    from sqlmodel import select

    from brm_app.auth.actor import SystemActor
    from brm_app.db import unit_of_work
    from brm_app.models.user import User, email_index
    from brm_app.services import bulk
    from brm_app.services.authentication import actor_of
    from brm_app.services.errors import DomainError, NotAuthenticated

    _settings()
    _schema_ready()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}", 2) from None
    email = as_email.strip().lower() if as_email else None

    def actor_for(db):
        if email is None:
            return SystemActor(label="system:cli")
        user = db.exec(select(User).where(User.email_bidx == email_index(email))).first()
        if user is None or not user.is_active:
            raise NotAuthenticated(f"no active user with the email {as_email}")
        return actor_of(user, ip=None)

    try:
        csv_file = bulk.parse(data, limited=False)  # no upload limits on the server
        mapping = bulk.suggest_mapping(csv_file.header, kind)
        broker_id = None
        if primary_broker:
            with unit_of_work() as db:
                broker_id = bulk.active_broker_id(db, primary_broker)
            if broker_id is None:
                raise _fail(
                    f"--primary-broker: no active broker with the email {primary_broker}", 2
                )
        ignored = [
            h or f"column {i + 1}"
            for i, (h, f) in enumerate(zip(csv_file.header, mapping, strict=True))
            if not f
        ]
        if ignored:
            typer.echo(f"ignored columns: {', '.join(ignored)}", err=True)
        report = bulk.import_csv(
            csv_file,
            kind=kind,
            mapping=mapping,
            actor_for=actor_for,
            default_primary_broker_id=broker_id,
            dry_run=dry_run,
        )
    except DomainError as exc:
        raise _fail(f"{file}: {exc.message}", 2) from None
    typer.echo(report.summary())
    for issue in report.issues:
        typer.echo(str(issue))
    if report.rejected or report.stopped:
        raise typer.Exit(1)


@import_app.command("firms")
def import_firms(
    file: FileArgument,
    as_email: AsOption = None,
    primary_broker: PrimaryBrokerOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Import firms (columns: name, lei, street, city, postal_code, country, phone, email, website,
    account_status, tier, notes, primary_broker_email, secondary_broker_emails)."""
    _run_import("firms", file, as_email, primary_broker, dry_run)


@import_app.command("traders")
def import_traders(
    file: FileArgument,
    as_email: AsOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Import traders (columns: firm_name or firm_lei, name, email, phone, role, permissions,
    status)."""
    _run_import("traders", file, as_email, None, dry_run)


@app.command("backup")
def backup(
    to: Annotated[
        Path | None,
        typer.Option(help="Folder for the backup files (default: BRM_DATA_DIR/backups)"),
    ] = None,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Keep only this many newest backups in the folder")
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(min=1, help="Minutes between backups: keep running, one backup each time"),
    ] = None,
) -> None:
    """Back up the database (consistent while the app serves) and the attachments into one file,
    with a manifest (checksums, row counts, audit chain head). Keys are never in it."""
    import time

    from brm_app.backup import BackupError, create_backup, prune

    settings = _settings()
    _schema_ready()
    folder = (to or settings.data_dir / "backups").resolve()
    while True:
        try:
            path = create_backup(settings, folder)
        except BackupError as exc:
            if every is None:
                raise _fail(str(exc), 1) from None
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        else:
            typer.echo(f"backup written: {path} ({path.stat().st_size} bytes)")
            for old in prune(folder, keep) if keep else []:
                typer.echo(f"removed old backup {old.name}")
        if every is None:
            return
        time.sleep(every * 60)


@app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A backup file written by `brm backup`")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a database that has tables (stop the app first)"),
    ] = False,
) -> None:
    """Restore a backup into the configured database and data folder (empty ones, unless --force),
    then compare row counts and the audit chain head with the backup's manifest."""
    from brm_app.backup import BackupError, restore_backup

    settings = _settings()
    if not file.is_file():
        raise _fail(f"no such file: {file}", 2)
    try:
        report = restore_backup(settings, file, force=force, say=typer.echo)
    except BackupError as exc:
        raise _fail(str(exc), 1) from None
    m = report.manifest
    typer.echo(
        f"restored the backup of {m['created_at']} (revision {m['revision']}): "
        f"{sum(report.snapshot.counts.values())} rows in {len(report.snapshot.counts)} tables, "
        f"audit head #{report.snapshot.audit_seq} {report.snapshot.audit_head[:16]}"
    )
    if not report.key_matches:
        typer.secho(
            "warning: BRM_SECRET_KEY differs from the one in use when the backup was taken: "
            "two-factor secrets and signed links will not work until the same key is set",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not report.matches:
        raise _fail("the restored database does not match the backup's manifest", 1)
    typer.echo("matches the manifest; run `brm db upgrade` if this code is newer than the backup")


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Re-encrypt every value with a new key, online and resumable. With a keys file (SQLite,
    BRM_ENCRYPTION_KEYS unset) a new key is added to it first, unless the last rotation was
    interrupted (then it goes on); with BRM_ENCRYPTION_KEYS, add the new key at its end on every
    server and restart them first."""
    import sqlalchemy as sa

    from brm_app.db import unit_of_work
    from brm_app.encryption import get_keyring
    from brm_app.encryption.keyring import KeyError_, append_key_file
    from brm_app.models.encryption import KeyRotation
    from brm_app.services import key_rotation

    _settings()
    _schema_ready()
    ring = get_keyring()
    progress = KeyRotation.__table__  # type: ignore[attr-defined]
    with unit_of_work() as db:
        unfinished = (
            db.connection()
            .execute(
                sa.select(progress.c.kid).where(
                    progress.c.kid == ring.current, progress.c.done.is_(False)
                )
            )
            .first()
        )
    if ring.source_file is not None and unfinished is None:
        kid = append_key_file(ring.source_file)
        typer.echo(f"new key {kid} added to {ring.source_file}")
    try:
        report = key_rotation.rotate(batch=batch, progress=typer.echo)
    except KeyError_ as exc:
        raise _fail(f"encryption keys: {exc}", 2) from None
    typer.echo(
        f"every value is now under key {report.kid} ({sum(report.rewritten.values())} "
        f"re-encrypted in {report.passes} pass(es)); retired: {', '.join(report.retired) or '-'}"
    )


@keys_app.command("encrypt-files")
def keys_encrypt_files() -> None:
    """Encrypt the data folder's files still in clear (attachments, kept uploads, exports,
    backups there, from before encryption at rest). Every start does it too; idempotent."""
    from brm_app.encryption.keyring import KeyError_
    from brm_app.migrations import encrypt_files

    _settings()
    try:
        done = encrypt_files()
    except KeyError_ as exc:
        raise _fail(f"encryption keys: {exc}", 2) from None
    typer.echo(f"{done} file(s) encrypted; none left in clear")


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (secrets masked)."""
    for key, value in _settings().describe().items():
        typer.echo(f"{key:24} {value}")


def prepare(settings) -> None:
    """Migrate, then on an empty database create the first admin and load demo data."""
    import sqlalchemy as sa

    from brm_app.db import unit_of_work
    from brm_app.encryption.keyring import KeyError_
    from brm_app.migrations import upgrade_head
    from brm_app.services import first_start
    from brm_app.services.errors import DomainError

    try:
        upgrade_head(settings.database_url)  # and the key check (encryption/check.py)
    except sa.exc.OperationalError as exc:
        raise _fail(
            f"cannot reach the database ({settings.describe()['database_url']}): {exc.orig}", 2
        ) from None
    except KeyError_ as exc:
        raise _fail(f"encryption keys: {exc}", 2) from None
    try:
        with unit_of_work(write=True) as db:
            report = first_start.initialize(db, settings=settings)
    except DomainError as exc:
        raise _fail(
            f"first start failed: {exc.message} (check BRM_ADMIN_EMAIL / BRM_ADMIN_PASSWORD)", 2
        ) from None
    if report is None:
        return
    typer.echo("=" * 72)
    typer.echo(f"First start: admin account {report.admin.email}")
    if report.admin.generated_password:
        typer.echo(
            f"Admin password (shown once, change it after signing in): {report.admin.generated_password}"
        )
    else:
        typer.echo("Admin password: the one in BRM_ADMIN_PASSWORD")
    if report.demo is not None:
        _print_demo(report.demo)
    typer.echo("=" * 72)


@app.command("setup")
def setup() -> None:
    """Migrate; on an empty database create the first admin and the demo data. (`serve` does this too.)"""
    prepare(_settings())
    typer.echo("ready")


@app.command("serve")
def serve(
    dev: Annotated[
        bool, typer.Option(help="Reflex dev mode (hot reload) instead of production")
    ] = False,
    prebuilt: Annotated[
        bool,
        typer.Option(
            help="Serve a frontend built beforehand (REFLEX_WEB_WORKDIR) with granian: no build "
            "at start, TLS with BRM_TLS_CERT/BRM_TLS_KEY (the container image does this)"
        ),
    ] = False,
) -> None:
    """Prepare the database and serve the production build on BRM_PORT (default 3000)."""
    from brm_app.observability.metrics import MULTIPROC_ENV
    from brm_app.runtime import fresh_metrics_dir, port_is_free, reflex_command, reflex_env
    from brm_app.settings import PROJECT_ROOT

    settings = _settings()
    if not dev and not port_is_free(settings.port):
        raise _fail(f"port {settings.port} is in use: stop what uses it or set BRM_PORT", 2)
    prepare(settings)
    scheme = "https" if os.environ.get("BRM_TLS_CERT") and prebuilt else "http"
    typer.echo(
        f"BrokerSync BRM starting on {scheme}://localhost:{settings.port}/"
        + ("" if prebuilt else " (first build takes ~10 s)")
    )
    os.chdir(PROJECT_ROOT)
    # The workers' metric files: PROMETHEUS_MULTIPROC_DIR when set (one per server), else data/.
    metrics_dir = Path(os.environ.get(MULTIPROC_ENV) or settings.data_dir / "metrics")
    if prebuilt:
        from brm_app.runtime import prebuilt_command, prebuilt_env

        try:
            cmd = prebuilt_command(settings, workers=int(os.environ.get("GRANIAN_WORKERS", "1")))
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
        env = prebuilt_env(settings)
        env[MULTIPROC_ENV] = str(fresh_metrics_dir(metrics_dir))
        os.execvpe(cmd[0], cmd, env)  # noqa: S606  (replaces this process)
    cmd = reflex_command(settings.port, dev=dev)
    env = reflex_env(settings)
    env[MULTIPROC_ENV] = str(fresh_metrics_dir(metrics_dir))
    os.execvpe(cmd[0], cmd, env)  # noqa: S606  (replaces this process)


@app.command("worker")
def worker() -> None:
    """Run the background jobs (reminders, email and SMS, overdue escalations) in this process.

    For larger installs: start one or more beside `brm serve` and set BRM_JOBS_IN_PROCESS=0 for
    the app. Same guarantees as in the app: each job and reminder is taken by one runner."""
    import asyncio
    import logging

    from brm_app.jobs.kinds import build_runner
    from brm_app.live import forget_stale_tabs

    _settings()
    _schema_ready()
    from brm_app.observability.logs import formatter

    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    typer.echo("brm worker: running background jobs (Ctrl+C stops)")
    asyncio.run(build_runner(chores=[forget_stale_tabs]).run_forever())


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
