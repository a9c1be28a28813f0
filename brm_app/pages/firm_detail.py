"""/firms/[firm_id]: a firm's profile, coverage and traders."""

from __future__ import annotations

import reflex as rx

from brm_app.components.activity import timeline_card
from brm_app.components.firm_form import coverage_fields, firm_fields, form_dialog, trader_fields
from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    datetime_text,
    empty_state,
    field,
    pager,
    shown_once_dialog,
    table_scroll,
)
from brm_app.pages.firms import status_badge, tier_badge
from brm_app.state.firm_detail import TRADER_PAGE
from brm_app.state.firm_detail import FirmState as S


def _info(label: str, value: rx.Var, icon: str, href: rx.Var | None = None) -> rx.Component:
    shown = (
        rx.link(value, href=href, is_external=True)
        if href is not None
        else rx.text(value, size="2", white_space="pre-line")
    )
    return rx.cond(
        value != "",
        rx.hstack(
            rx.icon(icon, size=16, color=rx.color("gray", 9), flex_shrink="0", margin_top="2px"),
            rx.vstack(rx.text(label, size="1", color_scheme="gray"), shown, spacing="0"),
            align="start",
            spacing="2",
        ),
    )


def _header() -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.link(
                rx.hstack(rx.icon("arrow-left", size=14), "Firms", spacing="1", align="center"),
                href="/firms",
                size="2",
                color_scheme="gray",
            ),
            rx.heading(S.firm["name"].to(str), size="7", id="firm-title"),
            rx.hstack(
                status_badge(S.firm["status"].to(str)),
                tier_badge(S.firm["tier"].to(str)),
                rx.cond(
                    S.firm["archived"].to(bool),
                    rx.badge(rx.icon("archive", size=12), "Archived", color_scheme="red"),
                ),
                rx.cond(
                    S.firm["lei"].to(str) != "",
                    rx.code("LEI ", S.firm["lei"].to(str), variant="ghost", size="1"),
                ),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            spacing="2",
        ),
        rx.spacer(),
        rx.hstack(
            rx.link(
                rx.button(rx.icon("chart-pie", size=16), "Portfolio", variant="soft"),
                href=f"/firms/{S.firm_id}/portfolio",
                id="open-portfolio",
            ),
            rx.cond(
                S.can_edit,
                rx.button(
                    rx.icon("pencil", size=16),
                    "Edit",
                    variant="soft",
                    on_click=S.open_edit,
                    id="edit-firm",
                ),
            ),
            rx.cond(
                S.can_assign_coverage | S.can_merge | S.can_archive,
                rx.menu.root(
                    rx.menu.trigger(
                        rx.button(
                            "More",
                            rx.icon("chevron-down", size=14),
                            variant="soft",
                            color_scheme="gray",
                            id="firm-more",
                        )
                    ),
                    rx.menu.content(
                        rx.cond(
                            S.can_assign_coverage,
                            rx.menu.item(
                                rx.icon("users", size=14),
                                "Coverage…",
                                on_click=S.open_coverage,
                                id="open-coverage",
                            ),
                        ),
                        rx.cond(
                            S.can_merge,
                            rx.menu.item(
                                rx.icon("merge", size=14),
                                "Merge a duplicate into this firm…",
                                on_click=S.open_merge,
                                id="open-merge",
                            ),
                        ),
                        rx.cond(
                            S.can_archive,
                            rx.fragment(
                                rx.menu.separator(),
                                rx.menu.item(
                                    rx.icon("archive", size=14),
                                    "Archive…",
                                    color="red",
                                    on_click=S.set_archive_open(True),
                                    id="archive-firm",
                                ),
                            ),
                        ),
                    ),
                ),
            ),
            rx.cond(
                S.can_restore,
                rx.button(
                    rx.icon("archive-restore", size=16),
                    "Restore",
                    on_click=S.restore,
                    id="restore-firm",
                ),
            ),
            spacing="2",
            wrap="wrap",
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        gap="12px",
        width="100%",
        margin_bottom="20px",
    )


