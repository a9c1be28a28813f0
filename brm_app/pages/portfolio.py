"""/firms/[firm_id]/portfolio: holdings valued live, totals, transactions, book and reverse."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.csv_import import csv_import_dialog
from brm_app.components.firm_form import form_dialog
from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    datetime_text,
    empty_state,
    field,
    local_number,
    pager,
    table_scroll,
)
from brm_app.state.portfolio import KINDS, TX_PAGE, PortfolioState

_SIGN_COLORS = {"up": "green", "down": "red"}

# The state's vars as the Vars they are on the class (mypy sees their Python types).
S: Any = PortfolioState


def _signed(value: Any, sign: Any, **props: Any) -> Any:
    return rx.text(
        value,
        color_scheme=rx.match(sign, ("up", "green"), ("down", "red"), "gray"),
        **props,
    )


def _stat(label: str, value: Any, ident: str, sign: Any = None) -> rx.Component:
    shown = (
        _signed(value, sign, size="5", weight="bold", id=ident)
        if sign is not None
        else rx.text(value, size="5", weight="bold", id=ident)
    )
    return card(
        rx.vstack(
            rx.text(label, size="1", color_scheme="gray"),
            shown,
            spacing="0",
        )
    )


def _flash_class(r: Any) -> Any:
    return rx.cond(
        r["flash"].to(str) != "",
        "holding flash-" + r["flash"].to(str) + "-" + S.flash_phase,
        "holding",
    )


def _holding_row(r: Any) -> Any:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(r["symbol"], weight="bold", size="2"),
                rx.text(r["name"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(r["quantity"], text_align="right"),
        rx.table.cell(r["avg_cost"], text_align="right"),
        rx.table.cell(rx.text(r["price"], class_name="price", size="2"), text_align="right"),
        rx.table.cell(
            rx.text(r["value"], " ", r["currency"], class_name="value", size="2"),
            text_align="right",
        ),
        rx.table.cell(_signed(r["day"], r["day_sign"], size="2"), text_align="right"),
        rx.table.cell(_signed(r["unrealized"], r["unrealized_sign"], size="2"), text_align="right"),
        rx.table.cell(r["realized"], text_align="right"),
        rx.table.cell(r["weight"], text_align="right"),
        class_name=_flash_class(r),
        id="holding-" + r["symbol"].to(str),
    )


def _holding_card(r: Any) -> Any:
    """A holding on a phone: stacked, no sideways scrolling."""
    return rx.box(
        rx.flex(
            rx.vstack(
                rx.text(r["symbol"], weight="bold"),
                rx.text(r["name"], size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.spacer(),
            rx.vstack(
                rx.text(r["value"], " ", r["currency"], weight="bold", class_name="value"),
                rx.text("@ ", r["price"], size="1", class_name="price"),
                spacing="0",
                align="end",
            ),
            width="100%",
        ),
        rx.flex(
            rx.text("Qty ", r["quantity"], size="1", color_scheme="gray"),
            rx.text("Avg ", r["avg_cost"], size="1", color_scheme="gray"),
            _signed(rx.text.span("P&L ", r["unrealized"]), r["unrealized_sign"], size="1"),
            _signed(rx.text.span("Today ", r["day"]), r["day_sign"], size="1"),
            rx.text("Weight ", r["weight"], size="1", color_scheme="gray"),
            gap="10px",
            wrap="wrap",
            margin_top="4px",
        ),
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name=_flash_class(r),
        width="100%",
    )


def _holdings() -> rx.Component:
    return card(
        rx.flex(
            rx.heading("Holdings", size="4"),
            rx.spacer(),
            rx.text(
                "Valued ",
                datetime_text(S.summary["updated"].to(str)),
                size="1",
                color_scheme="gray",
            ),
            align="center",
            width="100%",
            margin_bottom="8px",
            wrap="wrap",
        ),
        rx.cond(
            S.assets.length() > 0,
            rx.fragment(
                rx.box(
                    table_scroll(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    *(
                                        rx.table.column_header_cell(c)
                                        for c in (
                                            "Instrument",
                                            "Quantity",
                                            "Avg cost",
                                            "Last price",
                                            "Market value",
                                            "Today",
                                            "Unrealized",
                                            "Realized",
                                            "Weight",
                                        )
                                    )
                                )
                            ),
                            rx.table.body(rx.foreach(S.assets, _holding_row)),
                            variant="surface",
                            size="1",
                            width="100%",
                        )
                    ),
                    class_name="brm-desktop-only",
                    width="100%",
                ),
                rx.box(rx.foreach(S.assets, _holding_card), class_name="brm-mobile-only"),
            ),
            empty_state("chart-pie", "No holdings", "Book a trade to start this portfolio."),
        ),
        rx.cond(
            S.cash.length() > 0,
            rx.flex(
                rx.text("Cash:", size="2", weight="medium"),
                rx.foreach(
                    S.cash,
                    lambda c: rx.badge(c["currency"], " ", c["balance"], variant="soft", size="2"),
                ),
                gap="8px",
                wrap="wrap",
                align="center",
                margin_top="12px",
            ),
        ),
    )


def _tx_row(t: Any) -> Any:
    return rx.table.row(
        rx.table.cell(t["date"], white_space="nowrap"),
        rx.table.cell(
            rx.hstack(
                rx.text(t["kind"], size="2"),
                rx.cond(t["reversal"].to(bool), rx.badge("reversal", color_scheme="orange")),
                rx.cond(t["reversed"].to(bool), rx.badge("reversed", color_scheme="gray")),
                spacing="1",
                wrap="wrap",
            )
        ),
        rx.table.cell(t["what"]),
        rx.table.cell(t["quantity"], text_align="right"),
        rx.table.cell(t["price"], text_align="right"),
        rx.table.cell(t["amount"], text_align="right"),
        rx.table.cell(t["currency"]),
        rx.table.cell(t["trader"]),
        rx.table.cell(rx.badge(t["source"], variant="soft", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                S.can_trade & ~t["reversal"].to(bool) & ~t["reversed"].to(bool),
                rx.button(
                    rx.icon("undo-2", size=14),
                    "Reverse",
                    size="1",
                    variant="soft",
                    color_scheme="orange",
                    on_click=S.ask_reverse(t["id"].to(int)),
                    aria_label="Reverse " + t["label"].to(str),
                    class_name="reverse-tx",
                ),
            )
        ),
        class_name="tx-row",
    )


def _transactions() -> rx.Component:
    return card(
        rx.heading("Transactions", size="4", margin_bottom="8px"),
        table_scroll(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(c)
                            for c in (
                                "Trade date",
                                "Kind",
                                "Instrument",
                                "Quantity",
                                "Price",
                                "Amount",
                                "Ccy",
                                "Trader",
                                "Source",
                                "",
                            )
                        )
                    )
                ),
                rx.table.body(rx.foreach(S.txs, _tx_row)),
                variant="surface",
                size="1",
                width="100%",
            )
        ),
        pager(
            S.tx_offset,
            rx.Var.create(TX_PAGE),
            S.txs.length(),
            local_number(S.tx_total, 0),
            S.tx_has_prev,
            S.tx_has_next,
            S.tx_prev,
            S.tx_next,
        ),
    )


def _book_dialog() -> rx.Component:
    trades = (S.book_kind == "buy") | (S.book_kind == "sell")
    with_instrument = trades | (S.book_kind == "split")
    e = S.book_errors
    return form_dialog(
        title="Book a transaction",
        description="Holdings follow from transactions; a mistake is corrected by reversing it.",
        open_=S.book_open,
        on_open_change=S.set_book_open,
        on_submit=S.book,
        form_key=S.book_key,
        errors=e,
        saving=rx.Var.create(False),
        submit_label="Book",
        submit_id="book-submit",
        max_width="560px",
        body=rx.vstack(
            field(
                "Kind",
                rx.select.root(
                    rx.select.trigger(id="book-kind", width="100%"),
                    rx.select.content(
                        *(rx.select.item(k.replace("_", " "), value=k) for k in KINDS)
                    ),
                    value=S.book_kind,
                    on_change=S.set_book_kind,
                ),
                e.get("kind", ""),
            ),
            field(
                "Instrument (symbol)",
                rx.input(
                    name="symbol",
                    id="book-symbol",
                    list="book-symbols",
                    placeholder="AAPL",
                    auto_complete="off",
                ),
                e.get("symbol", e.get("instrument_id", "")),
                hint="Required for buys, sells and splits; optional for dividends, fees, transfers",
            ),
            rx.el.datalist(
                rx.foreach(S.symbols, lambda s: rx.el.option(value=s)), id="book-symbols"
            ),
            rx.flex(
                field(
                    "Trade date",
                    rx.input(name="trade_date", type="date", id="book-trade-date"),
                    e.get("trade_date", ""),
                ),
                field(
                    "Settlement date",
                    rx.input(name="settlement_date", type="date", id="book-settlement-date"),
                    e.get("settlement_date", ""),
                    hint="Default: T+2 for trades",
                ),
                gap="12px",
                width="100%",
                direction=rx.breakpoints(initial="column", sm="row"),
            ),
            rx.flex(
                field(
                    rx.cond(S.book_kind == "split", "Ratio (new per old)", "Quantity"),
                    rx.input(name="quantity", input_mode="decimal", id="book-quantity"),
                    e.get("quantity", ""),
                ),
                field(
                    "Price",
                    rx.input(name="price", input_mode="decimal", id="book-price"),
                    e.get("price", ""),
                ),
                gap="12px",
                width="100%",
                direction=rx.breakpoints(initial="column", sm="row"),
            ),
            rx.cond(
                ~with_instrument,
                field(
                    "Amount",
                    rx.input(name="amount", input_mode="decimal", id="book-amount"),
                    e.get("amount", ""),
                ),
            ),
            rx.flex(
                field(
                    "Currency",
                    rx.input(name="currency", max_length=3, id="book-currency", placeholder="USD"),
                    e.get("currency", ""),
                ),
                field(
                    "Fees",
                    rx.input(name="fees", input_mode="decimal", id="book-fees", placeholder="0"),
                    e.get("fees", ""),
                ),
                gap="12px",
                width="100%",
                direction=rx.breakpoints(initial="column", sm="row"),
            ),
            field(
                "Trader",
                rx.el.select(
                    rx.el.option("—", value=""),
                    rx.foreach(S.trader_options, lambda t: rx.el.option(t["name"], value=t["id"])),
                    name="trader_id",
                    id="book-trader",
                    style={"padding": "6px", "width": "100%"},
                ),
                e.get("trader_id", ""),
            ),
            field("Note", rx.input(name="note", max_length=500, id="book-note"), e.get("note", "")),
            spacing="3",
            width="100%",
        ),
    )


def _reverse_dialog() -> Any:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Reverse this transaction?"),
            rx.alert_dialog.description(
                "A reversing entry is booked; the original stays on record. ",
                S.reverse_label,
                size="2",
            ),
            rx.form(
                rx.vstack(
                    field("Reason", rx.input(name="reason", max_length=500, id="reverse-reason")),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        # The accent's solid colour: white on orange 9 is 2.97:1 (axe).
                        rx.button("Reverse", type="submit", id="reverse-submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    margin_top="12px",
                ),
                on_submit=S.reverse,
                reset_on_submit=True,
            ),
        ),
        open=S.reverse_open,
        on_open_change=S.set_reverse_open,
    )


def _settings_dialog() -> rx.Component:
    e = S.settings_errors
    return form_dialog(
        title="Portfolio settings",
        description="Totals are shown in the reporting currency; shorting lets sells exceed "
        "what is held.",
        open_=S.settings_open,
        on_open_change=S.set_settings_open,
        on_submit=S.save_settings,
        form_key=S.settings_key,
        errors=e,
        saving=rx.Var.create(False),
        submit_label="Save",
        submit_id="settings-save",
        max_width="480px",
        body=rx.vstack(
            field(
                "Reporting currency",
                rx.input(
                    name="reporting_currency",
                    id="settings-currency",
                    max_length=3,
                    default_value=S.summary["currency"].to(str),
                    placeholder="USD",
                    auto_complete="off",
                ),
                e.get("reporting_currency", ""),
                hint="ISO 4217 code; leave empty for the server's default",
            ),
            rx.cond(
                S.empty,
                rx.text(
                    "Shorting can be enabled once the portfolio has its first transaction.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.vstack(
                    rx.el.label(
                        rx.checkbox(
                            name="allow_short",
                            default_checked=S.allow_short,
                            id="settings-short",
                        ),
                        rx.text("Allow short positions (sell more than is held)", size="2"),
                        html_for="settings-short",
                        style={"display": "flex", "gap": "8px", "alignItems": "center"},
                    ),
                    rx.cond(
                        e.get("allow_short", "") != "",
                        rx.text(
                            e.get("allow_short", ""), size="1", color_scheme="red", role="alert"
                        ),
                    ),
                    spacing="1",
                ),
            ),
            spacing="3",
            width="100%",
        ),
    )


def _import_dialog() -> rx.Component:
    return csv_import_dialog(
        S,
        input_id="blotter-file",
        title="Import a trade blotter",
        description="Every row is checked first; nothing is booked unless all rows pass.",
        columns="kind, symbol, trade_date, settlement_date, quantity, price, amount, currency, "
        "fees, trader (email), note",
        prefix="blotter",
    )


def _content() -> Any:
    cur = S.summary["currency"].to(str)
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), S.firm_name, spacing="1", align="center"),
            href="/firms/" + S.firm_id.to_string(),
            size="2",
            color_scheme="gray",
        ),
        rx.flex(
            rx.heading("Portfolio", size="7"),
            rx.spacer(),
            rx.hstack(
                rx.link(
                    rx.button(rx.icon("chart-line", size=14), "Performance", variant="soft"),
                    href="/firms/" + S.firm_id.to_string() + "/performance",
                    id="open-performance",
                ),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Revalue now",
                    variant="soft",
                    on_click=S.refresh,
                    id="revalue",
                ),
                rx.cond(
                    S.can_trade,
                    rx.hstack(
                        rx.button(
                            rx.icon("settings", size=14),
                            "Settings",
                            variant="soft",
                            on_click=S.open_settings,
                            id="portfolio-settings",
                        ),
                        rx.button(
                            rx.icon("upload", size=14),
                            "Import trades",
                            variant="soft",
                            on_click=S.open_import,
                            id="import-blotter",
                        ),
                        rx.button(
                            rx.icon("plus", size=14),
                            "Book trade",
                            on_click=S.open_book,
                            id="book-trade",
                        ),
                        spacing="2",
                        wrap="wrap",
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            width="100%",
            align="center",
            wrap="wrap",
            gap="8px",
        ),
        rx.grid(
            _stat("Total value (" + cur + ")", S.summary["total"], "total-value"),
            _stat("Market value", S.summary["market"], "market-value"),
            _stat("Cash", S.summary["cash"], "cash-value"),
            _stat("Today", S.summary["today"], "today-change", S.summary["today_sign"]),
            _stat(
                "Unrealized P&L",
                S.summary["unrealized"],
                "unrealized",
                S.summary["unrealized_sign"],
            ),
            _stat("Realized P&L", S.summary["realized"], "realized", S.summary["realized_sign"]),
            _stat("Return since inception", S.summary["return"], "simple-return"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            S.summary["missing_fx"].to(str) != "",
            rx.callout(
                "No FX rate yet for "
                + S.summary["missing_fx"].to(str)
                + ": left out of the totals.",
                icon="triangle-alert",
                color_scheme="amber",
                width="100%",
            ),
        ),
        _holdings(),
        _transactions(),
        _book_dialog(),
        _reverse_dialog(),
        _settings_dialog(),
        _import_dialog(),
        spacing="4",
        width="100%",
    )


@app_page("/firms/[firm_id]/portfolio", "Portfolio", on_load=[S.load])
def portfolio_page() -> Any:
    return rx.cond(
        S.found,
        _content(),
        rx.cond(
            S.not_found,
            empty_state("search-x", "Firm not found", "It does not exist, or is not yours to see."),
            rx.center(rx.spinner(), padding="48px"),
        ),
    )
