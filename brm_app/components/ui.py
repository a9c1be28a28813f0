"""Small building blocks shared by pages: headers, badges, fields with errors, pagination, tables."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex_components_core.core.debounce import DebounceInput
from reflex_components_core.el.elements.forms import BaseInput, Select, Textarea
from reflex_components_radix.themes.components.select import SelectRoot, SelectTrigger
from reflex_components_radix.themes.components.switch import Switch
from reflex_components_radix.themes.components.table import TableHeader
from reflex_components_radix.themes.components.text_area import TextArea
from reflex_components_radix.themes.components.text_field import TextFieldRoot

ROLE_COLORS = {
    "admin": "crimson",
    "compliance": "amber",
    "manager": "violet",
    "broker": "indigo",
    "trader": "teal",
}


def page_header(title: str, subtitle: Any = None, *actions: rx.Component) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.heading(title, size="7", weight="bold"),
            rx.cond(subtitle is not None, rx.text(subtitle, color_scheme="gray", size="2"))
            if subtitle is not None
            else rx.fragment(),
            spacing="1",
        ),
        rx.spacer(),
        rx.hstack(*actions, spacing="2", wrap="wrap"),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="start", sm="center"),
        gap="12px",
        width="100%",
        margin_bottom="20px",
    )


def role_badge(role: rx.Var | str) -> rx.Component:
    return rx.match(
        role,
        *[
            (r, rx.badge(r.capitalize(), color_scheme=c, variant="soft"))
            for r, c in ROLE_COLORS.items()
        ],
        rx.badge(role, variant="soft"),
    )


def status_badge(active: rx.Var | bool, locked: rx.Var | bool = False) -> rx.Component:
    return rx.cond(
        locked,
        rx.badge(rx.icon("lock", size=12), "Locked", color_scheme="red", variant="soft"),
        rx.cond(
            active,
            rx.badge("Active", color_scheme="green", variant="soft"),
            rx.badge("Inactive", color_scheme="gray", variant="soft"),
        ),
    )


# Columns a stacked-card table names (brm.css has one rule per column).
MAX_CARD_COLUMNS = 12

_field_ids = itertools.count(1)
# Controls a <label for=...> can name: text inputs (also as the DebounceInput Reflex wraps a
# controlled input in, which passes its id on), text areas, switches, selects (by their trigger).
_LABELABLE = (
    TextFieldRoot,
    DebounceInput,
    TextArea,
    Switch,
    SelectTrigger,
    BaseInput,
    Select,
    Textarea,
)


def _labelable(control: rx.Component) -> rx.Component | None:
    """The element a label names: the control itself, or a select's trigger button."""
    if isinstance(control, _LABELABLE):
        return control
    if isinstance(control, SelectRoot):
        return next((c for c in control.children if isinstance(c, SelectTrigger)), None)
    return None


def field(
    label: str,
    control: rx.Component,
    error: rx.Var | str = "",
    hint: str | None = None,
) -> rx.Component:
    """A labelled form control with its validation message right under it.

    The label is tied to the control (`<label for=id>`; an id is given when the control has none),
    so screen readers announce it and a click on it focuses the control. A group of controls (a
    row of checkboxes) is a `role=group` named by the label instead.
    """
    caption = rx.text(label, as_="span", size="2", weight="medium")
    message = rx.cond(
        error != "",
        rx.text(error, size="1", color_scheme="red", role="alert"),
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
    )
    target = _labelable(control)
    if target is None:
        return rx.vstack(
            caption,
            control,
            message,
            role="group",
            aria_label=label,
            spacing="1",
            width="100%",
            align="stretch",
        )
    if target.id is None:
        target.id = f"field-{next(_field_ids)}"
    return rx.vstack(
        rx.el.label(caption, html_for=target.id),
        control,
        message,
        spacing="1",
        width="100%",
        align="stretch",
    )


