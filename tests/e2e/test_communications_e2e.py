"""Communications in Chromium, two browser contexts: a broker and a trader (portal) chat, each
message appears on the other page without a reload, an attachment downloads, the read receipt
shows; the broker texts the trader through Twilio's SDK to a stub on 127.0.0.1, and the
"delivered" status appears once the stub calls the signed status webhook."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from twilio.request_validator import RequestValidator

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, _serving, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e communications password"
TOKEN = "e2e-twilio-auth-token"
SID = "AC" + "2" * 32
PDF = b"%PDF-1.4\n% e2e attachment\n%%EOF\n"


class TwilioStub:
    """Accepts Messages.json like Twilio, then reports "delivered" to the status callback, signed
    with the account's auth token (as Twilio does)."""

    def __init__(self) -> None:
        self.app_url = ""
        self.sent: list[dict[str, list[str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
                stub.sent.append(form)
                sid = f"SM{len(stub.sent):032d}"
                body = json.dumps({"sid": sid, "status": "queued", "account_sid": SID}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                callback = form.get("StatusCallback", [""])[0]
                threading.Thread(target=stub.report, args=(callback, sid), daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def report(self, callback: str, sid: str) -> None:
        time.sleep(0.5)
        params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID}
        signature = RequestValidator(TOKEN).compute_signature(callback, params)
        target = self.app_url + urlsplit(callback).path
        httpx.post(target, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


@pytest.fixture(scope="module")
def stub() -> Iterator[TwilioStub]:
    s = TwilioStub()
    yield s
    s.server.shutdown()


@pytest.fixture(scope="module")
def comms_server(tmp_path_factory, stub) -> Iterator[Server]:
    with _serving(
        tmp_path_factory.mktemp("e2e-comms"),
        BRM_DEMO="0",
        BRM_SMS_PROVIDER="twilio",
        BRM_TWILIO_ACCOUNT_SID=SID,
        BRM_TWILIO_AUTH_TOKEN=TOKEN,
        BRM_TWILIO_FROM="+15005550006",
        BRM_TWILIO_API_BASE=stub.url,
    ) as running:
        stub.app_url = running.url
        yield running


def _token(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    r = api.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _world(server: Server) -> tuple[str, str, int]:
    """A manager, her broker (covers the firm), and Tess, a trader with portal access and a
    mobile number. Returns (broker email, trader email, trader id)."""
    with server.api() as api:
        admin = _token(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        people = {}
        for role, email, name in (
            ("manager", "mona@comms.example", "Mona Manager"),
            ("broker", "bob@comms.example", "Bob Broker"),
        ):
            body = {"email": email, "role": role, "name": name, "password": PASSWORD + "!"}
            if role == "broker":
                body["manager_id"] = people["manager"]
            r = api.post("/api/v1/users", headers=admin, json=body)
            assert r.status_code == 201, r.text
            people[role] = r.json()["user_id"]
            own = _token(api, email, PASSWORD + "!")
            r = api.post(
                "/api/v1/users/me/password",
                headers=own,
                json={"current_password": PASSWORD + "!", "new_password": PASSWORD},
            )
            assert r.status_code == 204, r.text
        broker = _token(api, "bob@comms.example", PASSWORD)
        firm = api.post("/api/v1/firms", headers=broker, json={"name": "Chat Capital"}).json()
        manager = _token(api, "mona@comms.example", PASSWORD)
        r = api.post(
            f"/api/v1/firms/{firm['firm_id']}/traders",
            headers=manager,
            json={
                "name": "Tess Trader",
                "email": "tess@comms.example",
                "mobile": "+447911123456",
                "permissions": ["portal_access", "view_portfolio", "receive_email", "receive_sms"],
            },
        )
        assert r.status_code == 201, r.text
        first = r.json()["portal_initial_password"]
        # The firm's first transaction makes its portfolio (its home shows it to Tess).
        r = api.post(
            f"/api/v1/firms/{firm['firm_id']}/portfolio/transactions",
            headers=broker,
            json={
                "kind": "deposit",
                "trade_date": "2026-01-05",
                "amount": "2500",
                "currency": "USD",
            },
        )
        assert r.status_code == 201, r.text
        own = _token(api, "tess@comms.example", first)
        r = api.post(
            "/api/v1/users/me/password",
            headers=own,
            json={"current_password": first, "new_password": PASSWORD},
        )
        assert r.status_code == 204, r.text
        return "bob@comms.example", "tess@comms.example", _trader_id(api, broker)


def _trader_id(api: httpx.Client, headers: dict[str, str]) -> int:
    found = api.get("/api/v1/traders", headers=headers).json()["items"]
    return next(t["trader_id"] for t in found if t["email"] == "tess@comms.example")


def _page(browser: Browser, server: Server, email: str) -> Page:
    page = browser.new_context(accept_downloads=True).new_page()
    sign_in(page, server.url, email, PASSWORD)
    return page


def _send(page: Page, text: str) -> None:
    page.fill("#composer-text", text)
    page.click("#composer-send")


def test_broker_and_trader_chat_live_with_attachment_receipt_and_sms(
    browser: Browser, comms_server: Server, stub: TwilioStub, tmp_path
):
    server = comms_server
    broker_email, trader_email, trader_id = _world(server)
    broker = _page(browser, server, broker_email)
    trader = _page(browser, server, trader_email)
    # The trader lands on their portal home.
    trader.goto(server.url + "/")
    trader.wait_for_url("**/portal", timeout=20_000)
    # Their firm's portfolio, shared with them: its value, and the way to the read-only page.
    card = trader.locator("#portal-portfolio")
    expect(card).to_contain_text("Chat Capital portfolio", timeout=15_000)
    expect(card).to_contain_text("2,500.00 USD")
    expect(trader.locator("#portal-portfolio-link")).to_have_attribute(
        "href", re.compile(r"/firms/\d+/portfolio$")
    )
    nav = trader.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Portal home")).to_be_visible()
    expect(nav.get_by_role("link", name="Firms")).to_have_count(0)

    # The broker opens the trader's communications and starts a conversation.
    broker.goto(f"{server.url}/communications?trader={trader_id}")
    broker.click("#start-with-trader")
    expect(broker.locator("#conv-title")).to_have_text("Tess Trader", timeout=15_000)
    with server.api() as api:
        mine = api.get("/api/v1/conversations", headers=_token(api, broker_email, PASSWORD))
        conversation_url = (
            f"{server.url}/communications?conversation={mine.json()['items'][0]['conversation_id']}"
        )
    _send(broker, "Hello Tess, the term sheet follows.")
    expect(broker.locator(".msg-text").last).to_have_text(
        "Hello Tess, the term sheet follows.", timeout=10_000
    )

    # The trader's portal shows the conversation and its unread count, live.
    expect(trader.locator(".conv-unread").first).to_have_text("1", timeout=5_000)
    trader.locator(".conv-item").first.click()
    expect(trader.locator(".msg-text").last).to_have_text(
        "Hello Tess, the term sheet follows.", timeout=10_000
    )
    # ... and the broker sees it read, without a reload.
    expect(broker.locator(".msg-read").last).to_have_text("Read by Tess Trader", timeout=5_000)

    # An attachment: uploaded by the broker, appears on the trader's open page, downloads.
    pdf = tmp_path / "terms.pdf"
    pdf.write_bytes(PDF)
    broker.set_input_files("#composer-file", str(pdf))
    expect(broker.get_by_text("terms.pdf")).to_be_visible(timeout=10_000)
    started = time.monotonic()
    _send(broker, "Term sheet attached")
    expect(trader.locator(".msg-text").last).to_have_text("Term sheet attached", timeout=5_000)
    assert time.monotonic() - started < 5
    # The attachment link on the trader's page serves the file with the trader's session.
    link = trader.locator(".msg-attachment").last
    expect(link).to_be_visible(timeout=5_000)
    href = link.get_attribute("href") or ""
    assert href.startswith("/api/session/attachments/"), href
    got = trader.request.get(server.url + href)
    assert got.status == 200, got.text()
    assert got.body() == PDF and "attachment" in got.headers["content-disposition"]
    # Not to someone without a session.
    assert httpx.get(server.url + href).status_code == 401

    # The trader replies: it appears on the broker's page without a reload.
    _send(trader, "Thanks, looks good.")
    expect(broker.locator(".msg-text").last).to_have_text("Thanks, looks good.", timeout=5_000)

    # An SMS through the Twilio SDK to the stub; "delivered" comes back through the webhook.
    broker.goto(conversation_url)
    expect(broker.locator(".msg-text").last).to_have_text("Thanks, looks good.", timeout=10_000)
    broker.click("#composer-channel")
    broker.get_by_role("option", name="SMS").click()
    _send(broker, "Margin call at 3pm")
    expect(broker.locator(".msg-status").last).to_contain_text("SMS delivered", timeout=20_000)
    assert stub.sent and stub.sent[-1]["To"] == ["+447911123456"]
    assert stub.sent[-1]["Body"] == ["Margin call at 3pm"]


def test_compliance_assigns_an_unmatched_sms_from_the_triage_list(
    browser: Browser, comms_server: Server
):
    """An SMS from an unknown number lands in the triage list; compliance assigns it to a trader
    on /communications/log and it becomes the trader's message in her conversation."""
    from tests.e2e.conftest import create_user_via_api

    server = comms_server
    with server.api() as api:
        admin = _token(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        found = api.get("/api/v1/traders?q=Tess", headers=admin).json()["items"]
    if not any(t["email"] == "tess@comms.example" for t in found):
        _world(server)
    create_user_via_api(server, "cora@comms.example", "compliance", "Cora Compliance", PASSWORD)
    with server.api() as api:
        broker = _token(api, "bob@comms.example", PASSWORD)
        trader_id = _trader_id(api, broker)
        r = api.post(
            "/api/v1/conversations",
            headers=broker,
            json={"trader_ids": [trader_id], "subject": "Triage", "content": "New thread"},
        )
        assert r.status_code == 201, r.text
        conversation_id = r.json()["conversation_id"]
        # An SMS from a number nobody has, signed like Twilio signs it.
        port = urlsplit(server.url).port
        path = "/api/v1/webhooks/twilio/inbound"
        params = {
            "MessageSid": "SM" + "7" * 32,
            "From": "+447700900555",
            "To": "+15005550006",
            "Body": "Tess here, new phone: buy 100 more",
            "AccountSid": SID,
        }
        signature = RequestValidator(TOKEN).compute_signature(
            f"http://localhost:{port}{path}", params
        )
        r = api.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert r.status_code == 200, r.text

    page = _page(browser, server, "cora@comms.example")
    page.goto(server.url + "/communications/log")
    item = page.locator(".triage-item").filter(has_text="new phone: buy 100 more")
    expect(item).to_be_visible(timeout=15_000)
    # The trader is found by name, then one of her conversations chosen (no ids to know).
    item.get_by_role("button", name="Assign to a trader…").click()
    item.get_by_label("Trader").fill("tess")
    item.get_by_role("button", name=re.compile("Tess Trader")).click()
    expect(item.get_by_label("Remove trader")).to_be_visible(timeout=10_000)
    item.get_by_label("Conversation").select_option(str(conversation_id))
    item.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".triage-item")).to_have_count(0, timeout=10_000)
    with server.api() as api:
        messages = api.get(
            f"/api/v1/conversations/{conversation_id}/messages", headers=broker
        ).json()
    assert messages[-1]["content"] == "Tess here, new phone: buy 100 more"
    assert messages[-1]["direction"] == "inbound" and messages[-1]["message_type"] == "sms"
