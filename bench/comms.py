"""Communications (issue 10): reading a conversation and a trader's communications, sending a
message, the live push of a message to another open page, and the email outbox drained.

All of them as one broker with a typical load: the broker (among those who started seeded
conversations) with the median number of them.

- `api_conversation_messages`: GET /api/v1/conversations/{id}/messages (the last 50) over the
  broker's conversations with 50 messages or more (up to 1,000, largest first).
- `api_trader_communications`: GET /api/v1/traders/{id}/communications (first page, newest
  first) over the traders of the broker's conversations.
- `api_message_send`: POST /api/v1/communications (in_app) to those traders. Writes.
- `outbox_drain_1000`: 1,000 emails queued (a message, its delivery and its job each), then the
  app's own job runner (jobs.kinds.build_runner) in this process sends them through the real
  SendGrid SDK to a stub on 127.0.0.1 that answers 202; from the first round to the last email
  "sent". Writes.
- `ui_message_push_ms`: the broker's Communication Center open in Chromium on a conversation with
  a trader who has a portal account; the trader posts through the API; from just before the POST
  to the frame that shows the message on the broker's page.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench import dataset as ds
from bench.load import Figures, LoadSettings, Requests

ROTATE = 1000
LIMIT = 50
PUSH_SAMPLES = int(os.environ.get("BENCH_PUSH_SAMPLES", "25"))
PUSH_WARMUP = 3
# The outbox: emails per run (1,000 for the target) and runs (for profiling: fewer).
OUTBOX_EMAILS = int(os.environ.get("BENCH_OUTBOX_EMAILS", "1000"))
OUTBOX_RUNS = int(os.environ.get("BENCH_OUTBOX_RUNS", "3"))


def _in(values: list[int]) -> str:
    return ",".join("?" * len(values))


def comms_broker(ctx: Any) -> tuple[int, str]:
    """(id, email) of the broker with the median number of seeded conversations."""
    if "comms_broker" not in ctx._cache:
        from brm_app.encryption.columns import open_value

        counts = ctx.sql(
            "SELECT c.started_by_id, u.row_key, u.email, count(*) AS n FROM conversations c "
            "JOIN users u ON u.id = c.started_by_id GROUP BY 1, 2, 3 ORDER BY n, 1"
        )
        if not counts:
            raise RuntimeError("the dataset has no conversations (seed them: --messages)")
        broker_id, row_key, sealed, n = counts[len(counts) // 2]
        # users.email is encrypted (0010u): opened with the bench's key ring.
        email = open_value("users", "email", row_key, sealed) or ""
        ctx._cache["comms_broker"] = (broker_id, email, n)
    broker_id, email, _ = ctx._cache["comms_broker"]
    return broker_id, email


def _headers(ctx: Any) -> dict[str, str]:
    _, email = comms_broker(ctx)
    return {"Authorization": f"Bearer {ctx.token_for(email, ds.BROKER_PASSWORD)}"}


def _get(ctx: Any, path: str, headers: dict[str, str]) -> Any:
    r = httpx.get(f"{ctx.api.base_url}{path}", headers=headers, timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:500]}")
    return r.json()


def conversation_messages(ctx: Any) -> Requests:
    broker_id, email = comms_broker(ctx)
    rows = ctx.sql(
        "SELECT c.id, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
        "FROM conversations c WHERE c.started_by_id = ? ORDER BY n DESC, c.id LIMIT ?",
        broker_id,
        ROTATE,
    )
    picked = [cid for cid, n in rows if n >= LIMIT] or [cid for cid, _ in rows[:50]]
    rng = random.Random(21)
    rng.shuffle(picked)
    headers = _headers(ctx)
    paths = [f"/api/v1/conversations/{cid}/messages?limit={LIMIT}" for cid in picked]
    answered = [len(_get(ctx, p, headers)) for p in paths[:5]]
    ctx.note(
        "api_conversation_messages",
        f"broker {broker_id} ({email}) started {ctx._cache['comms_broker'][2]} conversations; "
        f"{len(picked)} with {LIMIT}+ messages rotated (largest "
        f"{rows[0][1] if rows else 0}); messages answered (sample) {answered}",
    )
    return Requests(paths, headers=headers)


def _broker_traders(ctx: Any) -> list[int]:
    broker_id, _ = comms_broker(ctx)
    if "comms_traders" not in ctx._cache:
        ids = [
            t
            for (t,) in ctx.sql(
                "SELECT DISTINCT p.trader_id FROM conversation_participants p "
                "JOIN conversations c ON c.id = p.conversation_id "
                "WHERE c.started_by_id = ? AND p.trader_id IS NOT NULL ORDER BY 1",
                broker_id,
            )
        ]
        random.Random(22).shuffle(ids)
        ctx._cache["comms_traders"] = ids[:ROTATE]
    return list(ctx._cache["comms_traders"])


def trader_communications(ctx: Any) -> Requests:
    ids = _broker_traders(ctx)
    headers = _headers(ctx)
    paths = [f"/api/v1/traders/{t}/communications" for t in ids]
    totals = [_get(ctx, p, headers)["total"] for p in paths[:10]]
    ctx.note(
        "api_trader_communications",
        f"{len(ids)} traders rotated; communications per trader (sample) {totals}",
    )
    return Requests(paths, headers=headers)


def message_send(ctx: Any) -> Requests:
    """POST /api/v1/communications, in-app, to the broker's traders (rotated over 200)."""
    ids = _broker_traders(ctx)[:200]
    headers = _headers(ctx)
    bodies = [
        json.dumps(
            {
                "trader_id": t,
                "message_type": "in_app",
                "content": f"Bench message {n}: indicative levels attached, call me.",
            }
        )
        for n, t in enumerate(ids)
    ]
    r = httpx.post(
        f"{ctx.api.base_url}/api/v1/communications",
        content=bodies[0],
        headers={**headers, "Content-Type": "application/json"},
        timeout=60,
    )
    if r.status_code != 201:
        raise RuntimeError(f"POST /api/v1/communications answered {r.status_code}: {r.text[:500]}")
    ctx.note("api_message_send", f"{len(bodies)} bodies rotated over the broker's traders")
    return Requests(
        ["/api/v1/communications"] * len(bodies), method="POST", bodies=bodies, headers=headers
    )


