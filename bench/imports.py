"""Bulk import scenarios: a brokerage moving in brings its book (import_firms_100k, then
import_traders_500k), imported by `brm import` into the database the running app serves, while
wrk asks the app for `api_me` (another user being answered meanwhile).

Sizes: BENCH_IMPORT_FIRMS (default 100,000) and BENCH_IMPORT_TRADERS_PER_FIRM (default 5);
BENCH_IMPORT_CONNECTIONS (default 1): wrk's connections during the import.
BENCH_IMPORT_CODE: a folder holding another `brm_app` (say, an older commit's, from `git archive`)
that the `brm import` command runs instead of this checkout's, to compare before and after.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import dataset as ds
from bench import import_files
from bench.load import Background, Figures, LoadSettings

# The figures the scenarios are held to (the targets).
MIN_ROWS_PER_S = 2500.0
API_ME_P95_MS = 100.0


def firms_count() -> int:
    return int(os.environ.get("BENCH_IMPORT_FIRMS") or 100_000)


def traders_per_firm() -> int:
    return int(os.environ.get("BENCH_IMPORT_TRADERS_PER_FIRM") or 5)


def connections() -> int:
    return int(os.environ.get("BENCH_IMPORT_CONNECTIONS") or 1)


@dataclass(frozen=True)
class ImportFigures:
    kind: str
    rows: int
    imported: int
    rejected: int
    seconds: float
    cpu_seconds: float
    api_me: Figures
    exit_code: int
    audited: int
    searchable: bool

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def lines(self, name: str) -> list[str]:
        yes = {True: "yes", False: "no"}
        me = self.api_me
        return [
            f"BENCH {name} rows={self.rows} imported={self.imported} rejected={self.rejected} "
            f"seconds={self.seconds:.1f} rows_per_s={self.rows_per_s:.0f} "
            f"cpu_seconds={self.cpu_seconds:.1f}",
            f"BENCH {name}:api_me@c{connections()} n={me.requests} p50_ms={me.p50_ms:.2f} "
            f"p95_ms={me.p95_ms:.2f} rps={me.rps:.1f}",
            f"RATIO {name} vs=none targets=rows_per_s>={MIN_ROWS_PER_S:g},"
            f"api_me_p95<{API_ME_P95_MS:g}ms "
            f"rows_met={yes[self.rows_per_s >= MIN_ROWS_PER_S]} "
            f"p95_met={yes[me.p95_ms < API_ME_P95_MS]} "
            f"audited={self.audited} searchable={yes[self.searchable]}",
        ]


@dataclass
class ImportRun:
    """What the import scenarios of one run share: the app, its database, the files."""

    app_url: str
    headers: dict[str, str]
    run_db: Path
    env: dict[str, str]
    folder: Path
    firms_imported: bool = False


def _brokers(run_db: Path) -> list[str]:
    from brm_app.encryption.columns import open_value

    with sqlite3.connect(run_db) as conn:
        rows = conn.execute(
            "SELECT row_key, email FROM users WHERE role = 'broker' AND is_active "
            "ORDER BY id LIMIT 40"
        ).fetchall()
    if not rows:
        raise RuntimeError("the benchmark's book has no active broker")
    # users.email is encrypted (0010u): opened with the bench's key ring.
    return [open_value("users", "email", row_key, email) or "" for row_key, email in rows]


def _count(run_db: Path, sql: str, *params) -> int:
    with sqlite3.connect(run_db) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def _import(run: ImportRun, kind: str, path: Path) -> tuple[float, float, int, str]:
    """`brm import <kind> <path> --as <admin>`: (wall seconds, CPU seconds, exit code, stdout)."""
    cmd = [str(Path(sys.executable).parent / "brm"), "import", kind, str(path)]
    cmd += ["--as", ds.ADMIN_EMAIL]
    env = dict(run.env)
    if os.environ.get("BENCH_IMPORT_CODE"):
        env["PYTHONPATH"] = os.environ["BENCH_IMPORT_CODE"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode not in (0, 1) or not out.stdout.strip():
        raise RuntimeError(f"brm import {kind} failed ({out.returncode}): {out.stderr[-3000:]}")
    return seconds, cpu, out.returncode, out.stdout


def _summary(stdout: str) -> tuple[int, int]:
    """(imported, rejected) from the report's first line ("firms: N rows, I imported, R rejected")."""
    first = stdout.splitlines()[0]
    parts = [p.strip() for p in first.split(":", 1)[1].split(",")]
    return int(parts[1].split()[0]), int(parts[2].split()[0])


def _measure(run: ImportRun, kind: str, path: Path, rows: int, action: str) -> ImportFigures:
    events_before = _count(run.run_db, "SELECT count(*) FROM audit_events WHERE action = ?", action)
    settings = LoadSettings(connections=connections(), threads=1)
    wrk = Background(run.app_url, ["/api/v1/users/me"], settings, headers=run.headers)
    try:
        time.sleep(1.0)  # wrk connected and the app warm before the import starts
        seconds, cpu, code, stdout = _import(run, kind, path)
    finally:
        api_me = wrk.stop()
    imported, rejected = _summary(stdout)
    audited = (
        _count(run.run_db, "SELECT count(*) FROM audit_events WHERE action = ?", action)
        - events_before
    )
    return ImportFigures(
        kind, rows, imported, rejected, seconds, cpu, api_me, code, audited, _searchable(run, kind)
    )


def _searchable(run: ImportRun, kind: str) -> bool:
    """The last imported row is found by the app's search (its index was filled)."""
    import httpx

    n = firms_count() - 2  # the last row is a deliberate duplicate: take the one before it
    if kind == "firms":
        path, q = "/api/v1/firms", import_files.firm_name(n)
    else:
        path, q = "/api/v1/traders", f"arrival{n}"
    r = httpx.get(run.app_url + path, params={"q": q}, headers=run.headers, timeout=60)
    return r.status_code == 200 and len(r.json()["items"]) > 0


def firms_file(run: ImportRun) -> Path:
    path = run.folder / "import-firms.csv"
    if not path.exists():
        import_files.write(path, import_files.firms_csv(firms_count(), _brokers(run.run_db)))
    return path


def import_firms(run: ImportRun) -> ImportFigures:
    path = firms_file(run)
    figures = _measure(run, "firms", path, firms_count(), "firm.created")
    run.firms_imported = True
    return figures


def import_traders(run: ImportRun, note) -> ImportFigures:
    if not run.firms_imported:
        note("importing the firms first (not measured): the traders belong to them")
        _import(run, "firms", firms_file(run))
        run.firms_imported = True
    path = run.folder / "import-traders.csv"
    import_files.write(path, import_files.traders_csv(firms_count(), traders_per_firm()))
    rows = firms_count() * traders_per_firm()
    return _measure(run, "traders", path, rows, "trader.created")
