"""/admin/instruments: the instrument master and the OMS's API keys (admins)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.csv_import import csv_import_dialog
from brm_app.components.firm_form import form_dialog
from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    data_table,
    datetime_text,
    field,
    list_pager,
    page_header,
    shown_once_dialog,
)
from brm_app.models.portfolio import AssetClass
from brm_app.state.admin_instruments import PAGE_SIZE, FxImportState, InstrumentsState

# The state's vars as the Vars they are on the class (mypy sees their Python types).
S: Any = InstrumentsState


def _row(r: Any) -> Any:
    return rx.table.row(
        rx.table.cell(rx.text(r["symbol"], weight="bold")),
        rx.table.cell(r["name"]),
        rx.table.cell(r["asset_class"]),
        rx.table.cell(r["currency"]),
        rx.table.cell(rx.code(r["isin"], variant="ghost")),
        rx.table.cell(r["exchange"]),
        rx.table.cell(r["price"], text_align="right"),
        rx.table.cell(
            rx.cond(
                r["active"].to(bool),
                rx.badge("active", color_scheme="green"),
                rx.badge("inactive", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.button(
                rx.icon("pencil", size=14),
                "Edit",
                size="1",
                variant="soft",
                on_click=S.open_edit(r["id"].to(int)),
                aria_label="Edit " + r["symbol"].to(str),
            )
        ),
        class_name="instrument-row",
    )


def _key_row(k: Any) -> Any:
    return rx.table.row(
        rx.table.cell(rx.text(k["name"], weight="medium")),
        rx.table.cell(rx.code(k["prefix"], "…", variant="ghost")),
        rx.table.cell(k["scopes"]),
        rx.table.cell(k["firms"]),
        rx.table.cell(datetime_text(k["last_used"].to(str), empty="never")),
        rx.table.cell(
            rx.cond(
                k["revoked"].to(bool),
                rx.badge("revoked", color_scheme="gray"),
                rx.button(
                    "Revoke",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.revoke_key(k["id"].to(int)),
                    aria_label="Revoke " + k["name"].to(str),
                ),
            )
        ),
    )


def _edit_dialog() -> rx.Component:
    e = S.errors
    return form_dialog(
        title=rx.cond(S.edit_id > 0, "Edit instrument", "New instrument"),
        description="Symbols are unique; an ISIN must carry a valid check digit.",
        open_=S.edit_open,
        on_open_change=S.set_edit_open,
        on_submit=S.save,
        form_key=S.form_key,
        errors=e,
        saving=rx.Var.create(False),
        submit_label="Save",
        submit_id="instrument-save",
        max_width="520px",
        body=rx.vstack(
            field(
                "Symbol",
                rx.input(
                    name="symbol", default_value=S.form.get("symbol", ""), id="instrument-symbol"
                ),
                e.get("symbol", ""),
            ),
            field(
                "Name",
                rx.input(name="name", default_value=S.form.get("name", ""), id="instrument-name"),
                e.get("name", ""),
            ),
            field(
                "Asset class",
                rx.el.select(
                    *(rx.el.option(a.value, value=a.value) for a in AssetClass),
                    name="asset_class",
                    default_value=S.form.get("asset_class", "equity"),
                    id="instrument-class",
                    style={"padding": "6px", "width": "100%"},
                ),
                e.get("asset_class", ""),
            ),
            field(
                "Currency",
                rx.input(
                    name="currency",
                    max_length=3,
                    default_value=S.form.get("currency", ""),
                    id="instrument-currency",
                ),
                e.get("currency", ""),
            ),
            field(
                "ISIN",
                rx.input(name="isin", default_value=S.form.get("isin", ""), id="instrument-isin"),
                e.get("isin", ""),
            ),
            field(
                "Exchange (MIC)",
                rx.input(
                    name="exchange",
                    default_value=S.form.get("exchange", ""),
                    id="instrument-exchange",
                ),
                e.get("exchange", ""),
            ),
            rx.hstack(
                rx.switch(
                    checked=S.edit_active,
                    on_change=S.set_edit_active,
                    aria_label="Active (can be traded)",
                ),
                rx.text("Active (can be traded)", size="2"),
                spacing="2",
                align="center",
            ),
            spacing="3",
            width="100%",
        ),
    )


@app_page("/admin/instruments", "Instruments", on_load=[S.load])
def admin_instruments() -> Any:
    return rx.vstack(
        page_header(
            "Instruments",
            "What portfolios can hold and trade, with each one's last price.",
            rx.hstack(
                rx.button(
                    rx.icon("upload", size=14),
                    "Import CSV",
                    variant="soft",
                    on_click=S.open_import,
                    id="import-instruments",
                ),
                rx.button(
                    rx.icon("upload", size=14),
                    "Import FX rates",
                    variant="soft",
                    on_click=FxImportState.open_import,
                    id="import-fx-rates",
                ),
                rx.button(
                    rx.icon("plus", size=14),
                    "New instrument",
                    on_click=S.open_new,
                    id="new-instrument",
                ),
                spacing="2",
                wrap="wrap",
            ),
        ),
        csv_import_dialog(
            S,
            input_id="instruments-file",
            title="Import instruments",
            description="Every row is checked first; nothing changes unless all rows pass. "
            "A symbol that exists is updated.",
            columns="symbol, name, asset_class, currency, isin, exchange, active",
            prefix="instruments-import",
        ),
        csv_import_dialog(
            FxImportState,
            input_id="fx-rates-file",
            title="Import FX rates",
            description="Daily FX history: 1 base costs rate quote on that date. Every row is "
            "checked first; nothing changes unless all rows pass. A day's rate replaces what "
            "that day had; performance is recomputed from the earliest day imported.",
            columns="date, base, quote, rate (e.g. 2026-03-02, EUR, USD, 1.0842)",
            prefix="fx-import",
        ),
        card(
            rx.input(
                placeholder="Search symbol or name",
                on_change=S.search.debounce(300),
                aria_label="Search instruments",
                max_length=100,
                margin_bottom="8px",
            ),
            data_table(
                ["Symbol", "Name", "Class", "Ccy", "ISIN", "Exchange", "Last price", "", ""],
                S.rows,
                _row,
            ),
            list_pager(S, PAGE_SIZE, S.total.to_string()),
        ),
        card(
            rx.heading("OMS API keys", size="4"),
            rx.text(
                "Service accounts post executions to POST /api/v1/oms/executions with "
                "Authorization: Bearer <key>. A key is shown once, when it is made.",
                size="2",
                color_scheme="gray",
                margin_bottom="8px",
            ),
            rx.form(
                rx.flex(
                    field(
                        "Service account name",
                        rx.input(name="key_name", id="key-name", max_length=100),
                        S.key_errors.get("key_name", ""),
                    ),
                    rx.button("Create key", type="submit", id="create-key"),
                    gap="8px",
                    align="end",
                    wrap="wrap",
                ),
                on_submit=S.create_key,
                reset_on_submit=True,
            ),
            data_table(["Name", "Key", "Scopes", "Firms", "Last used", ""], S.keys, _key_row),
        ),
        _edit_dialog(),
        shown_once_dialog(
            title="The new API key",
            description="Copy it into the OMS now: it is not shown again.",
            secret=S.reveal_key,
            open_=S.reveal_open,
            on_done=S.hide_key,
            secret_id="api-key",
        ),
        spacing="4",
        width="100%",
    )
