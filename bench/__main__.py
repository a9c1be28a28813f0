"""`python -m bench`: seed (or reuse) the big book, start the servers, measure, print BENCH lines.

Output, one line per measurement:
    BENCH <name> n=<requests> p50_ms=<x> p95_ms=<y> rps=<z>
then a RATIO line per app scenario against bare_json, the seeding figures and the app's memory.
Lines starting with '#' are context. Exit status 1 when a measurement had failed requests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import dataset, load, servers
from bench.scenarios import SCENARIOS, BenchContext, Scenario

P95_TARGET_MS = 25.0
SHARE_TARGET = 0.40


def _env_num(name: str, default, cast=int):
    value = os.environ.get(name)
    return cast(value) if value not in (None, "") else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=_env_num("BENCH_FIRMS", 100_000))
    ap.add_argument("--traders-per-firm", type=int, default=_env_num("BENCH_TRADERS_PER_FIRM", 5))
    ap.add_argument("--brokers", type=int, default=_env_num("BENCH_BROKERS", None))
    ap.add_argument("--seed", type=int, default=_env_num("BENCH_SEED", 1))
    ap.add_argument(
        "--duration",
        type=float,
        default=_env_num("BENCH_DURATION", 10.0, float),
        help="seconds measured per scenario",
    )
    ap.add_argument(
        "--warmup",
        type=float,
        default=_env_num("BENCH_WARMUP", 2.0, float),
        help="seconds of load before each measurement",
    )
    ap.add_argument("--connections", type=int, default=_env_num("BENCH_CONNECTIONS", 8))
    ap.add_argument(
        "--latency-connections",
        type=int,
        default=_env_num("BENCH_LATENCY_CONNECTIONS", 1),
        help="also measure each app scenario at this many connections (0: skip)",
    )
    ap.add_argument("--threads", type=int, default=_env_num("BENCH_THREADS", 1))
    ap.add_argument(
        "--reuse",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BENCH_REUSE", "1") != "0",
        help="reuse the cached seeded database in bench/out/ (--no-reuse reseeds)",
    )
    ap.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help="comma-separated scenario names (bare_json always runs)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the run's folder (logs, database)")
    return ap.parse_args(argv)


def _selected(only: str) -> list[Scenario]:
    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = names - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return [s for s in SCENARIOS if not names or s.name in names or s.server == "bare"]


def _token(app: servers.Server) -> str:
    r = httpx.post(
        app.url + "/api/v1/auth/token",
        data={"username": dataset.ADMIN_EMAIL, "password": dataset.ADMIN_PASSWORD},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["access_token"]


def _bench_line(name: str, f: load.Figures) -> str:
    return (
        f"BENCH {name} n={f.requests} p50_ms={f.p50_ms:.2f} p95_ms={f.p95_ms:.2f} rps={f.rps:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load.wrk_path()  # fail early, before seeding
    settings = load.LoadSettings(
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        threads=args.threads,
    )
    scenarios = _selected(args.only)
    print(
        f"# machine: {platform.machine()} {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}",
        flush=True,
    )
    params = dataset.DatasetParams(
        firms=args.firms,
        traders_per_firm=args.traders_per_firm,
        brokers=args.brokers,
        seed=args.seed,
    )
    data = dataset.prepare(params, reuse=args.reuse, log=lambda m: print(m, flush=True))
    f = data.figures
    print(
        f"SEED firms={f['firms']} traders={f['traders']} coverage={f['coverage']} "
        f"brokers={f['brokers']} seconds={f['seed_seconds']} db_mb={data.size_mb:.1f} "
        f"search_index={f['search_index']} {'(cached: seeded earlier)' if data.reused else ''}",
        flush=True,
    )
    print(f"# seed steps: {f['steps']} book: {f['book_steps']}", flush=True)

    run_dir = Path(tempfile.mkdtemp(prefix="brm-bench-"))
    db_file = run_dir / "brm.db"
    shutil.copyfile(data.path, db_file)
    web_dir = dataset.OUT / "web"  # the production build's folder, kept between runs
    app = bare = None
    failed, finished = False, False
    try:
        bare = servers.start_bare(log_dir=run_dir)
        app = servers.start_app(
            data_dir=run_dir,
            db_file=db_file,
            web_dir=web_dir,
            admin_email=dataset.ADMIN_EMAIL,
            admin_password=dataset.ADMIN_PASSWORD,
        )
        t = time.perf_counter()
        bare.wait_ready("/", timeout=60)
        app.wait_ready("/api/health", timeout=600)
        print(f"# servers ready in {time.perf_counter() - t:.1f} s: app {app.url}, bare {bare.url}")
        token = _token(app)
        headers = {"Authorization": f"Bearer {token}"}
        results: dict[str, load.Figures] = {}
        latencies: dict[str, load.Figures] = {}
        latency_settings = dataclasses.replace(
            settings, connections=max(1, args.latency_connections), threads=1
        )
        with httpx.Client(base_url=app.url, headers=headers, timeout=60) as api:
            ctx = BenchContext(dataset=data, api=api)
            for sc in scenarios:
                server = bare if sc.server == "bare" else app
                paths = sc.paths(ctx)
                for note in ctx.notes.get(sc.name, []):
                    print(f"# {sc.name}: {note}", flush=True)
                hdrs = headers if sc.server == "app" else None
                if settings.warmup > 0:
                    load.run(server.url, paths, settings, headers=hdrs, seconds=settings.warmup)
                fig = load.run(server.url, paths, settings, headers=hdrs)
                server.check_alive(sc.name)
                results[sc.name] = fig
                print(_bench_line(sc.name, fig), flush=True)
                if sc.targeted and sc.server == "app" and args.latency_connections:
                    # One worker serves one request at a time: at 8 connections p50 is ~8x the
                    # service time. The latency a single user sees is measured on its own.
                    lat = load.run(server.url, paths, latency_settings, headers=hdrs)
                    latencies[sc.name] = lat
                    print(_bench_line(f"{sc.name}@c{args.latency_connections}", lat), flush=True)
                if fig.failed:
                    failed = True
                    print(f"# {sc.name}: FAILED requests {fig.errors}", flush=True)
                if fig.errors.get("timeouts"):
                    print(
                        f"# {sc.name}: {fig.errors['timeouts']} requests took over "
                        f"{settings.timeout:g} s (not in the percentiles: the real p95 is worse)",
                        flush=True,
                    )
        bare_fig = results.get("bare_json")
        for sc in scenarios:
            fig = results.get(sc.name)
            if sc.server == "bare" or fig is None or bare_fig is None:
                continue
            share = fig.rps / bare_fig.rps if bare_fig.rps else 0.0
            if sc.targeted:
                lat = latencies.get(sc.name)
                p95_ok = fig.p95_ms < P95_TARGET_MS
                lat_ok = lat is not None and lat.p95_ms < P95_TARGET_MS
                verdict = (
                    f"targets=p95<{P95_TARGET_MS:g}ms,share>={SHARE_TARGET:.2f} "
                    f"p95_met={'yes' if p95_ok else 'no'}"
                    + (
                        f" p95_met_at_c{args.latency_connections}={'yes' if lat_ok else 'no'}"
                        if lat
                        else ""
                    )
                    + f" share_met={'yes' if share >= SHARE_TARGET else 'no'}"
                )
            else:
                verdict = "targets=none (reference)"
            print(
                f"RATIO {sc.name} vs=bare_json rps_share={share:.4f} "
                f"p95_ms={fig.p95_ms:.2f} p99_ms={fig.p99_ms:.2f} {verdict}"
            )
        total, largest = app.rss_mb()
        print(f"RSS app_server total_mb={total:.1f} largest_process_mb={largest:.1f}")
        btotal, _ = bare.rss_mb()
        print(f"# bare server rss_mb={btotal:.1f}")
        print(f"# load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finished = True
    finally:
        for server in (app, bare):
            if server is not None:
                server.stop()
        if args.keep or failed or not finished:
            print(f"# run folder kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
