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

from bench import dataset, imports, load, pg, servers
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
        "--portfolios",
        type=int,
        default=_env_num("BENCH_PORTFOLIOS", 10_000),
        help="portfolios seeded (about 200 transactions each; 0: none)",
    )
    ap.add_argument(
        "--instruments",
        type=int,
        default=_env_num("BENCH_INSTRUMENTS", 5_000),
        help="instruments seeded (with two years of daily closes)",
    )
    ap.add_argument(
        "--messages",
        type=int,
        default=_env_num("BENCH_MESSAGES", 1_000_000),
        help="messages seeded in conversations (0: none)",
    )
    ap.add_argument(
        "--conversations",
        type=int,
        default=_env_num("BENCH_CONVERSATIONS", 50_000),
        help="conversations the messages are spread over",
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
    # ui_* names are browser measurements (bench/browser.py), not scenarios, except those that
    # are (ui_message_push_ms): left out here, `--only ...,ui_message_push_ms` never ran it.
    known = {s.name for s in SCENARIOS}
    names = {
        n.strip()
        for n in only.split(",")
        if n.strip() and (n.strip() in known or not n.strip().startswith("ui_"))
    }
    unknown = names - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    refs = {s.ref for s in SCENARIOS if s.name in names and s.ref}
    return [
        s for s in SCENARIOS if not names or s.name in names or s.name in refs or s.server == "bare"
    ]


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
    target: Target,
    fig: load.Figures,
    lat: load.Figures | None,
    share: float | None,
    c: int,
    ref_share: float | None = None,
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
    if target.ref_share is not None:
        met = ref_share is not None and ref_share >= target.ref_share
        marks.append(f"ref_met={yes[met]}")
    return f"targets={target.describe()} " + " ".join(marks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    servers.use_bench_keys()
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
        portfolios=args.portfolios,
        instruments=args.instruments,
        messages=args.messages,
        conversations=args.conversations,
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
    if f.get("portfolios"):
        print(
            f"SEED portfolios={f['portfolios']} holdings={f['portfolio_holdings']} "
            f"transactions={f['portfolio_transactions']} instruments={f['instruments']} "
            f"daily_closes={f['daily_closes']} steps={f['portfolio_steps']} {cached}",
            flush=True,
        )
    else:
        skipped = [sc.name for sc in scenarios if sc.needs_portfolios]
        if skipped:
            print(f"# no portfolios seeded: skipping {', '.join(skipped)}", flush=True)
        scenarios = [sc for sc in scenarios if not sc.needs_portfolios]
    if f.get("messages"):
        print(
            f"SEED messages={f['messages']} conversations={f['conversations']} "
            f"participants={f['conversation_participants']} "
            f"largest_conversation={f['largest_conversation']} "
            f"seconds={f['communications_seconds']} steps={f['communications_steps']} {cached}",
            flush=True,
        )
    else:
        skipped = [sc.name for sc in scenarios if sc.needs_messages]
        if skipped:
            print(f"# no messages seeded: skipping {', '.join(skipped)}", flush=True)
        scenarios = [sc for sc in scenarios if not sc.needs_messages]
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
    bare = None
    failed, finished = False, False
    try:
        bare = servers.start_bare(log_dir=run_dir)
        bare.wait_ready("/", timeout=60)
        failed = _run_backend("", None, run_dir, db_file, scenarios, settings, args, data, bare)
        pg_url = os.environ.get("BENCH_DATABASE_URL", "")
        if pg_url:
            # The same scenarios on PostgreSQL (their lines prefixed pg_), the same targets.
            pg_dir = run_dir / "pg"
            pg_dir.mkdir()
            url = pg.prepare(pg_url, data.path, log=lambda m: print(m, flush=True))
            # In-process scenarios and imports measure the SQLite file (imports: on SQLite only).
            on_pg = [sc for sc in scenarios if sc.server not in ("inproc", "import")]
            failed |= _run_backend("pg_", url, pg_dir, db_file, on_pg, settings, args, data, bare)
        else:
            print("# BENCH_DATABASE_URL not set: no PostgreSQL lines", flush=True)
        btotal, _ = bare.rss_mb()
        print(f"# bare server rss_mb={btotal:.1f}")
        print(f"# load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finished = True
    finally:
        if bare is not None:
            bare.stop()
        if args.keep or failed or not finished:
            print(f"# run folder kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 1 if failed else 0


def _run_backend(
    prefix: str,
    database_url: str | None,
    run_dir: Path,
    db_file: Path,
    scenarios: list[Scenario],
    settings: load.LoadSettings,
    args: argparse.Namespace,
    data: dataset.Dataset,
    bare: servers.Server,
) -> bool:
    """Start the app (and the reference) on one database, measure every scenario, print the
    BENCH and RATIO lines (names prefixed by `prefix`). Answers whether any request failed."""
    web_dir = dataset.OUT / "web"  # the production build's folder, kept between runs
    app = ref = None
    failed = False
    db_url = database_url or f"sqlite:///{db_file}"
    try:
        app = servers.start_app(
            data_dir=run_dir,
            db_file=db_file,
            web_dir=web_dir,
            admin_email=dataset.ADMIN_EMAIL,
            admin_password=dataset.ADMIN_PASSWORD,
            database_url=database_url,
        )
        t = time.perf_counter()
        app.wait_ready("/api/health", timeout=600)
        if any(sc.server == "ref" for sc in scenarios):
            # The reference service, on the app's database and with the app's key (its tokens).
            ref = servers.start_ref(
                log_dir=run_dir,
                database_url=db_url,
                # On PostgreSQL the app's key comes from the environment (no key file).
                secret_key=app.env.get("BRM_SECRET_KEY")
                or (run_dir / "secret_key").read_text().strip(),
            )
            ref.wait_ready("/docs", timeout=60)
        print(
            f"# {prefix or 'sqlite_'}servers ready in {time.perf_counter() - t:.1f} s: "
            f"app {app.url}, bare {bare.url}" + (f", reference {ref.url}" if ref else "")
        )
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
                    print(f"# {prefix}{name}: {note}", flush=True)
                shown[name] = len(ctx.notes.get(name, []))

            importing = imports.ImportRun(
                app_url=app.url,
                headers=headers,
                run_db=db_file,
                env=app.env,
                folder=run_dir,
            )
            for sc in scenarios:
                c = args.latency_connections
                name = prefix + sc.name
                if sc.server == "import":
                    if sc.name == "import_firms_100k":
                        done = imports.import_firms(importing)
                    else:
                        done = imports.import_traders(
                            importing, lambda text, name=sc.name: ctx.note(name, text)
                        )
                    app.check_alive(sc.name)
                    notes(sc.name)
                    for line in done.lines(sc.name):
                        print(line, flush=True)
                    if done.api_me.failed:
                        failed = True
                        print(f"# {sc.name}: FAILED api_me requests {done.api_me.errors}")
                    continue
                if sc.server == "inproc":
                    # Measured in this process, one run at a time (no server, no wrk): the main
                    # line and the @c1 line are two series of the same single-caller measurement.
                    assert sc.measure is not None
                    fig = sc.measure(ctx, settings)
                    results[sc.name] = fig
                    notes(sc.name)
                    print(_bench_line(name, fig), flush=True)
                    if sc.targeted and c and not sc.single:
                        lat = sc.measure(ctx, settings)
                        latencies[sc.name] = lat
                        print(_bench_line(f"{name}@c{c}", lat), flush=True)
                    continue
                server = {"bare": bare, "ref": ref}.get(sc.server, app)
                assert server is not None
                paths = sc.paths(ctx)
                notes(sc.name)
                hdrs = headers if sc.server in ("app", "ref") else None
                if settings.warmup > 0:
                    load.run(server.url, paths, settings, headers=hdrs, seconds=settings.warmup)
                fig = load.run(server.url, paths, settings, headers=hdrs)
                server.check_alive(sc.name)
                results[sc.name] = fig
                print(_bench_line(name, fig), flush=True)
                if sc.targeted and sc.server == "app" and c:
                    # One worker serves one request at a time: at 8 connections p50 is ~8x the
                    # service time. The latency a single user sees is measured on its own.
                    cpu = server.cpu_seconds()
                    lat = load.run(server.url, paths, latency_settings, headers=hdrs)
                    cpu = server.cpu_seconds() - cpu
                    latencies[sc.name] = lat
                    print(_bench_line(f"{name}@c{c}", lat), flush=True)
                    # The server's CPU time per request: steadier than the wall clock on a
                    # shared machine, where a request mostly waits for a core.
                    if lat.requests:
                        print(
                            f"# {name}@c{c}: server cpu_ms_per_request="
                            f"{1000 * cpu / lat.requests:.2f}",
                            flush=True,
                        )
                if fig.failed:
                    failed = True
                    print(f"# {name}: FAILED requests {fig.errors}", flush=True)
                if fig.errors.get("timeouts"):
                    print(
                        f"# {name}: {fig.errors['timeouts']} requests took over "
                        f"{settings.timeout:g} s (not in the percentiles: the real p95 is worse)",
                        flush=True,
                    )
        bare_fig = results.get("bare_json")
        for sc in scenarios:
            fig = results.get(sc.name)
            if sc.server in ("bare", "ref", "import") or fig is None:
                continue
            share = None
            if sc.server == "inproc":
                against = "vs=none"  # not an HTTP request: no share of the bare endpoint
            elif bare_fig is not None:
                share = fig.rps / bare_fig.rps if bare_fig.rps else 0.0
                against = f"vs=bare_json rps_share={share:.4f}"
            else:
                continue
            ref_share = None
            if sc.ref and (ref_fig := results.get(sc.ref)) is not None:
                ref_share = fig.rps / ref_fig.rps if ref_fig.rps else 0.0
                against += (
                    f" ref={prefix}{sc.ref} ref_share={ref_share:.3f} ref_rps={ref_fig.rps:.1f}"
                )
            if sc.target is not None:
                verdict = _verdict(
                    sc.target,
                    fig,
                    latencies.get(sc.name),
                    share,
                    args.latency_connections,
                    ref_share,
                )
            else:
                verdict = "targets=none (reference)"
            print(
                f"RATIO {prefix}{sc.name} {against} p95_ms={fig.p95_ms:.2f} "
                f"p99_ms={fig.p99_ms:.2f} {verdict}"
            )
        # ---- the browser path (issue 15), in Chromium against the same app; BENCH_BROWSER=0 skips
        # (on SQLite: the browser's figures are the page's, not the database's)
        if not prefix and os.environ.get("BENCH_BROWSER", "1") != "0":
            from bench.browser import measure_browser

            for line in measure_browser(
                app.url, dataset.ADMIN_EMAIL, dataset.ADMIN_PASSWORD, data, run_db=db_file
            ):
                print(line, flush=True)
        # ---- ui_price_push_ms (issue 11): a second app with a CSV market data feed
        if (
            not prefix
            and os.environ.get("BENCH_BROWSER", "1") != "0"
            and data.figures.get("portfolios")
            and (not args.only or "ui_price_push_ms" in args.only)
        ):
            from bench.browser import price_push_lines

            for line in price_push_lines(data, run_dir, db_file, web_dir):
                print(line, flush=True)
        total, largest = app.rss_mb()
        print(f"RSS {prefix}app_server total_mb={total:.1f} largest_process_mb={largest:.1f}")
    finally:
        for server in (app, ref):
            if server is not None:
                server.stop()
    return failed


if __name__ == "__main__":
    sys.exit(main())
