"""The browser path, measured in Chromium: a search keystroke to its rows, a firm opened from the
list to its heading, and the Reflex state one open tab keeps on the server.

`measure_browser(...)` drives Debian's Chromium (headless) with Playwright against the running
production app, signed in as the admin (who sees the whole book):

- `ui_search_ms`: from the last keystroke typed in the firm search (the input event, so the
  debounce counts) to the frame in which the table shows exactly the first page the API returns
  for that query (same sort), so an earlier query's rows never count.
- `ui_open_firm_ms`: from the click on a firm's name in the list to the frame in which the firm
  page's heading shows that firm's name (client-side navigation, its on_load events included).
- `STATE reflex_tab`: the pickled size of every substate one tab holds on the server (what the
  Redis state manager would store for it), after the firms page with a search, and after a firm
  page; measured in this process by the app's own event processor on the same database, with the
  browser's session cookie (tests/state/harness.py).

`python -m bench.browser` starts the app on a copy of the cached book by itself and prints the
same lines (for working on the browser path without the HTTP scenarios).
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("BRM_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEARCH_P95_MS = 250.0
OPEN_FIRM_P95_MS = 300.0
STATE_MAX_KB = 100.0
WARMUP = 3

# Installed in every page before its own scripts: when the last input event reached the firm
# search, when a firm link was clicked, and a watcher that notes the first animation frame after
# the DOM shows what is expected.
_INSTRUMENT = """
(() => {
  const b = (window.__brm = {lastInput: null, click: null, done: null, observer: null,
                             sends: [], messages: []});
  // Where the time goes: when events leave on the websocket and when updates arrive.
  const Socket = window.WebSocket;
  const send = Socket.prototype.send;
  Socket.prototype.send = function (data) {
    if (typeof data === 'string' && data.startsWith('42')) b.sends.push(performance.now());
    return send.call(this, data);
  };
  window.WebSocket = function (...args) {
    const ws = new Socket(...args);
    ws.addEventListener('message', (m) => {
      if (typeof m.data === 'string' && m.data.startsWith('42')) b.messages.push(performance.now());
    });
    return ws;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  document.addEventListener('input', (e) => {
    if (e.target && e.target.id === 'firm-search') b.lastInput = performance.now();
  }, true);
  document.addEventListener('click', (e) => {
    if (e.target && e.target.closest && e.target.closest('a.firm-link')) b.click = performance.now();
  }, true);
  const rows = () => Array.from(document.querySelectorAll('#firms-table a.firm-link'))
    .map((a) => a.textContent.trim());
  const checks = {
    rows: (want) => { const got = rows(); return got.length === want.length && got.every((n, i) => n === want[i]); },
    heading: (want) => { const h = document.querySelector('#firm-title'); return !!h && h.textContent.trim() === want; },
  };
  b.matches = (kind, want) => checks[kind](want);
  b.watch = (kind, want) => {
    if (b.observer) b.observer.disconnect();
    b.done = null;
    b.sends = [];
    b.messages = [];
    // Awaited by the bench (no polling in the page while it is being measured).
    b.donePromise = new Promise((resolve, reject) => {
      b.resolve = resolve;
      setTimeout(() => reject(new Error('not shown within 30 s')), 30000);
    });
    const check = () => {
      if (checks[kind](want)) {
        obs.disconnect();
        b.shownAfterMessage = b.messages.length ? b.messages[b.messages.length - 1] : null;
        requestAnimationFrame(() => { b.done = performance.now(); b.resolve(b.done); });
      }
    };
    const obs = new MutationObserver(check);
    b.observer = obs;
    obs.observe(document, {childList: true, subtree: true, characterData: true});
    check();
  };
})();
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _line(name: str, values: list[float], target: float) -> str:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    met = "yes" if p95 < target else "no"
    return (
        f"BENCH {name} n={len(values)} p50_ms={p50:.1f} p95_ms={p95:.1f} "
        f"max_ms={max(values):.1f} target_p95_ms={target:g} p95_met={met}"
    )


def _queries(db_path: Path, count: int, seed: int = 15) -> list[str]:
    """Firm names to type: distinct live firms picked at random from the book (read-only)."""
    con = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)
    try:
        (last,) = con.execute("SELECT max(id) FROM firms").fetchone()
        rng = random.Random(seed)
        names: list[str] = []
        while len(names) < count:
            fid = rng.randint(1, last)
            row = con.execute(
                "SELECT name FROM firms WHERE id = ? AND archived_at IS NULL AND merged_into_id IS NULL",
                (fid,),
            ).fetchone()
            if row and row[0] not in names:
                names.append(row[0])
        return names
    finally:
        con.close()