def pager(
    offset: rx.Var,
    limit: rx.Var,
    shown: rx.Var,
    total_label: rx.Var,
    has_prev: rx.Var,
    has_next: rx.Var,
    on_prev: Any,
    on_next: Any,
) -> rx.Component:
    return rx.flex(
        rx.text(
            rx.cond(
                shown > 0,
                rx.fragment(
                    local_number(offset + 1, 0), "–", local_number(offset + shown, 0), " of "
                ),
                "0 of ",
            ),
            total_label,
            size="2",
            color_scheme="gray",
        ),
        rx.spacer(),
        rx.hstack(
            rx.button(
                rx.icon("chevron-left", size=16),
                "Previous",
                variant="soft",
                disabled=~has_prev,
                on_click=on_prev,
                aria_label="Previous page",
            ),
            rx.button(
                "Next",
                rx.icon("chevron-right", size=16),
                variant="soft",
                disabled=~has_next,
                on_click=on_next,
                aria_label="Next page",
            ),
            spacing="2",
        ),
        align="center",
        width="100%",
        padding_top="12px",
        wrap="wrap",
        gap="8px",
    )


def list_pager(state: Any, page_size: int, total_label: rx.Var) -> rx.Component:
    """The pager of a state built on PagedListMixin (offset, shown, has_prev/next, prev/next_page)."""
    return pager(
        state.offset,
        page_size,
        state.shown,
        total_label,
        state.has_prev,
        state.has_next,
        state.prev_page,
        state.next_page,
    )


def empty_state(icon: str, title: str, text: str) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("gray", 9)),
            rx.text(title, weight="medium"),
            rx.text(text, size="2", color_scheme="gray", align="center"),
            align="center",
            spacing="2",
        ),
        padding="32px",
        width="100%",
    )


def file_button(label: str, icon: str = "file-up", **input_props: Any) -> Any:
    """A file input shown as a soft button (assets/brm.css `.file-button`): the native control
    stays in the page, focusable and named by `label`, but invisible."""
    return rx.el.label(
        rx.icon(icon, size=16),
        rx.text(label, size="2"),
        rx.el.input(type="file", **input_props),
        class_name="file-button",
    )


def card(*children: rx.Component, **props: Any) -> rx.Component:
    return rx.card(*children, size="2", width="100%", **props)


def stat(label: str, value: Any, icon: str, color: str = "indigo") -> rx.Component:
    return card(
        rx.hstack(
            rx.center(
                rx.icon(icon, size=20),
                background=rx.color(color, 3),
                color=rx.color(color, 11),
                border_radius="10px",
                width="40px",
                height="40px",
                flex_shrink="0",
            ),
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray"),
                # A count (or a numeric text) as the user's locale writes it.
                rx.text(local_number(value, 0), size="6", weight="bold"),
                spacing="0",
            ),
            spacing="3",
            align="center",
        )
    )


def _first_text(component: Any) -> str:
    """The first literal text in a component tree (a column heading's label)."""
    contents = getattr(component, "contents", None)
    value = getattr(contents, "_var_value", None)
    if isinstance(value, str) and value.strip():
        return value
    for child in getattr(component, "children", []) or []:
        found = _first_text(child)
        if found:
            return found
    return ""


def _column_labels(table: rx.Component) -> list[str]:
    for part in table.children:
        if isinstance(part, TableHeader) and part.children:
            return [_first_text(cell) for cell in part.children[0].children]
    return []


def table_scroll(table: rx.Component, labels: list[str] | None = None) -> rx.Component:
    """A table that becomes stacked cards on a phone or tablet (below 62em, where the sidebar
    goes: one card per row, each value under its column's name; `.brm-cards` in assets/brm.css),
    so no column hides behind a sideways scroll. The names come from the headings unless given."""
    names = labels if labels is not None else _column_labels(table)
    style = {f"--col{i + 1}": json.dumps(n) for i, n in enumerate(names[:MAX_CARD_COLUMNS])}
    existing = table.class_name if isinstance(getattr(table, "class_name", None), str) else ""
    table.class_name = f"{existing} brm-cards".strip()
    return rx.box(table, width="100%", overflow_x="auto", style=style, class_name="brm-cards-box")


def data_table(
    columns: list[str], rows: Any, render_row: Callable[[Any], rx.Component]
) -> rx.Component:
    """A compact table of one page of rows, under its column headings (scrolls on a phone)."""
    return table_scroll(
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in columns))),
            rx.table.body(rx.foreach(rows, render_row)),
            variant="surface",
            size="1",
            width="100%",
        )
    )


