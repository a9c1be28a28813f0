"""The Communication Center (/communications), the portal home (/portal) and the messages badge.

Thin callers of services.conversations / communications / attachments. Handlers take plain ids
and text; what the browser holds is only what the signed-in user may see (the services check
every id again). New messages and unread counts arrive live: live.deliver_messages refreshes the
open tabs of everyone a conversation concerns (see brm_app/live.py).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import reflex as rx

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, has
from brm_app.models.communication import CommunicationPublic, ConversationPublic
from brm_app.services import communications, conversations, portfolios
from brm_app.services import number_format as nf
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.auth import _api_path
from brm_app.state.base import ServiceMixin, as_id

FILE_INPUT_ID = "composer-file"
LIST_SIZE = 50
CHANNEL_LABELS = {"in_app": "In-app", "email": "Email", "sms": "SMS"}

UPLOAD_SCRIPT_TEMPLATE = """
(async () => {{
  const input = document.getElementById({input_id});
  const file = input && input.files && input.files[0];
  if (!file) return {{error: "Choose a file."}};
  if (file.size > {max_bytes}) {{ input.value = ""; return {{error: "The file is larger than 10 MB."}}; }}
  try {{
    const r = await fetch({path} + "?conversation_id=" + {conversation_id}, {{
      method: "POST", credentials: "include", body: file,
      headers: {{"Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(file.name)}},
    }});
    const body = await r.json().catch(() => ({{}}));
    input.value = "";
    if (!r.ok) return {{error: body.detail || ("The upload failed (" + r.status + ").")}};
    return body;
  }} catch (e) {{
    input.value = "";
    return {{error: "The upload failed: " + e}};
  }}
}})()
"""


def upload_script(conversation_id: Any) -> str:
    from brm_app.models.communication import ATTACHMENT_MAX_BYTES

    return UPLOAD_SCRIPT_TEMPLATE.format(
        input_id=json.dumps(FILE_INPUT_ID),
        max_bytes=ATTACHMENT_MAX_BYTES,
        path=json.dumps(_api_path("/api/session/attachments")),
        conversation_id=int(conversation_id),
    )


def conversation_title(c: ConversationPublic, *, for_trader: bool) -> str:
    """What a conversation is called: the traders in it, or for a trader (whose own name says
    nothing) the broker who started it."""
    if for_trader:
        return c.started_by_name or "Your broker"
    return ", ".join(t.name for t in c.traders) or "—"


def composer_error(exc: DomainError) -> str:
    """A refusal as a sentence for the composer: without the API's field name
    ("message_type: ..."), first letter capitalised."""
    message = exc.message
    if isinstance(exc, ValidationFailed):
        message = next(iter(exc.errors.values()), message)
    return message[:1].upper() + message[1:]


def portal_row(found: portfolios.PortalPortfolio, loc: str) -> dict[str, Any]:
    """The portal home's portfolio card, numbers as the user's locale writes them."""
    p = found.portfolio
    return {
        "firm": found.firm_name,
        "href": f"/firms/{found.firm_id}/portfolio",
        "shared": found.shared,
        "has_portfolio": p is not None,
        "value": f"{nf.number(p.total_value, loc)} {p.reporting_currency}" if p else "",
        "today": (
            ("+" if p.performance_metrics.today_change > 0 else "")
            + f"{nf.number(p.performance_metrics.today_change, loc)} {p.reporting_currency}"
        )
        if p
        else "",
        "up": bool(p and p.performance_metrics.today_change >= 0),
        "holdings": nf.count(len(p.assets), loc) if p else "0",
    }


def conversation_row(c: ConversationPublic, *, for_trader: bool = False) -> dict[str, Any]:
    return {
        "id": c.conversation_id,
        "title": conversation_title(c, for_trader=for_trader),
        "subject": c.subject,
        "firm": c.firm_name,
        "firm_id": c.firm_id,
        "last": c.last_message,
        "when": c.last_message_at.isoformat(),
        "unread": c.unread,
        "href": f"/communications?conversation={c.conversation_id}",
    }


def message_row(m: CommunicationPublic, me: int) -> dict[str, Any]:
    statuses = [
        f"{d.channel.value.upper()} {d.status.value}"
        + (
            f" ({d.error})"
            if d.error and d.status.value in ("failed", "bounced", "unknown")
            else ""
        )
        for d in m.deliveries
    ]
    # Who else has read it: not its sender, nor the one looking (opening a conversation marks
    # one's own messages read too, and "Read by <me>" says nothing).
    readers = [r.name for r in m.read_by if r.user_id not in (me, m.sender_user_id)]
    return {
        "id": m.communication_id,
        "mine": m.sender_user_id == me,
        "sender": m.sender_name or "—",
        "text": m.content,
        "when": m.sent_at.isoformat(),
        "channel": CHANNEL_LABELS.get(m.message_type.value, m.message_type.value),
        "inbound": m.direction.value == "inbound",
        "correction_of": m.correction_of or 0,
        "attachments": [
            {
                "id": a.attachment_id,
                "name": a.filename,
                "href": _api_path(f"/api/session/attachments/{a.attachment_id}"),
            }
            for a in m.attachments
        ],
        "status": ", ".join(statuses),
        "read_by": ("Read by " + ", ".join(readers)) if readers else "",
        "delivery_ids": [d.delivery_id for d in m.deliveries if d.status.value == "unknown"],
    }


class MessageBadgeState(ServiceMixin, rx.State):
    """Unread messages over every conversation: in the top bar of every page, pushed live."""

    unread: int = 0

    @rx.event
    async def load(self) -> Any:
        await self._refresh()

    async def _refresh(self) -> None:
        try:
            self.unread = await self._call(conversations.unread_total)
        except DomainError:
            self.unread = 0


class CommsState(ServiceMixin, rx.State):
    loaded: bool = False
    q: str = ""
    firm_filter: int = 0
    conversations: list[dict[str, Any]] = []
    # The open conversation
    open_id: int = 0
    open_title: str = ""
    open_firm: str = ""
    # The firm's client has not been told communications are recorded (the composer warns).
    open_undisclosed: bool = False
    open_subject: str = ""
    open_traders: list[dict[str, str]] = []
    # Broker side and compliance: "SMS: <name> opted out since <date>" for each trader here
    # whose mobile answered STOP.
    open_sms_notes: list[str] = []
    messages: list[dict[str, Any]] = []
    # Who the viewer is (what the page offers them)
    can_write: bool = False
    broker_side: bool = False
    can_read_log: bool = False
    me: int = 0
    # Composer
    channel: str = "in_app"
    to_trader: str = ""
    draft_key: int = 0
    pending: list[dict[str, Any]] = []
    correcting: int = 0
    error: str = ""
    # Per-trader tab: every communication with one trader, every channel
    trader_id: int = 0
    trader_name: str = ""
    trader_rows: list[dict[str, Any]] = []
    trader_sms_note: str = ""
    tab: str = "conversation"
    # A portal trader's home: their firm's portfolio (services.portfolios.portal_portfolio).
    portal: dict[str, Any] = {}

    @rx.var
    def upload_js(self) -> str:
        return upload_script(self.open_id) if self.open_id else ""

    # ---- loading ---------------------------------------------------------------------------

    @rx.event
    async def load(self) -> Any:
        params = self.router.url.query_parameters
        self.error, self.pending, self.correcting = "", [], 0
        self.q = ""
        self.firm_filter = as_id(_int(params.get("firm"))) or 0

        def who(db: Any, *, actor: Actor) -> tuple[int, bool, bool, bool]:
            return (
                actor.user_id,
                has(actor, Permission.COMMS_SEND),
                conversations.on_broker_side(actor),
                has(actor, Permission.COMMS_LOG),
            )

        try:
            self.me, self.can_write, self.broker_side, self.can_read_log = await self._call(who)
        except DomainError as exc:
            return self._error_event(exc)
        self.loaded = True
        if not self.broker_side:
            await self._load_portal()
        await self._refresh_list()
        trader = as_id(_int(params.get("trader")))
        conversation = as_id(_int(params.get("conversation")))
        self.trader_id, self.trader_name, self.trader_rows = 0, "", []
        self.trader_sms_note = ""
        self.tab = "conversation"
        if trader is not None:
            await self._load_trader(trader)
            self.tab = "trader"
        if conversation is not None:
            return await self._open(conversation)
        if self.open_id and not any(c["id"] == self.open_id for c in self.conversations):
            self._close()
        return None

    async def _load_portal(self) -> None:
        try:
            found = await self._call(portfolios.portal_portfolio)
        except DomainError:
            found = None
        self.portal = portal_row(found, await self._number_locale()) if found else {}

    def _close(self) -> None:
        self.open_id, self.open_title, self.open_firm, self.open_subject = 0, "", "", ""
        self.messages, self.open_traders, self.open_sms_notes = [], [], []

    async def _refresh_list(self) -> None:
        try:
            page = await self._call(
                conversations.list_conversations,
                q=self.q or None,
                firm_id=self.firm_filter or None,
                page=PageRequest(limit=LIST_SIZE),
            )
        except DomainError as exc:
            self.error = exc.message
            return
        for_trader = self._trader_view()
        self.conversations = [conversation_row(c, for_trader=for_trader) for c in page.items]

    def _trader_view(self) -> bool:
        """A portal trader: writes, but not on the broker side."""
        return self.can_write and not self.broker_side

    async def _load_trader(self, trader_id: int) -> None:
        broker_side = self.broker_side or self.can_read_log

        def run(db: Any, *, actor: Actor) -> tuple[str, list[CommunicationPublic], str]:
            from brm_app.services import traders

            t = traders.load(db, actor, trader_id)
            page = conversations.trader_communications(db, actor=actor, trader_id=trader_id)
            note = ""
            if broker_side:
                note = communications.sms_opt_out_note(db, actor=actor, trader_id=trader_id)
            return t.name, page.items, note

        try:
            name, items, note = await self._call(run)
        except DomainError as exc:
            self.error = exc.message
            return
        self.trader_id, self.trader_name, self.trader_sms_note = trader_id, name, note
        self.trader_rows = [message_row(m, self.me) for m in items]
        self.to_trader = str(trader_id)

    @rx.event
    async def search(self, form: dict[str, Any]) -> Any:
        q = form.get("q") if isinstance(form, dict) else None
        self.q = q.strip()[:200] if isinstance(q, str) else ""
        await self._refresh_list()

    @rx.event
    async def open(self, conversation_id: int) -> Any:
        return await self._open(conversation_id)

    async def _open(self, value: Any) -> Any:
        conversation_id = as_id(value)
        if conversation_id is None:
            return None
        self.error, self.pending, self.correcting = "", [], 0
        if not await self._load_open(conversation_id, mark=True):
            return None
        await self._refresh_list()
        self.tab = "conversation"
        return MessageBadgeState.load

    async def _load_open(self, conversation_id: int, *, mark: bool) -> bool:
        can_write = self.can_write

        broker_side = self.broker_side or self.can_read_log

        def run(
            db: Any, *, actor: Actor
        ) -> tuple[ConversationPublic, list[CommunicationPublic], list[str]]:
            conv = conversations.get_conversation(db, actor=actor, conversation_id=conversation_id)
            if mark and can_write:
                conversations.mark_read(db, actor=actor, conversation_id=conversation_id)
            msgs = conversations.list_messages(db, actor=actor, conversation_id=conversation_id)
            notes = []
            for t in conv.traders if broker_side else []:
                if t.trader_id:
                    with contextlib.suppress(DomainError):  # a trader this user may not see
                        notes.append(
                            communications.sms_opt_out_note(db, actor=actor, trader_id=t.trader_id)
                        )
            return conv, msgs, [n for n in notes if n]

        try:
            conv, msgs, notes = await self._call(run, write=mark and can_write)
        except DomainError as exc:
            self._close()
            self.error = exc.message
            return False
        self.open_id = conv.conversation_id
        self.open_title = conversation_title(conv, for_trader=self._trader_view())
        self.open_firm = conv.firm_name
        self.open_undisclosed = not conv.recording_disclosed
        self.open_subject = conv.subject
        self.open_traders = [
            {"id": str(t.trader_id), "name": t.name} for t in conv.traders if t.trader_id
        ]
        if self.open_traders and self.to_trader not in {t["id"] for t in self.open_traders}:
            self.to_trader = self.open_traders[0]["id"]
        self.messages = [message_row(m, self.me) for m in msgs]
        self.open_sms_notes = notes
        return True

    # A push: a conversation this user sees changed (a message, a status, a receipt). In two
    # steps (live.push_messages), each sent to the page when it ends: the open conversation's
    # messages first (a read), then its read mark (a write), the list and the trader tab.
    async def _live_refresh_open(self, conversation_ids: list[int]) -> None:
        if self.loaded and self.open_id and self.open_id in conversation_ids:
            await self._load_open(self.open_id, mark=False)

    async def _live_refresh_rest(self, conversation_ids: list[int]) -> None:
        if not self.loaded:
            return
        if self.open_id and self.open_id in conversation_ids and self.can_write:
            conversation_id = self.open_id

            def mark(db: Any, *, actor: Actor) -> None:
                conversations.mark_read(db, actor=actor, conversation_id=conversation_id)

            # (gone from this user's view meanwhile: the list below says so)
            with contextlib.suppress(DomainError):
                await self._call(mark, write=True)
        await self._refresh_list()
        if self.trader_id:
            await self._load_trader(self.trader_id)

    # ---- composing ---------------------------------------------------------------------------

    @rx.event
    def set_channel(self, value: str) -> Any:
        if value in ("in_app", "email", "sms") and (self.broker_side or value == "in_app"):
            self.channel = value

    @rx.event
    def set_to_trader(self, value: str) -> Any:
        if isinstance(value, str) and value.isdigit():
            self.to_trader = value

    @rx.event
    def start_correction(self, message_id: int) -> Any:
        mid = as_id(message_id)
        self.correcting = mid or 0

    @rx.event
    def cancel_correction(self) -> Any:
        self.correcting = 0

    @rx.event
    async def uploaded(self, result: dict[str, Any]) -> Any:
        """The upload script's answer: {"attachment_id", "filename", "size"} or {"error"}."""
        if not isinstance(result, dict):
            self.error = "The upload failed."
            return None
        if isinstance(result.get("error"), str):
            self.error = str(result["error"])[:300]
            return None
        att_id = as_id(result.get("attachment_id"))
        name = result.get("filename")
        if att_id is None or not isinstance(name, str):
            self.error = "The upload failed."
            return None
        self.error = ""
        self.pending = [*self.pending, {"id": att_id, "name": name[:200]}][:10]
        return None

    @rx.event
    def drop_pending(self, attachment_id: int) -> Any:
        self.pending = [p for p in self.pending if p["id"] != attachment_id]

    @rx.event
    async def send(self, form: dict[str, Any]) -> Any:
        content = form.get("content") if isinstance(form, dict) else None
        if not isinstance(content, str):
            self.error = "Write a message."
            return None
        conv_id, channel = self.open_id, self.channel
        to = as_id(_int(self.to_trader)) if self.to_trader else None
        ids = [p["id"] for p in self.pending]
        correcting = self.correcting or None

        def run(db: Any, *, actor: Actor) -> CommunicationPublic:
            if channel == "in_app" and conv_id:
                return conversations.send_message(
                    db,
                    actor=actor,
                    conversation_id=conv_id,
                    content=content,
                    correction_of=correcting,
                    attachment_ids=ids,
                )
            if to is None:
                raise ValidationFailed("choose the trader to send it to", field="trader_id")
            return communications.send_to_trader(
                db,
                actor=actor,
                trader_id=to,
                message_type=channel,
                content=content,
                conversation_id=conv_id or None,
                attachment_ids=ids,
            )

        try:
            sent = await self._call(run, write=True)
        except DomainError as exc:
            self.error = composer_error(exc)
            return None
        self.error, self.pending, self.correcting = "", [], 0
        self.draft_key += 1  # a fresh (empty) composer
        await self._load_open(sent.conversation_id, mark=False)
        await self._refresh_list()
        if self.trader_id:
            await self._load_trader(self.trader_id)
        return None

    @rx.event
    async def resend(self, delivery_id: int) -> Any:
        return await self._delivery(delivery_id, communications.resend)

    @rx.event
    async def dismiss(self, delivery_id: int) -> Any:
        return await self._delivery(delivery_id, communications.dismiss)

    async def _delivery(self, delivery_id: Any, fn: Any) -> Any:
        did = as_id(delivery_id)
        if did is None:
            return None
        try:
            await self._call(fn, write=True, delivery_id=did)
        except DomainError as exc:
            return self._error_event(exc)
        if self.open_id:
            await self._load_open(self.open_id, mark=False)
        return None

    @rx.event
    async def start_with_trader(self) -> Any:
        """From the per-trader tab: a new in-app conversation with this trader."""
        tid = self.trader_id

        def run(db: Any, *, actor: Actor) -> tuple[int, str]:
            from brm_app.services import traders

            # In the app with portal access; else by email or SMS, as the trader can be reached
            # (send_to_trader checks the channel again when the message goes).
            t = traders.load(db, actor, tid)
            if t.portal_access:
                channel = "in_app"
            elif t.receive_email and t.email:
                channel = "email"
            elif t.receive_sms and t.mobile:
                channel = "sms"
            else:
                raise ValidationFailed(
                    f"{t.name} has no portal access and takes neither email nor SMS: grant one "
                    "on the trader's page first",
                    field="trader_ids",
                )
            conv = conversations.start_conversation(
                db, actor=actor, trader_ids=[tid], need_portal=channel == "in_app"
            )
            return conv.id or 0, channel

        try:
            conv_id, channel = await self._call(run, write=True)
        except DomainError as exc:
            self.error = composer_error(exc)
            return None
        await self._refresh_list()
        self.channel = channel
        return await self._open(conv_id)

    @rx.event
    def show_tab(self, value: str | list[str]) -> Any:
        if isinstance(value, str) and value in ("conversation", "trader"):
            self.tab = value


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None