def _profile() -> rx.Component:
    return card(
        rx.heading("Profile", size="4", margin_bottom="12px"),
        rx.vstack(
            _info("Address", S.firm["address"].to(str), "map-pin"),
            _info("Phone", S.firm["phone"].to(str), "phone", "tel:" + S.firm["phone_e164"].to(str)),
            _info("Email", S.firm["email"].to(str), "mail", "mailto:" + S.firm["email"].to(str)),
            _info("Website", S.firm["website"].to(str), "globe", S.firm["website"].to(str)),
            _info("Internal notes", S.firm["notes"].to(str), "notebook-pen"),
            rx.text(
                "Created ",
                datetime_text(S.firm["created"].to(str)),
                " · updated ",
                datetime_text(S.firm["updated"].to(str)),
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            align="start",
        ),
    )


def _coverage() -> rx.Component:
    return card(
        rx.hstack(
            rx.heading("Coverage", size="4"),
            rx.spacer(),
            rx.cond(
                S.can_assign_coverage,
                rx.button("Change", size="1", variant="ghost", on_click=S.open_coverage),
            ),
            align="center",
            margin_bottom="12px",
        ),
        rx.vstack(
            rx.hstack(
                rx.badge("Primary", color_scheme="indigo"),
                rx.text(
                    rx.cond(
                        S.firm["primary"].to(str) != "", S.firm["primary"].to(str), "Unassigned"
                    ),
                    size="2",
                    id="firm-primary-broker",
                ),
                align="center",
            ),
            rx.hstack(
                rx.badge("Secondary", color_scheme="gray"),
                rx.text(
                    rx.cond(S.firm["secondary"].to(str) != "", S.firm["secondary"].to(str), "None"),
                    size="2",
                ),
                align="center",
            ),
            spacing="2",
            align="start",
        ),
    )


def _trader_actions(r) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16), variant="ghost", aria_label="Trader actions"
            )
        ),
        rx.menu.content(
            rx.menu.item(
                rx.icon("pencil", size=14), "Edit", on_click=S.open_edit_trader(r["trader_id"])
            ),
            rx.menu.item(
                rx.icon("arrow-right-left", size=14),
                "Moved to another firm…",
                on_click=S.ask_move(r["trader_id"]),
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("user-minus", size=14),
                "Remove…",
                color="red",
                on_click=S.ask_remove(r["trader_id"]),
            ),
        ),
    )


def _traders() -> rx.Component:
    editable = S.can_edit_traders
    return card(
        rx.flex(
            rx.heading("Traders", size="4"),
            rx.badge(S.trader_total, variant="soft"),
            rx.spacer(),
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Search traders",
                on_change=S.search_traders.debounce(250),
                size="2",
                max_length=100,
                width=rx.breakpoints(initial="100%", sm="220px"),
            ),
            rx.cond(
                editable,
                rx.button(
                    rx.icon("user-plus", size=16),
                    "Add trader",
                    on_click=S.open_new_trader,
                    id="add-trader",
                ),
            ),
            align="center",
            gap="8px",
            wrap="wrap",
            margin_bottom="12px",
        ),
        rx.cond(
            S.trader_shown > 0,
            table_scroll(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Name"),
                            rx.table.column_header_cell("Role"),
                            rx.table.column_header_cell("Phone"),
                            rx.table.column_header_cell("Permissions"),
                            rx.cond(editable, rx.table.column_header_cell("", width="48px")),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            S.traders,
                            lambda r: rx.table.row(
                                rx.table.cell(
                                    rx.vstack(
                                        rx.hstack(
                                            rx.link(r["name"], href=r["href"], weight="medium"),
                                            rx.cond(
                                                r["left"],
                                                rx.badge("Left", color_scheme="gray", size="1"),
                                            ),
                                            rx.cond(
                                                r["portal"],
                                                rx.tooltip(
                                                    rx.icon(
                                                        "key-round",
                                                        size=14,
                                                        color=rx.color("teal", 10),
                                                    ),
                                                    content="Has portal access",
                                                ),
                                            ),
                                            spacing="2",
                                            align="center",
                                        ),
                                        rx.text(r["email"], size="1", color_scheme="gray"),
                                        spacing="0",
                                    )
                                ),
                                rx.table.cell(rx.text(r["role"], size="2")),
                                rx.table.cell(rx.text(r["phone"], size="2", white_space="nowrap")),
                                rx.table.cell(rx.text(r["perms"], size="1", color_scheme="gray")),
                                rx.cond(editable, rx.table.cell(_trader_actions(r))),
                                align="center",
                            ),
                        )
                    ),
                    variant="ghost",
                    width="100%",
                    id="traders-table",
                )
            ),
            rx.cond(
                S.traders_loaded,
                empty_state(
                    "contact", "No traders yet", "Add the people you deal with at this firm."
                ),
                rx.center(rx.spinner(), padding="24px", width="100%"),
            ),
        ),
        pager(
            S.trader_offset,
            TRADER_PAGE,
            S.trader_shown,
            S.trader_total,
            S.trader_has_prev,
            S.trader_has_next,
            S.traders_prev,
            S.traders_next,
        ),
    )