def local_minutes(value: Any) -> rx.Var[str]:
    """An ISO timestamp as a short date and time in the user's locale and time zone (My
    account), as a plain expression: a list of 50 rows then renders 50 strings, not 50
    moment.js components (each parsing with moment and joining a refresh timer). `new Date`
    reads the ISO text as moment does (an offset when it has one, else local time)."""
    from brm_app.state.auth import SessionState

    iso = rx.Var.create(value).to(str)
    # Any: Reflex's stubs type state vars as their Python values (str).
    locale: Any = SessionState.locale
    tz: Any = SessionState.time_zone
    # Written in the user's locale ("" is the browser's own) and time zone, as a short date and
    # time; one formatter per pair, kept on window, so a long list does not build one per row.
    js = (
        "((d, l, z) => { if (isNaN(d)) return ''; const k = '__brmFmt_' + (l || '-') + z;"
        " let f = window[k]; if (!f) { try { f = new Intl.DateTimeFormat(l || undefined,"
        " {dateStyle: 'medium', timeStyle: 'short', timeZone: z || undefined}); }"
        " catch (e) { f = new Intl.DateTimeFormat(undefined,"
        " {dateStyle: 'medium', timeStyle: 'short'}); } window[k] = f; } return f.format(d); })"
        f"(new Date({iso}), {locale}, {tz})"
    )
    return rx.Var[str](
        _js_expr=js,
        _var_type=str,
        _var_data=rx.vars.VarData.merge(
            iso._get_all_var_data(), locale._get_all_var_data(), tz._get_all_var_data()
        ),
    )


def local_day(value: Any) -> rx.Var[str]:
    """A calendar day (ISO date, e.g. a trade date) as a medium date in the user's locale, never
    shifted by a time zone (read and written as UTC)."""
    from brm_app.state.auth import SessionState

    day = rx.Var.create(value).to(str)
    locale: Any = SessionState.locale
    js = (
        "((d, l) => { const x = new Date(d + 'T00:00:00Z'); if (!d || isNaN(x)) return d || '';"
        " try { return x.toLocaleDateString(l || undefined, {dateStyle: 'medium',"
        " timeZone: 'UTC'}); } catch (e) { return d; } })"
        f"({day}, {locale})"
    )
    return rx.Var[str](
        _js_expr=js,
        _var_type=str,
        _var_data=rx.vars.VarData.merge(day._get_all_var_data(), locale._get_all_var_data()),
    )


def local_number(value: Any, digits: int = 2) -> rx.Var[str]:
    """A number (or a decimal sent as a string) written in the user's locale."""
    from brm_app.state.auth import SessionState

    num = rx.Var.create(value)
    locale: Any = SessionState.locale
    js = (
        "((n, l) => { const x = Number(n); return (n === '' || n === null || isNaN(x)) ? ''"
        f" : x.toLocaleString(l || undefined, {{minimumFractionDigits: 0,"
        f" maximumFractionDigits: {int(digits)}}}); }})({num}, {locale})"
    )
    return rx.Var[str](
        _js_expr=js,
        _var_type=str,
        _var_data=rx.vars.VarData.merge(num._get_all_var_data(), locale._get_all_var_data()),
    )


def datetime_text(value: rx.Var, empty: str = "—") -> rx.Component:
    """An ISO UTC timestamp shown in the browser's own time zone."""
    return rx.cond(
        value,
        rx.el.time(local_minutes(value), date_time=value),
        rx.text(empty, as_="span", color_scheme="gray"),
    )


def shown_once_dialog(
    *, title: Any, description: str, secret: rx.Var, open_: rx.Var, on_done: Any, secret_id: str
) -> rx.Component:
    """A password (or address) shown this once, with a copy button; closing forgets it."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray"),
            rx.hstack(
                rx.code(secret, size="4", id=secret_id, word_break="break-all"),
                rx.icon_button(
                    rx.icon("copy", size=16),
                    variant="soft",
                    on_click=rx.set_clipboard(secret),
                    aria_label="Copy",
                ),
                align="center",
                spacing="2",
                margin_y="16px",
            ),
            rx.hstack(rx.button("Done", on_click=on_done, id=f"{secret_id}-done"), justify="end"),
        ),
        open=open_,
    )
