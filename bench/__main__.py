"""`python -m bench`: seed (or reuse) the big book, start the servers, measure, print BENCH lines.

Output, one line per measurement:
    BENCH <name> n=<requests> p50_ms=<x> p95_ms=<y> rps=<z>
(and BENCH <name>@c1 ... for a scenario with a target: the same at one connection), then a RATIO
line per scenario with its share of bare_json's throughput and the verdict on its own targets,
the seeding figures and the app's memory. In-process scenarios (reminder_scan) give runs for
requests. Lines starting with '#' are context. Exit status 1 when a measurement had failed
requests.
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
from bench.scenarios import SCENARIOS, BenchContext, Scenario, Target


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
        "--interactions",
        type=int,
        default=_env_num("BENCH_INTERACTIONS", 2_000_000),
        help="interactions seeded on the book (0: none, and no follow-ups unless asked)",
    )
    ap.add_argument(
        "--follow-ups",
        type=int,
        default=_env_num("BENCH_FOLLOW_UPS", 100_000),
        help="open follow-ups seeded (with reminders; plus done ones, 4%% as many)",
    )
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


def _verdict(
    target: Target, fig: load.Figures, lat: load.Figures | None, share: float | None, c: int
) -> str:
    """`targets=<what> <target>_met=yes|no ...` for each of the scenario's targets."""
    yes = {True: "yes", False: "no"}
    marks = []
    if target.p95_ms is not None:
        marks.append(f"p95_met={yes[fig.p95_ms < target.p95_ms]}")
        if lat is not None:
            marks.append(f"p95_met_at_c{c}={yes[lat.p95_ms < target.p95_ms]}")
    if target.min_rps is not None:
        marks.append(f"rps_met={yes[fig.rps >= target.min_rps]}")
    if target.share is not None:
        marks.append(f"share_met={yes[share is not None and share >= target.share]}")
    return f"targets={target.describe()} " + " ".join(marks)


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
        interactions=args.interactions,
        open_follow_ups=args.follow_ups,
        done_follow_ups=args.follow_ups // 25,
    )
    data = dataset.prepare(params, reuse=args.reuse, log=lambda m: print(m, flush=True))
    f = data.figures
    cached = "(cached: seeded earlier)" if data.reused else ""
    print(
        f"SEED firms={f['firms']} traders={f['traders']} coverage={f['coverage']} "
        f"brokers={f['brokers']} seconds={f['seed_seconds']} db_mb={data.size_mb:.1f} "
        f"search_index={f['search_index']} {cached}",
        flush=True,
    )
    if "interactions" in f:
        print(
            f"SEED interactions={f['interactions']} interaction_traders={f['interaction_traders']} "
            f"follow_ups_open={f['follow_ups_open']} follow_ups_overdue={f['follow_ups_overdue']} "
            f"follow_ups_done={f['follow_ups_done']} reminders={f['reminders']} "
            f"reminders_pending={f['reminders_pending']} reminders_due={f['reminders_due']} "
            f"seconds={f['steps'].get('activity')} anchor={f['anchor']} {cached}",
            flush=True,
        )
    print(f"# seed steps: {f['steps']} book: {f['book_steps']}", flush=True)
    if "activity_steps" in f:
        print(f"# activity steps: {f['activity_steps']}", flush=True)
    if not f.get("interactions"):
        skipped = [sc.name for sc in scenarios if sc.needs_activity]
        if skipped:
            print(f"# no activity seeded: skipping {', '.join(skipped)}", flush=True)
        scenarios = [sc for sc in scenarios if not sc.needs_activity]

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
            ctx = BenchContext(dataset=data, api=api, run_db=db_file)
            shown: dict[str, int] = {}

            def notes(name: str) -> None:
                for note in ctx.notes.get(name, [])[shown.get(name, 0) :]:
                    print(f"# {name}: {note}", flush=True)
                shown[name] = len(ctx.notes.get(name, []))

            for sc in scenarios:
                c = args.latency_connections
                if sc.server == "inproc":
                    # Measured in this process, one run at a time (no server, no wrk): the main
                    # line and the @c1 line are two series of the same single-caller measurement.
                    assert sc.measure is not None
                    fig = sc.measure(ctx, settings)
                    results[sc.name] = fig
                    notes(sc.name)
                    print(_bench_line(sc.name, fig), flush=True)
                    if sc.targeted and c:
                        lat = sc.measure(ctx, settings)
                        latencies[sc.name] = lat
                        print(_bench_line(f"{sc.name}@c{c}", lat), flush=True)
                    continue
                server = bare if sc.server == "bare" else app
                paths = sc.paths(ctx)
                notes(sc.name)
                hdrs = headers if sc.server == "app" else None
                if settings.warmup > 0:
                    load.run(server.url, paths, settings, headers=hdrs, seconds=settings.warmup)
                fig = load.run(server.url, paths, settings, headers=hdrs)
                server.check_alive(sc.name)
                results[sc.name] = fig
                print(_bench_line(sc.name, fig), flush=True)
                if sc.targeted and sc.server == "app" and c:
                    # One worker serves one request at a time: at 8 connections p50 is ~8x the
                    # service time. The latency a single user sees is measured on its own.
                    lat = load.run(server.url, paths, latency_settings, headers=hdrs)
                    latencies[sc.name] = lat
                    print(_bench_line(f"{sc.name}@c{c}", lat), flush=True)
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
            if sc.server == "bare" or fig is None:
                continue
            share = None
            if sc.server == "inproc":
                against = "vs=none"  # not an HTTP request: no share of the bare endpoint
            elif bare_fig is not None:
                share = fig.rps / bare_fig.rps if bare_fig.rps else 0.0
                against = f"vs=bare_json rps_share={share:.4f}"
            else:
                continue
            if sc.target is not None:
                verdict = _verdict(
                    sc.target, fig, latencies.get(sc.name), share, args.latency_connections
                )
            else:
                verdict = "targets=none (reference)"
            print(
                f"RATIO {sc.name} {against} p95_ms={fig.p95_ms:.2f} p99_ms={fig.p99_ms:.2f} "
                f"{verdict}"
            )
        # ---- the browser path (issue 15), in Chromium against the same app; BENCH_BROWSER=0 skips
        if os.environ.get("BENCH_BROWSER", "1") != "0":
            from bench.browser import measure_browser

            for line in measure_browser(
                app.url, dataset.ADMIN_EMAIL, dataset.ADMIN_PASSWORD, data, run_db=db_file
            ):
                print(line, flush=True)
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