def _dialogs() -> rx.Component:
    return rx.fragment(
        form_dialog(
            title="Edit firm",
            description="Changes are recorded in the audit trail.",
            open_=S.edit_open,
            on_open_change=S.set_edit_open,
            on_submit=S.save,
            form_key=S.form_key,
            errors=S.errors,
            saving=S.saving,
            submit_label="Save",
            submit_id="firm-save",
            body=firm_fields(S.form, S.errors),
        ),
        form_dialog(
            title="Coverage",
            description="One primary broker; any number of secondary brokers. They see and work on this firm.",
            open_=S.coverage_open,
            on_open_change=S.set_coverage_open,
            on_submit=S.save_coverage,
            form_key=S.form_key,
            errors=S.coverage_errors,
            saving=S.saving,
            submit_label="Save coverage",
            submit_id="coverage-save",
            body=coverage_fields(
                S.brokers,
                S.firm["primary_id"].to(str),
                S.firm["secondary_ids"].to(list[str]),
                S.coverage_errors,
            ),
            max_width="520px",
        ),
        form_dialog(
            title=rx.cond(S.trader_edit_id == 0, "Add trader", "Edit trader"),
            description="Email must be unique at this firm; phone numbers in international form.",
            open_=S.trader_open,
            on_open_change=S.set_trader_open,
            on_submit=S.save_trader,
            form_key=S.trader_key,
            errors=S.trader_errors,
            saving=S.saving,
            submit_label=rx.cond(S.trader_edit_id == 0, "Add trader", "Save"),
            submit_id="trader-save",
            body=trader_fields(S.trader_form, S.trader_errors, S.roles, S.can_grant_portal),
            max_width="560px",
        ),
        rx.alert_dialog.root(
            rx.alert_dialog.content(
                rx.alert_dialog.title("Archive this firm?"),
                rx.alert_dialog.description(
                    "It leaves every list and search but is kept as a record; an admin can restore it.",
                    size="2",
                ),
                rx.hstack(
                    rx.alert_dialog.cancel(
                        rx.button("Cancel", variant="soft", color_scheme="gray")
                    ),
                    rx.alert_dialog.action(
                        rx.button(
                            "Archive", color_scheme="red", on_click=S.archive, id="confirm-archive"
                        )
                    ),
                    justify="end",
                    spacing="2",
                    margin_top="16px",
                ),
            ),
            open=S.archive_open,
            on_open_change=S.set_archive_open,
        ),
        rx.alert_dialog.root(
            rx.alert_dialog.content(
                rx.alert_dialog.title("Remove ", S.remove_trader_name, "?"),
                rx.alert_dialog.description(
                    "They leave this firm's lists; their record and history are kept.", size="2"
                ),
                rx.hstack(
                    rx.alert_dialog.cancel(
                        rx.button("Cancel", variant="soft", color_scheme="gray")
                    ),
                    rx.alert_dialog.action(
                        rx.button(
                            "Remove",
                            color_scheme="red",
                            on_click=S.remove_trader,
                            id="confirm-remove-trader",
                        )
                    ),
                    justify="end",
                    spacing="2",
                    margin_top="16px",
                ),
            ),
            open=S.remove_open,
            on_open_change=S.set_remove_open,
        ),
        _pick_firm_dialog(
            title="Merge a duplicate into this firm",
            search_label="Duplicate firm",
            description=rx.text(
                "The firm you pick is archived; its traders and coverage move here. Traders with the same email are matched, not duplicated."
            ),
            open_=S.merge_open,
            on_open_change=S.set_merge_open,
            on_search=S.search_merge,
            results=S.merge_results,
            on_pick=S.pick_merge,
            picked=S.merge_source_id,
            extra=rx.fragment(),
            confirm_label=rx.cond(
                S.merge_source_id != 0, "Merge " + S.merge_source_name + " into this firm", "Merge"
            ),
            on_confirm=S.merge,
            confirm_id="confirm-merge",
        ),
        _pick_firm_dialog(
            title="Move " + S.move_trader_name,
            search_label="Firm they joined",
            description=rx.text(
                "Pick the firm they joined. The move is recorded; their history stays with them."
            ),
            open_=S.move_open,
            on_open_change=S.set_move_open,
            on_search=S.search_move,
            results=S.move_results,
            on_pick=S.pick_move,
            picked=S.move_target_id,
            extra=field(
                "Reason (optional)",
                rx.input(
                    value=S.move_reason,
                    on_change=S.set_move_reason,
                    max_length=200,
                    width="100%",
                    id="move-reason",
                ),
            ),
            confirm_label="Move trader",
            on_confirm=S.move,
            confirm_id="confirm-move",
        ),
        shown_once_dialog(
            title="Portal password (shown once)",
            description="Give it to the trader securely; they should change it after signing in.",
            secret=S.reveal_text,
            open_=S.reveal_open,
            on_done=S.close_reveal,
            secret_id="portal-password",
        ),
    )


