"""/communications: the Communication Center (conversations with unread counts and search, the open
conversation, the composer with attachments and channels, a trader's every communication), and
/portal: a trader's home (their conversations)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, field, file_button, page_header
from brm_app.state.communications import FILE_INPUT_ID, CommsState

# The state's vars as the page uses them (Reflex Vars: typed for the checker as Any).
S: Any = CommsState


def _conversation_item(c: Any) -> Any:
    active = S.open_id == c["id"].to(int)
    return rx.link(
        rx.hstack(
            rx.vstack(
                rx.text(c["title"], weight="bold", size="2", trim="both"),
                rx.text(c["firm"], size="1", color_scheme="gray"),
                # No leading trim here: with overflow hidden it cut the descenders off.
                rx.text(
                    c["last"],
                    size="1",
                    color_scheme="gray",
                    max_width="240px",
                    white_space="nowrap",
                    overflow="hidden",
                    text_overflow="ellipsis",
                    class_name="conv-last",
                ),
                spacing="0",
                min_width="0",
                flex="1",
            ),
            rx.cond(
                c["unread"].to(int) > 0,
                rx.badge(
                    c["unread"],
                    color_scheme="red",
                    variant="solid",
                    radius="full",
                    aria_label=c["unread"].to(str) + " unread",
                    class_name="conv-unread",
                ),
            ),
            align="center",
            width="100%",
            padding="8px",
            border_radius="8px",
            background=rx.cond(active, rx.color("indigo", 4), "transparent"),
            _hover={"background": rx.color("gray", 4)},
        ),
        href=c["href"],
        underline="none",
        color="inherit",
        width="100%",
        class_name="conv-item",
    )


def _conversation_list() -> Any:
    return card(
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    placeholder="Search traders, firms, text",
                    aria_label="Search conversations",
                    default_value=S.q,
                    flex="1",
                    id="conv-search",
                ),
                rx.icon_button(rx.icon("search", size=16), type="submit", aria_label="Search"),
                width="100%",
            ),
            on_submit=S.search,
            width="100%",
        ),
        rx.cond(
            S.conversations.length() > 0,
            rx.vstack(
                rx.foreach(S.conversations, _conversation_item),
                spacing="1",
                width="100%",
                id="conv-list",
            ),
            empty_state(
                "messages-square",
                "No conversations",
                rx.cond(
                    S.broker_side,
                    "Start one from a trader's page.",
                    "Your brokers' messages will appear here.",
                ),
            ),
        ),
    )


def _attachment_link(a: Any) -> Any:
    # A document request: the browser downloads it (rx.el.a is a React Router link, which
    # would route the address inside the app without reload_document).
    return rx.el.a(
        rx.hstack(rx.icon("paperclip", size=14), rx.text(a["name"], size="1"), spacing="1"),
        href=a["href"].to(str),
        download=a["name"].to(str),
        reload_document=True,
        class_name="msg-attachment",
    )


def _message(m: Any) -> Any:
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.text(m["sender"], size="1", weight="bold"),
                rx.badge(m["channel"], size="1", variant="soft"),
                rx.moment(m["when"], format="YYYY-MM-DD HH:mm", local=True, font_size="11px"),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            rx.cond(
                m["correction_of"].to(int) > 0,
                rx.text("Correction of an earlier message", size="1", color_scheme="amber"),
            ),
            rx.text(m["text"], size="2", white_space="pre-wrap", class_name="msg-text"),
            rx.foreach(m["attachments"].to(list[dict[str, str]]), _attachment_link),
            rx.cond(
                m["status"] != "",
                rx.text(m["status"], size="1", color_scheme="gray", class_name="msg-status"),
            ),
            rx.cond(
                m["read_by"] != "",
                rx.text(m["read_by"], size="1", color_scheme="green", class_name="msg-read"),
            ),
            rx.cond(
                m["delivery_ids"].to(list[int]).length() > 0,
                rx.hstack(
                    rx.foreach(
                        m["delivery_ids"].to(list[int]),
                        lambda d: rx.hstack(
                            rx.button("Resend", size="1", variant="soft", on_click=S.resend(d)),
                            rx.button("Dismiss", size="1", variant="ghost", on_click=S.dismiss(d)),
                        ),
                    )
                ),
            ),
            rx.cond(
                m["mine"].to(bool) & S.can_write,
                rx.button(
                    "Correct",
                    size="1",
                    variant="ghost",
                    on_click=S.start_correction(m["id"].to(int)),
                ),
            ),
            spacing="1",
            align="start",
        ),
        padding="8px 12px",
        border_radius="10px",
        max_width="min(560px, 100%)",
        align_self=rx.cond(m["mine"].to(bool), "flex-end", "flex-start"),
        background=rx.cond(m["mine"].to(bool), rx.color("indigo", 3), rx.color("gray", 3)),
        class_name="msg",
    )


def _composer() -> Any:
    return rx.form(
        rx.vstack(
            rx.cond(
                S.broker_side & S.open_undisclosed,
                rx.callout(
                    "This firm's client has not been told that communications are recorded "
                    "(MiFID II): tell them, and note the day in the firm's profile.",
                    icon="triangle-alert",
                    color_scheme="amber",
                    # Amber text on amber is below 4.5:1 (axe); high contrast meets it.
                    high_contrast=True,
                    size="1",
                    id="composer-disclosure-warning",
                ),
            ),
            rx.cond(
                S.correcting > 0,
                rx.hstack(
                    rx.text("Writing a correction", size="1", color_scheme="amber"),
                    rx.button(
                        "Cancel",
                        size="1",
                        variant="ghost",
                        on_click=S.cancel_correction,
                        type="button",
                    ),
                ),
            ),
            rx.cond(
                S.broker_side,
                rx.flex(
                    field(
                        "Channel",
                        rx.select.root(
                            rx.select.trigger(id="composer-channel"),
                            rx.select.content(
                                rx.select.item("In-app", value="in_app"),
                                rx.select.item("Email", value="email"),
                                rx.select.item("SMS", value="sms"),
                            ),
                            value=S.channel,
                            on_change=S.set_channel,
                        ),
                    ),
                    rx.cond(
                        S.open_traders.length() > 1,
                        field(
                            "To",
                            rx.select.root(
                                rx.select.trigger(id="composer-to"),
                                rx.select.content(
                                    rx.foreach(
                                        S.open_traders,
                                        lambda t: rx.select.item(t["name"], value=t["id"]),
                                    )
                                ),
                                value=S.to_trader,
                                on_change=S.set_to_trader,
                            ),
                        ),
                    ),
                    gap="12px",
                    wrap="wrap",
                ),
            ),
            field(
                "Message",
                rx.text_area(
                    name="content",
                    placeholder="Write a message",
                    rows="3",
                    max_length=10_000,
                    id="composer-text",
                    key=S.draft_key,
                    width="100%",
                ),
                S.error,
            ),
            rx.cond(
                S.pending.length() > 0,
                rx.hstack(
                    rx.foreach(
                        S.pending,
                        lambda p: rx.badge(
                            rx.icon("paperclip", size=12),
                            p["name"],
                            rx.icon_button(
                                rx.icon("x", size=12),
                                size="1",
                                variant="ghost",
                                type="button",
                                aria_label="Remove attachment",
                                on_click=S.drop_pending(p["id"].to(int)),
                            ),
                            variant="soft",
                        ),
                    ),
                    wrap="wrap",
                ),
            ),
            rx.flex(
                file_button(
                    "Attach a file",
                    "paperclip",
                    id=FILE_INPUT_ID,
                    accept=".pdf,.png,.jpg,.jpeg,.gif,.webp,.docx,.xlsx,.pptx,.doc,.xls,.ppt,.csv",
                    on_change=rx.call_script(S.upload_js, callback=S.uploaded),
                ),
                rx.spacer(),
                rx.button(rx.icon("send", size=16), "Send", type="submit", id="composer-send"),
                align="center",
                gap="12px",
                wrap="wrap",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=S.send,
        reset_on_submit=False,
        width="100%",
    )


def _open_conversation() -> Any:
    return card(
        rx.cond(
            S.open_id > 0,
            rx.vstack(
                rx.vstack(
                    rx.heading(S.open_title, size="4", id="conv-title"),
                    rx.text(
                        S.open_firm,
                        rx.cond(S.open_subject != "", " · " + S.open_subject, ""),
                        size="2",
                        color_scheme="gray",
                    ),
                    spacing="0",
                ),
                rx.foreach(
                    S.open_sms_notes,
                    lambda note: rx.callout(
                        note,
                        icon="message-square-off",
                        color_scheme="amber",
                        size="1",
                        class_name="sms-opt-out-note",
                    ),
                ),
                # Newest at the bottom, and the list opens scrolled there (and stays there as
                # messages arrive): a column-reverse scroller anchors its scroll at the end.
                rx.box(
                    rx.vstack(rx.foreach(S.messages, _message), spacing="2", width="100%"),
                    display="flex",
                    flex_direction="column-reverse",
                    width="100%",
                    max_height="60vh",
                    overflow_y="auto",
                    id="conv-messages",
                    aria_live="polite",
                ),
                rx.cond(
                    S.can_write,
                    _composer(),
                    rx.text(
                        "Read-only: compliance and admins read conversations, they do not "
                        "write in them.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            empty_state("message-circle", "No conversation open", "Choose one from the list."),
        ),
    )


def _trader_tab() -> Any:
    return card(
        rx.hstack(
            rx.heading("All communications with ", S.trader_name, size="4"),
            rx.spacer(),
            rx.cond(
                S.broker_side,
                rx.button(
                    "New conversation",
                    size="2",
                    variant="soft",
                    on_click=S.start_with_trader,
                    id="start-with-trader",
                ),
            ),
            wrap="wrap",
            width="100%",
        ),
        rx.cond(
            S.trader_sms_note != "",
            rx.callout(
                S.trader_sms_note,
                icon="message-square-off",
                color_scheme="amber",
                size="1",
                id="trader-sms-opt-out",
            ),
        ),
        # Why "New conversation" could not start one (the composer is not shown here).
        rx.cond(
            S.error != "",
            rx.callout(S.error, color_scheme="red", role="alert", size="1", id="trader-tab-error"),
        ),
        rx.cond(
            S.trader_rows.length() > 0,
            rx.vstack(
                rx.foreach(S.trader_rows, _message), spacing="2", width="100%", id="trader-comms"
            ),
            empty_state("inbox", "Nothing yet", "No message on any channel with this trader."),
        ),
    )


@app_page("/communications", "Communication Center", on_load=[S.load])
def communications_page() -> Any:
    return rx.vstack(
        page_header(
            "Communication Center",
            rx.cond(
                S.broker_side | S.can_read_log,
                "Messages with traders in the app, by email and by SMS; every one is kept in "
                "the communication log.",
                "Your conversations with your brokers.",
            ),
            rx.cond(
                S.can_read_log,
                rx.link(
                    rx.button(rx.icon("scroll-text", size=16), "Communication log", variant="soft"),
                    href="/communications/log",
                ),
            ),
        ),
        rx.cond(
            S.trader_id > 0,
            rx.segmented_control.root(
                rx.segmented_control.item("Conversation", value="conversation"),
                rx.segmented_control.item("All channels", value="trader"),
                value=S.tab,
                on_change=S.show_tab,
                id="comms-tab",
            ),
        ),
        rx.flex(
            rx.box(
                _conversation_list(),
                width=rx.breakpoints(initial="100%", md="340px"),
                flex_shrink="0",
            ),
            rx.box(
                rx.cond(S.tab == "trader", _trader_tab(), _open_conversation()),
                flex="1",
                min_width="0",
                width="100%",
            ),
            direction=rx.breakpoints(initial="column", md="row"),
            gap="16px",
            width="100%",
            align="start",
        ),
        width="100%",
    )


@app_page("/portal", "Portal", on_load=[S.load])
def portal_page() -> Any:
    return rx.vstack(
        page_header("Your portal", "Your conversations with your brokers."),
        rx.flex(
            rx.box(
                _conversation_list(),
                width=rx.breakpoints(initial="100%", md="340px"),
                flex_shrink="0",
            ),
            rx.box(_open_conversation(), flex="1", min_width="0", width="100%"),
            direction=rx.breakpoints(initial="column", md="row"),
            gap="16px",
            width="100%",
            align="start",
        ),
        rx.cond(S.portal.contains("firm"), _portal_portfolio()),
        width="100%",
    )


def _portal_portfolio() -> Any:
    """The trader's firm's portfolio at a glance, and the way to it (read-only there)."""
    p = S.portal
    return card(
        rx.vstack(
            rx.heading(p["firm"].to(str) + " portfolio", size="4", as_="h2"),
            rx.cond(
                p["shared"].to(bool),
                rx.cond(
                    p["has_portfolio"].to(bool),
                    rx.vstack(
                        rx.hstack(
                            rx.vstack(
                                rx.text("Total value", size="1", color_scheme="gray"),
                                rx.text(p["value"].to(str), size="5", weight="bold"),
                                spacing="0",
                            ),
                            rx.vstack(
                                rx.text("Today", size="1", color_scheme="gray"),
                                rx.text(
                                    p["today"].to(str),
                                    size="3",
                                    color_scheme=rx.cond(p["up"].to(bool), "green", "red"),
                                ),
                                spacing="0",
                            ),
                            rx.vstack(
                                rx.text("Holdings", size="1", color_scheme="gray"),
                                rx.text(p["holdings"].to(str), size="3"),
                                spacing="0",
                            ),
                            spacing="6",
                            wrap="wrap",
                        ),
                        rx.link(
                            rx.button(rx.icon("chart-line", size=16), "Open the portfolio"),
                            href=p["href"].to(str),
                            id="portal-portfolio-link",
                        ),
                        spacing="3",
                    ),
                    rx.text("Your firm has no portfolio yet.", size="2", color_scheme="gray"),
                ),
                rx.text(
                    "Your brokers have not shared your firm's portfolio with you. Ask them for "
                    "access if you need it.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        id="portal-portfolio",
    )
