"""The command palette: a search box in the top bar (and Ctrl/Cmd+K) opening a dialog that
finds firms, traders, interactions, follow-ups, conversations and instruments, with quick
actions; the arrows move the selection, Enter opens it, Escape closes."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.state.palette import PaletteState

_ICONS = {
    "firm": "building-2",
    "trader": "contact",
    "interaction": "message-circle",
    "follow_up": "calendar-check",
    "conversation": "messages-square",
    "instrument": "chart-line",
    "action": "zap",
}

# Typed as Any: Reflex's stubs type state vars as their Python values.
P: Any = PaletteState


def palette_button() -> rx.Component:
    return rx.button(
        rx.icon("search", size=16),
        # Named by its text (no aria-label): on a phone the word is only hidden from sight.
        rx.text("Search", size="2", class_name="brm-wide-text"),
        rx.el.kbd("Ctrl K", class_name="brm-wide-only brm-kbd", aria_hidden="true"),
        variant="surface",
        color_scheme="gray",
        on_click=P.show,
        aria_keyshortcuts="Control+K Meta+K",
        id="palette-open",
    )


def _option(item: Any, index: Any) -> rx.Component:
    chosen = P.selected == index
    return rx.el.li(
        rx.hstack(
            rx.match(
                item["kind"],
                *[(k, rx.icon(icon, size=16, flex_shrink="0")) for k, icon in _ICONS.items()],
                rx.icon("search", size=16),
            ),
            rx.vstack(
                rx.text(item["label"], size="2", weight="medium"),
                rx.text(item["detail"], size="1", color_scheme="gray"),
                spacing="0",
                min_width="0",
            ),
            align="center",
            spacing="3",
        ),
        id="palette-opt-" + index.to_string(),
        role="option",
        aria_selected=rx.cond(chosen, "true", "false"),
        on_click=P.choose(index),
        class_name="palette-option",
        padding="8px 10px",
        border_radius="6px",
        cursor="pointer",
        list_style="none",
        background=rx.cond(chosen, rx.color("indigo", 4), "transparent"),
        _hover={"background": rx.color("gray", 3)},
    )


def palette_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Search", class_name="sr-only"),
            rx.dialog.description(
                "Firms, traders, interactions, follow-ups and actions. Arrows to choose, "
                "Enter to open.",
                class_name="sr-only",
            ),
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                placeholder="Find a firm, trader, interaction… or type an action",
                on_change=P.search.debounce(120),
                on_key_down=P.key,
                max_length=100,
                width="100%",
                size="3",
                id="palette-input",
                role="combobox",
                aria_label="Search",
                aria_expanded="true",
                aria_controls="palette-list",
                aria_autocomplete="list",
                aria_activedescendant=rx.cond(
                    P.items.length() > 0, "palette-opt-" + P.selected.to_string(), ""
                ),
                auto_complete="off",
            ),
            rx.el.ul(
                rx.foreach(P.items, _option),
                id="palette-list",
                role="listbox",
                aria_label="Results",
                margin="8px 0 0 0",
                padding="0",
                max_height="60vh",
                overflow_y="auto",
            ),
            rx.cond(
                P.searched & (P.items.length() == 0),
                rx.text("Nothing found.", size="2", color_scheme="gray", padding="8px"),
            ),
            max_width="640px",
            padding="12px",
            id="palette",
        ),
        open=P.is_open,
        on_open_change=P.set_open,
    )
