"""/traders/[trader_id]: one trader."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.activity import timeline_card
from brm_app.components.firm_form import form_dialog, trader_fields
from brm_app.components.layout import app_page
from brm_app.components.ui import card, datetime_text, empty_state, shown_once_dialog
from brm_app.models.trader import PERMISSION_LABELS, TraderPermission
from brm_app.state.trader_detail import TraderState as S

# The revealed contact details (a dict Var; typed Any so its Var methods type-check).
CONTACT: Any = S.contact


def _permission(p: TraderPermission) -> rx.Component:
    on = S.trader["perm_list"].to(list[str]).contains(p.value)
    return rx.hstack(
        rx.icon(
            rx.cond(on, "circle-check", "circle-minus"),
            size=16,
            color=rx.cond(on, rx.color("green", 10), rx.color("gray", 8)),
        ),
        rx.text(PERMISSION_LABELS[p], size="2", color_scheme=rx.cond(on, "gray", "gray")),
        spacing="2",
        align="center",
    )


@app_page("/traders/[trader_id]", "Trader", on_load=[S.load])
def trader_detail() -> rx.Component:
    t = S.trader
    return rx.cond(
        S.found,
        rx.vstack(
            rx.flex(
                rx.vstack(
                    rx.link(
                        rx.hstack(
                            rx.icon("arrow-left", size=14), "Traders", spacing="1", align="center"
                        ),
                        href="/traders",
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.heading(t["name"].to(str), size="7", id="trader-name"),
                    rx.hstack(
                        rx.text(t["role"].to(str), " at ", size="3"),
                        rx.link(t["firm_name"].to(str), href=t["firm_href"].to(str), size="3"),
                        rx.cond(t["left"].to(bool), rx.badge("Left the firm", color_scheme="gray")),
                        spacing="1",
                        align="center",
                        wrap="wrap",
                    ),
                    spacing="2",
                ),
                rx.spacer(),
                rx.cond(
                    S.can_edit,
                    rx.button(
                        rx.icon("pencil", size=16),
                        "Edit",
                        variant="soft",
                        on_click=S.open_edit,
                        id="edit-trader",
                    ),
                ),
                direction=rx.breakpoints(initial="column", sm="row"),
                gap="12px",
                width="100%",
                margin_bottom="20px",
            ),
            rx.grid(
                card(
                    rx.heading("Contact", size="4", margin_bottom="12px"),
                    rx.vstack(
                        rx.cond(
                            CONTACT.contains("email"),
                            rx.vstack(
                                rx.hstack(
                                    rx.icon("mail", size=16),
                                    rx.link(
                                        CONTACT["email"],
                                        href="mailto:" + CONTACT["email"],
                                        id="trader-email",
                                    ),
                                    align="center",
                                ),
                                rx.cond(
                                    CONTACT["phone"] != "",
                                    rx.hstack(
                                        rx.icon("phone", size=16),
                                        rx.link(
                                            CONTACT["phone"],
                                            href="tel:" + CONTACT["phone"].replace(" ", ""),
                                        ),
                                        align="center",
                                    ),
                                ),
                                rx.cond(
                                    CONTACT["mobile"] != "",
                                    rx.hstack(
                                        rx.icon("smartphone", size=16),
                                        rx.link(
                                            CONTACT["mobile"],
                                            href="tel:" + CONTACT["mobile"].replace(" ", ""),
                                        ),
                                        align="center",
                                    ),
                                ),
                                spacing="2",
                            ),
                            rx.button(
                                rx.icon("eye", size=16),
                                "Reveal contact details",
                                variant="soft",
                                size="2",
                                on_click=S.reveal_contact,
                                id="reveal-contact",
                            ),
                        ),
                        rx.text(
                            "Revealing is recorded for compliance.",
                            size="1",
                            color_scheme="gray",
                        ),
                        rx.text(
                            "Added ",
                            datetime_text(t["created"].to(str)),
                            size="1",
                            color_scheme="gray",
                        ),
                        spacing="2",
                    ),
                ),
                card(
                    rx.heading("Platform permissions", size="4", margin_bottom="12px"),
                    rx.vstack(*[_permission(p) for p in TraderPermission], spacing="2"),
                    rx.cond(
                        t["portal"].to(bool),
                        rx.callout(
                            "Has a portal sign-in.",
                            icon="key-round",
                            color_scheme="teal",
                            size="1",
                            margin_top="12px",
                        ),
                    ),
                ),
                card(
                    rx.heading("Firm history", size="4", margin_bottom="12px"),
                    rx.cond(
                        S.moves.length() > 0,
                        rx.vstack(
                            rx.foreach(
                                S.moves,
                                lambda m: rx.vstack(
                                    rx.hstack(
                                        rx.link(m["from"], href=m["from_href"], size="2"),
                                        rx.icon("arrow-right", size=14),
                                        rx.link(m["to"], href=m["to_href"], size="2"),
                                        align="center",
                                        spacing="2",
                                        wrap="wrap",
                                    ),
                                    rx.hstack(
                                        datetime_text(m["when"]),
                                        rx.text("by ", m["by"], size="1", color_scheme="gray"),
                                        spacing="2",
                                        font_size="12px",
                                    ),
                                    rx.cond(
                                        m["reason"] != "",
                                        rx.text(m["reason"], size="1", color_scheme="gray"),
                                    ),
                                    spacing="0",
                                ),
                            ),
                            spacing="3",
                        ),
                        rx.text(
                            "Always at ", t["firm_name"].to(str), ".", size="2", color_scheme="gray"
                        ),
                    ),
                ),
                columns=rx.breakpoints(initial="1", md="3"),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                S.tl_allowed,
                timeline_card(
                    S,
                    firm_id=t["firm_id"].to(int),
                    trader_id=S.trader_id,
                    context="trader",
                    can_log=S.can_log,
                ),
            ),
            form_dialog(
                title="Edit trader",
                description="Changes are recorded in the audit trail.",
                open_=S.edit_open,
                on_open_change=S.set_edit_open,
                on_submit=S.save,
                form_key=S.form_key,
                errors=S.errors,
                saving=S.saving,
                submit_label="Save",
                submit_id="trader-save",
                body=trader_fields(S.form, S.errors, S.roles, S.can_grant_portal),
                max_width="560px",
            ),
            shown_once_dialog(
                title="Portal password (shown once)",
                description="Give it to the trader securely; they should change it after signing in.",
                secret=S.reveal_text,
                open_=S.reveal_open,
                on_done=S.close_reveal,
                secret_id="portal-password",
            ),
            width="100%",
        ),
        rx.cond(
            S.not_found,
            empty_state(
                "search-x",
                "Trader not found",
                "They do not exist, were removed, or work at a firm outside your book.",
            ),
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        ),
    )