def _expected_rows(api: httpx.Client, q: str) -> list[str]:
    """The first page the firms page must show for `q` (the admin's view, sorted by name)."""
    r = api.get("/api/v1/firms", params={"q": q, "sort": "name", "direction": "asc", "limit": 50})
    r.raise_for_status()
    return [item["name"] for item in r.json()["items"]]


def _sign_in(page: Any, app_url: str, email: str, password: str) -> None:
    page.goto(app_url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
    page.wait_for_selector("#user-menu", timeout=60_000)


def _wait_done(page: Any) -> None:
    page.evaluate("window.__brm.donePromise")


def _task_ms(cdp: Any) -> float:
    """The renderer main thread's busy time so far (Chromium's TaskDuration), in ms: the
    browser's share of a sample's work, which a loaded machine stretches less than wall time."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration") * 1000


def _open_firms_list(page: Any, app_url: str) -> None:
    page.goto(app_url + "/firms")
    page.wait_for_selector("#firms-table a.firm-link", timeout=60_000)


def _settle_on_list(page: Any, rows: list[str]) -> None:
    """Back on the list: wait for its load to show the unfiltered first page (the tab's state
    still holds the last search until then), so one sample's work does not run into the next."""
    page.wait_for_selector("#firm-search", timeout=60_000)
    page.evaluate("([k, w]) => window.__brm.watch(k, w)", ["rows", rows])
    _wait_done(page)


def _search_once(page: Any, q: str, want: list[str]) -> dict[str, float]:
    if page.evaluate("([k, w]) => window.__brm.matches(k, w)", ["rows", want]):
        raise RuntimeError(f"the table already shows the rows for {q!r}")
    page.evaluate("([k, w]) => window.__brm.watch(k, w)", ["rows", want])
    box = page.locator("#firm-search")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(q, delay=35)  # a quick typist: each key well inside the debounce
    _wait_done(page)
    return _phases(page, "lastInput")


def _open_once(page: Any, name: str) -> dict[str, float]:
    page.evaluate("([k, w]) => window.__brm.watch(k, w)", ["heading", name])
    page.locator("#firms-table").get_by_role("link", name=name, exact=True).first.click()
    try:
        _wait_done(page)
    except Exception as exc:
        shown = page.evaluate("document.querySelector('#firm-title')?.textContent")
        raise RuntimeError(
            f"firm page of {name!r} not shown at {page.url}: heading {shown!r}"
        ) from exc
    return _phases(page, "click")


_PHASES = """(start) => {
  const b = window.__brm, t0 = b[start];
  const sent = b.sends.find((t) => t >= t0);
  const got = b.shownAfterMessage;
  return {
    total: b.done - t0,
    before_send: sent !== undefined ? sent - t0 : null,
    server: sent !== undefined && got !== null ? got - sent : null,
    render: got !== null ? b.done - got : null,
    events_sent: b.sends.filter((t) => t >= t0).length,
  };
}"""


def _phases(page: Any, start: str) -> dict[str, float]:
    """The sample's total and where it went: in the browser before the first event left
    (debounce), from then to the update that completed the rows (server and socket), and from
    that update to the frame (React); browser_busy is the renderer's main-thread work."""
    return page.evaluate(_PHASES, start)


def _phase_note(name: str, samples: list[dict[str, float]]) -> str:
    parts = []
    for key in ("before_send", "server", "render", "browser_busy"):
        values = [s[key] for s in samples if s.get(key) is not None]
        if values:
            parts.append(
                f"{key}_p50={percentile(values, 50):.0f} {key}_p95={percentile(values, 95):.0f}"
            )
    return f"# {name} phases (ms): " + " ".join(parts)


def measure_browser(
    app_url: str,
    admin_email: str,
    admin_password: str,
    dataset: Any,
    *,
    run_db: Path | None = None,
    samples: int | None = None,
) -> list[str]:
    """The BENCH/STATE lines of the browser measurements (see the module's docstring).

    `dataset` is bench.dataset.Dataset (its `path` is the book's file, read-only here);
    `run_db` the database file the app serves (the tab's state is measured on it; None: not
    measured)."""
    from playwright.sync_api import sync_playwright

    n = samples or int(os.environ.get("BENCH_BROWSER_SAMPLES", "25"))
    names = _queries(Path(dataset.path), n + WARMUP)
    token = httpx.post(
        app_url + "/api/v1/auth/token",
        data={"username": admin_email, "password": admin_password},
        timeout=60,
    ).json()["access_token"]
    with httpx.Client(
        base_url=app_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        expected = {q: _expected_rows(api, q) for q in names}
        unfiltered = _expected_rows(api, "")
    names = [q for q in names if q in expected[q]]  # typed in full: the firm is in its rows

    search_ms: list[dict[str, float]] = []
    open_ms: list[dict[str, float]] = []
    lines: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(_INSTRUMENT)
            page = context.new_page()
            _sign_in(page, app_url, admin_email, admin_password)
            _open_firms_list(page, app_url)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            for i, q in enumerate(names):
                busy = _task_ms(cdp)
                s = _search_once(page, q, expected[q])
                s["browser_busy"], busy = _task_ms(cdp) - busy, _task_ms(cdp)
                o = _open_once(page, q)
                o["browser_busy"] = _task_ms(cdp) - busy
                if i >= WARMUP:
                    search_ms.append(s)
                    open_ms.append(o)
                page.go_back()
                _settle_on_list(page, unfiltered)
            cookie = next(
                (c["value"] for c in context.cookies() if c["name"] == "brm_session"), None
            )
            firm_path = page.evaluate(
                "document.querySelector('#firms-table a.firm-link').getAttribute('href')"
            )
            context.close()
        finally:
            browser.close()
    lines.append(_line("ui_search_ms", [s["total"] for s in search_ms], SEARCH_P95_MS))
    lines.append(_phase_note("ui_search_ms", search_ms))
    lines.append(_line("ui_open_firm_ms", [s["total"] for s in open_ms], OPEN_FIRM_P95_MS))
    lines.append(_phase_note("ui_open_firm_ms", open_ms))
    if cookie is not None and run_db is not None:
        lines.extend(tab_state_lines(cookie, names[-1], firm_path, run_db))
    return lines


def tab_state_lines(cookie: str, q: str, firm_path: str, run_db: Path) -> list[str]:
    """`STATE reflex_tab ...`: one tab's server-side state, pickled substate by substate."""
    from bench import dataset as ds
    from bench.tab_state import measure_tab_state

    ds._point_app_at(f"sqlite:///{run_db}", run_db.parent)

    sizes = measure_tab_state(cookie=cookie, search=q, firm_path=firm_path)
    worst = max(sizes.values())
    parts = " ".join(f"{page}_kb={size / 1000:.1f}" for page, size in sizes.items())
    met = "yes" if worst / 1000 < STATE_MAX_KB else "no"
    return [
        f"STATE reflex_tab {parts} max_kb={worst / 1000:.1f} target_kb={STATE_MAX_KB:g} met={met}"
    ]


def main() -> int:
    """Start the production app on a copy of the cached book, measure, print, stop."""
    import shutil
    import tempfile

    from bench import dataset as ds
    from bench import servers

    params = ds.DatasetParams()
    data = ds.prepare(params, reuse=True, log=lambda m: print(m, flush=True))
    if os.environ.get("BENCH_APP_URL"):  # an app already running (on BENCH_RUN_DB)
        run_db = Path(os.environ["BENCH_RUN_DB"]) if os.environ.get("BENCH_RUN_DB") else None
        for line in measure_browser(
            os.environ["BENCH_APP_URL"], ds.ADMIN_EMAIL, ds.ADMIN_PASSWORD, data, run_db=run_db
        ):
            print(line, flush=True)
        return 0
    run_dir = Path(tempfile.mkdtemp(prefix="brm-bench-ui-"))
    db_file = run_dir / "brm.db"
    shutil.copyfile(data.path, db_file)
    app = servers.start_app(
        data_dir=run_dir,
        db_file=db_file,
        web_dir=ds.OUT / "web",
        admin_email=ds.ADMIN_EMAIL,
        admin_password=ds.ADMIN_PASSWORD,
    )
    try:
        t = time.perf_counter()
        app.wait_ready("/api/health", timeout=900)
        print(f"# app ready in {time.perf_counter() - t:.1f} s: {app.url}", flush=True)
        print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for line in measure_browser(
            app.url, ds.ADMIN_EMAIL, ds.ADMIN_PASSWORD, data, run_db=db_file
        ):
            print(line, flush=True)
        print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        app.stop()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"# run folder kept: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---- ui_price_push_ms: a price tick to the changed value on an open portfolio page ----------------

PRICE_PUSH_P95_MS = 1000.0
PRICE_PUSH_TIMEOUT_MS = 10_000
# Resolves with the epoch time (ms) of the first frame in which #total-value no longer reads
# `before` (the watcher is installed before the tick, so no change can slip by).
_WATCH_TOTAL = """
(before) => {
  window.__pricePush = new Promise((resolve) => {
    const changed = () => {
      const el = document.getElementById('total-value');
      return el && el.textContent !== before;
    };
    const done = () => requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
    if (changed()) return done();
    const obs = new MutationObserver(() => { if (changed()) { obs.disconnect(); done(); } });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => { obs.disconnect(); resolve(null); }, TIMEOUT_MS);
  });
}
""".replace("TIMEOUT_MS", str(PRICE_PUSH_TIMEOUT_MS))


def _write_prices(path: Path, symbol: str, price: Any) -> float:
    """Publish one price as the CSV market data module does (whole file, renamed into place);
    returns the epoch time (ms) it was in place."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"symbol,price\n{symbol},{price}\n")
    tmp.replace(path)
    return time.time() * 1000


def _stored_at_ms(run_db: Path, instrument_id: int) -> float | None:
    """When the feed stored the instrument's last price (instrument_prices.as_of, naive UTC)."""
    from datetime import UTC, datetime

    with sqlite3.connect(f"file:{run_db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute(
            "SELECT as_of FROM instrument_prices WHERE instrument_id = ?", (instrument_id,)
        ).fetchone()
    if not row or not row[0]:
        return None
    at = datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC)
    return at.timestamp() * 1000


def measure_price_push(
    app_url: str,
    admin_email: str,
    admin_password: str,
    *,
    firm_id: int,
    prices_csv: Path,
    run_db: Path,
    samples: int | None = None,
) -> list[str]:
    """`ui_price_push_ms`: Chromium shows a firm's portfolio page (signed in as the admin); the
    bench publishes a new price of one of its holdings where the app's market data provider
    (CSV) reads it; the app's feed stores it in its next tick (once a second) and pushes the
    revaluation to the open page. Measured from the stored tick (the price row's `as_of`, the
    feed's own commit) to the first frame in which the page's total value changed; the time
    from the file's publication is printed beside it (it adds the wait for the feed's next
    tick, up to its one-second interval)."""
    from decimal import Decimal

    from playwright.sync_api import sync_playwright

    n = samples or int(os.environ.get("BENCH_PRICE_PUSH_SAMPLES", "20"))
    token = httpx.post(
        app_url + "/api/v1/auth/token",
        data={"username": admin_email, "password": admin_password},
        timeout=60,
    ).json()["access_token"]
    body = httpx.get(
        f"{app_url}/api/v1/firms/{firm_id}/portfolio",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).json()
    holding = next(
        a
        for a in sorted(body["assets"], key=lambda a: -Decimal(a["market_value"] or 0))
        if a["currency"] == body["reporting_currency"] and a["last_price"]
    )
    symbol, iid = holding["symbol"], holding["instrument_id"]
    price = Decimal(holding["last_price"])
    rng = random.Random(11)
    tick_ms: list[float] = []
    write_ms: list[float] = []
    missed = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            _sign_in(page, app_url, admin_email, admin_password)
            page.goto(f"{app_url}/firms/{firm_id}/portfolio")
            page.wait_for_selector("#total-value", timeout=60_000)
            page.wait_for_function(
                "() => /[0-9]/.test(document.getElementById('total-value').textContent)",
                timeout=60_000,
            )
            for i in range(n + WARMUP):
                before = page.inner_text("#total-value")
                page.evaluate(_WATCH_TOTAL, before)
                # A move of 1-3% either way: the total changes by far more than a cent.
                step = Decimal(rng.choice((-1, 1)) * rng.randint(10, 30)) / 1000
                price = (price * (1 + step)).quantize(Decimal("0.0001"))
                written = _write_prices(prices_csv, symbol, price)
                shown = page.evaluate("window.__pricePush")
                if shown is None:
                    missed += 1
                    continue
                stored = _stored_at_ms(run_db, iid)
                if i >= WARMUP and stored is not None:
                    tick_ms.append(max(0.0, shown - stored))
                    write_ms.append(shown - written)
                page.wait_for_timeout(rng.randint(100, 400))  # ticks at no fixed phase
            context.close()
        finally:
            browser.close()
    if not tick_ms:
        return [f"BENCH ui_price_push_ms n=0 missed={missed} p95_met=no"]
    line = _line("ui_price_push_ms", tick_ms, PRICE_PUSH_P95_MS)
    return [
        line + (f" missed={missed}" if missed else ""),
        f"# ui_price_push_ms: {symbol} on firm {firm_id}; from the published file (the feed's "
        f"next tick included): p50_ms={percentile(write_ms, 50):.1f} "
        f"p95_ms={percentile(write_ms, 95):.1f}",
    ]


def price_push_lines(data: Any, run_dir: Path, db_file: Path, web_dir: Path) -> list[str]:
    """Start a second app on the run's database with the CSV market data provider (the main
    app runs without a feed), measure ui_price_push_ms, stop it."""
    from bench import dataset as ds
    from bench import servers

    prices = run_dir / "prices.csv"
    prices.write_text("symbol,price\n")
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as conn:
        (firm_id,) = conn.execute("SELECT firm_id FROM portfolios ORDER BY id LIMIT 1").fetchone()
    feed_dir = run_dir / "feed-app"
    feed_dir.mkdir(exist_ok=True)
    app = servers.start_app(
        data_dir=feed_dir,
        db_file=db_file,
        web_dir=web_dir,
        admin_email=ds.ADMIN_EMAIL,
        admin_password=ds.ADMIN_PASSWORD,
        extra_env={"BRM_MARKET_DATA_PROVIDER": "csv", "BRM_MARKET_DATA_URL": str(prices)},
    )
    try:
        app.wait_ready("/api/health", timeout=600)
        return measure_price_push(
            app.url,
            ds.ADMIN_EMAIL,
            ds.ADMIN_PASSWORD,
            firm_id=firm_id,
            prices_csv=prices,
            run_db=db_file,
        )
    finally:
        app.stop()