# ---- the outbox ------------------------------------------------------------------------------


class SendGridStub:
    """Answers POST /v3/mail/send like SendGrid (202, X-Message-Id), counting the emails."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with stub.lock:
                    stub.count += 1
                    n = stub.count
                self.send_response(202)
                self.send_header("X-Message-Id", f"bench-{n}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The socketserver default (5) drops connections the sender opens in parallel: the
            # kernel then retries each after a second, which measured the stub, not the outbox.
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _app_settings(run_db: Any, **env: str) -> Iterator[None]:
    """The app's code in this process on the run's database, with these settings."""
    from brm_app import bootstrap
    from brm_app.db import get_engine
    from brm_app.settings import get_settings

    saved = {k: os.environ.get(k) for k in env}
    ds._point_app_at(f"sqlite:///{run_db}", run_db.parent)
    os.environ.update(env)
    get_settings.cache_clear()
    bootstrap.wire()
    try:
        yield
    finally:
        get_engine().dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        get_engine.cache_clear()


def outbox_drain(ctx: Any, settings: LoadSettings) -> Figures:
    import sqlalchemy as sa
    from sqlmodel import col, select

    from bench.scenarios import _figures
    from brm_app.db import unit_of_work, utcnow
    from brm_app.jobs import kinds
    from brm_app.models.communication import (
        Channel,
        Conversation,
        ConversationParticipant,
        DeliveryStatus,
        Direction,
        Message,
        MessageDelivery,
    )
    from brm_app.models.trader import Trader
    from brm_app.services import communications, conversations

    assert ctx.run_db is not None
    broker_id, _ = comms_broker(ctx)
    stub = SendGridStub()
    times: list[float] = []
    notes: list[str] = []
    try:
        with _app_settings(
            ctx.run_db,
            BRM_EMAIL_PROVIDER="sendgrid",
            BRM_SENDGRID_API_KEY="SG.bench-key",
            BRM_SENDGRID_API_HOST=stub.url,
            BRM_SCHEDULER_SECONDS="0",
            BRM_INBOUND_DOMAIN="inbound.bench.example",
        ):
            with unit_of_work() as db:
                pairs = db.exec(
                    select(Trader, col(ConversationParticipant.conversation_id))
                    .join(
                        ConversationParticipant,
                        col(ConversationParticipant.trader_id) == col(Trader.id),
                    )
                    .join(
                        Conversation,
                        col(Conversation.id) == col(ConversationParticipant.conversation_id),
                    )
                    .where(col(Conversation.started_by_id) == broker_id)
                    .limit(1000)
                ).all()
            if not pairs:
                raise RuntimeError("no trader in the broker's conversations")

            def queue_1000() -> list[int]:
                ids = []
                with unit_of_work(write=True) as db:
                    for n in range(OUTBOX_EMAILS):
                        trader, conv_id = pairs[n % len(pairs)]
                        conv = db.get(Conversation, conv_id)
                        assert conv is not None and trader.email
                        msg = Message(
                            conversation_id=conv_id,
                            firm_id=conv.firm_id,
                            sender_user_id=broker_id,
                            trader_id=trader.id,
                            channel=Channel.EMAIL.value,
                            direction=Direction.OUTBOUND.value,
                            text=f"Bench email {n}: the levels we discussed.",
                            sent_at=utcnow(),
                        )
                        db.add(msg)
                        db.flush()
                        conversations.index_words(db.connection(), [(msg.id, msg.text)])
                        d = communications.queue_delivery(
                            db, msg, trader, Channel.EMAIL, trader.email
                        )
                        ids.append(d.id)
                return ids

            def run() -> float:
                ids = queue_1000()
                before = stub.count
                runner = kinds.build_runner()
                t = time.perf_counter()
                rounds = 0
                while True:
                    # The jobs only: a round would also fire the book's reminders that fell due
                    # since its anchor (175,000 on the full book), which is not the outbox.
                    runner.run_jobs()
                    rounds += 1
                    with unit_of_work() as db:
                        left = db.exec(
                            select(sa.func.count()).where(
                                col(MessageDelivery.id).in_(ids),
                                col(MessageDelivery.status) != DeliveryStatus.SENT.value,
                            )
                        ).one()
                    if not left or rounds > 1000:
                        break
                elapsed = time.perf_counter() - t
                if left:
                    raise RuntimeError(f"outbox: {left} of {OUTBOX_EMAILS} emails not sent")
                notes.append(f"{stub.count - before} emails to the stub in {rounds} round(s)")
                return elapsed

            for _ in range(OUTBOX_RUNS):
                times.append(run())
    finally:
        stub.close()
    ctx.note(
        "outbox_drain_1000",
        f"{OUTBOX_RUNS} runs of {OUTBOX_EMAILS} queued emails (SendGrid SDK -> stub "
        f"{stub.url}); {'; '.join(notes)}",
    )
    return _figures(times, sum(times)) if len(times) > 1 else _figures(times * 2, times[0])


# ---- the live push in Chromium ------------------------------------------------------------------

_WATCH = """
(want) => {
  const b = (window.__push = window.__push || {});
  if (b.observer) b.observer.disconnect();
  b.done = null;
  b.promise = new Promise((resolve, reject) => {
    const check = () => {
      const shown = Array.from(document.querySelectorAll('.msg-text'));
      if (shown.some((e) => e.textContent.trim() === want)) {
        obs.disconnect();
        requestAnimationFrame(() => {
          b.done = performance.timeOrigin + performance.now();
          resolve(b.done);
        });
      }
    };
    const obs = new MutationObserver(check);
    b.observer = obs;
    obs.observe(document, {childList: true, subtree: true, characterData: true});
    setTimeout(() => reject(new Error('not shown within 20 s')), 20000);
    check();
  });
}
"""


def _portal_trader(ctx: Any, firm_id: int) -> tuple[int, str, str]:
    """A new trader of the firm with portal access, their password changed: (id, email,
    password)."""
    stamp = time.time_ns()
    email = f"push-{stamp}@trader.bench.example"
    r = ctx.api.post(
        f"/api/v1/firms/{firm_id}/traders",
        json={"name": f"Push Trader {stamp}", "email": email, "permissions": ["portal_access"]},
    )
    if r.status_code != 201:
        raise RuntimeError(f"creating the portal trader answered {r.status_code}: {r.text[:500]}")
    trader_id, first = r.json()["trader_id"], r.json()["portal_initial_password"]
    password = "bench portal password 1"
    r = httpx.post(
        f"{ctx.api.base_url}/api/v1/auth/token",
        data={"username": email, "password": first},
        timeout=60,
    )
    r.raise_for_status()
    token = r.json()["access_token"]  # not kept: changing the password ends it
    r = httpx.post(
        f"{ctx.api.base_url}/api/v1/users/me/password",
        headers={"Authorization": f"Bearer {token}"},
        json={"current_password": first, "new_password": password},
        timeout=60,
    )
    if r.status_code != 204:
        raise RuntimeError(f"changing the portal password answered {r.status_code}: {r.text}")
    return trader_id, email, password


def message_push(ctx: Any, settings: LoadSettings) -> Figures:
    from playwright.sync_api import sync_playwright

    from bench.browser import CHROMIUM, LAUNCH_ARGS, _sign_in
    from bench.scenarios import _figures

    broker_id, broker_email = comms_broker(ctx)
    (firm_id,) = ctx.sql(
        "SELECT firm_id FROM conversations WHERE started_by_id = ? ORDER BY id LIMIT 1", broker_id
    )[0]
    trader_id, trader_email, trader_password = _portal_trader(ctx, firm_id)
    base = str(ctx.api.base_url)
    broker = _headers(ctx)
    r = httpx.post(
        f"{base}/api/v1/conversations",
        headers=broker,
        json={"trader_ids": [trader_id], "subject": "Live push", "content": "Morning."},
        timeout=60,
    )
    if r.status_code != 201:
        raise RuntimeError(f"starting the conversation answered {r.status_code}: {r.text[:500]}")
    conv_id = r.json()["conversation_id"]
    trader = {"Authorization": f"Bearer {ctx.token_for(trader_email, trader_password)}"}
    url = f"{base}/api/v1/conversations/{conv_id}/messages"
    for n in range(40):  # some history on the page
        who = broker if n % 2 else trader
        httpx.post(url, headers=who, json={"content": f"History {n}"}, timeout=60)
    samples: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            _sign_in(page, base, broker_email, ds.BROKER_PASSWORD)
            page.goto(f"{base}/communications?conversation={conv_id}")
            page.locator("#conv-messages").get_by_text("History 39", exact=True).wait_for(
                timeout=60_000
            )
            with httpx.Client(headers=trader, timeout=60) as client:
                for n in range(PUSH_WARMUP + PUSH_SAMPLES):
                    text = f"Push {n} {time.time_ns()}"
                    page.evaluate(_WATCH, text)
                    started = time.time() * 1000
                    r = client.post(url, json={"content": text})
                    if r.status_code != 201:
                        raise RuntimeError(f"trader's message answered {r.status_code}")
                    done = page.evaluate("window.__push.promise")
                    if n >= PUSH_WARMUP:
                        samples.append((done - started) / 1000)
                    time.sleep(0.3)
        finally:
            browser.close()
    ctx.note(
        "ui_message_push_ms",
        f"broker {broker_email} on /communications?conversation={conv_id}; a portal trader "
        f"posts through the API; {len(samples)} samples after {PUSH_WARMUP} warm-up",
    )
    return _figures(samples, sum(samples))