def _pick_firm_dialog(
    *,
    title,
    search_label,
    description,
    open_,
    on_open_change,
    on_search,
    results,
    on_pick,
    picked,
    extra,
    confirm_label,
    on_confirm,
    confirm_id,
) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray", margin_bottom="12px"),
            rx.vstack(
                field(
                    search_label,
                    rx.input(
                        rx.input.slot(rx.icon("search", size=14)),
                        placeholder="Type a firm name",
                        on_change=on_search.debounce(250),
                        max_length=100,
                        width="100%",
                        auto_focus=True,
                    ),
                ),
                rx.vstack(
                    rx.foreach(
                        results,
                        lambda r: rx.box(
                            rx.hstack(
                                rx.icon(
                                    rx.cond(picked == r["firm_id"], "circle-check", "circle"),
                                    size=16,
                                    color=rx.color("indigo", 10),
                                ),
                                rx.text(r["name"], weight="medium", size="2"),
                                rx.text(r["place"], size="1", color_scheme="gray"),
                                align="center",
                                spacing="2",
                            ),
                            on_click=on_pick(r["firm_id"]),
                            padding="8px",
                            border_radius="6px",
                            cursor="pointer",
                            width="100%",
                            background=rx.cond(
                                picked == r["firm_id"], rx.color("indigo", 3), "transparent"
                            ),
                            _hover={"background": rx.color("gray", 3)},
                            class_name="pick-firm",
                        ),
                    ),
                    spacing="1",
                    width="100%",
                    max_height="260px",
                    overflow_y="auto",
                ),
                extra,
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        confirm_label, on_click=on_confirm, disabled=picked == 0, id=confirm_id
                    ),
                    justify="end",
                    spacing="2",
                    width="100%",
                ),
                spacing="3",
            ),
            max_width="520px",
        ),
        open=open_,
        on_open_change=on_open_change,
    )


# The tab's state outlives the page: coming back to /firms/<id> it still holds the firm shown
# last. Until this firm's load arrives the spinner shows, not another firm's page (which was
# also the slowest thing to draw before the load could even be sent).
_SHOWN_FIRM_IS_THIS_ONE: rx.Var[bool] = rx.Var[bool](
    _js_expr=(
        "(typeof window === 'undefined' || "
        f"window.location.pathname.replace(/\\/+$/, '') === '/firms/' + {S.firm_id})"
    ),
    _var_type=bool,
    _var_data=rx.Var.create(S.firm_id)._get_all_var_data(),
)


@app_page("/firms/[firm_id]", "Firm", on_load=[S.load])
def firm_detail() -> rx.Component:
    return rx.cond(
        S.found & _SHOWN_FIRM_IS_THIS_ONE,
        rx.vstack(
            _header(),
            rx.grid(
                rx.vstack(_profile(), _coverage(), spacing="4", width="100%"),
                rx.vstack(
                    _traders(),
                    rx.cond(
                        S.tl_allowed,
                        timeline_card(
                            S,
                            firm_id=S.firm_id,
                            context="firm",
                            can_log=S.can_log,
                        ),
                    ),
                    spacing="4",
                    width="100%",
                    grid_column=rx.breakpoints(initial="auto", lg="span 2"),
                ),
                columns=rx.breakpoints(initial="1", lg="3"),
                spacing="4",
                width="100%",
            ),
            _dialogs(),
            width="100%",
        ),
        rx.cond(
            S.not_found,
            empty_state(
                "search-x",
                "Firm not found",
                "It does not exist, was archived, or is not in your book.",
            ),
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        ),
    )
