"""A list page's saved views: the menu that applies one, and the dialog that saves the current
search, filters, sort and columns under a name (and deletes one's views). `T` is the page's
SavedViewsMixin state."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.ui import field


def views_bar(T: Any, list_label: str) -> rx.Component:
    bar: rx.Component = rx.flex(
        rx.cond(
            T.views.length() > 0,
            rx.select.root(
                rx.select.trigger(
                    placeholder="Saved views",
                    aria_label=f"Saved views of the {list_label}",
                    id="views",
                ),
                rx.select.content(
                    rx.foreach(T.views, lambda v: rx.select.item(v["name"], value=v["id"]))
                ),
                on_change=T.apply_view,
                value="",
            ),
        ),
        rx.button(
            rx.icon("bookmark-plus", size=14),
            "Save view…",
            size="2",
            variant="ghost",
            on_click=T.set_save_open(True),
            id="save-view",
        ),
        gap="8px",
        align="center",
    )
    return bar


def save_view_dialog(T: Any, column_labels: dict[str, str]) -> rx.Component:
    dialog: rx.Component = rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Save this view"),
            rx.dialog.description(
                "The search, filters, sort and the columns below, under a name of your own.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.vstack(
                    field(
                        "Name",
                        rx.input(name="name", max_length=60, required=True, id="view-name"),
                        T.save_error,
                    ),
                    rx.el.fieldset(
                        rx.el.legend(rx.text("Columns", size="2", weight="medium")),
                        rx.flex(
                            *[
                                rx.checkbox(
                                    label,
                                    checked=T.columns.contains(key),
                                    on_change=lambda v, key=key: T.toggle_column(key, v),
                                    disabled=key == "name",
                                    class_name="view-column",
                                )
                                for key, label in column_labels.items()
                            ],
                            gap="12px",
                            wrap="wrap",
                        ),
                        border="none",
                        padding="0",
                        margin="0",
                    ),
                    rx.cond(
                        T.views.length() > 0,
                        rx.el.fieldset(
                            rx.el.legend(rx.text("Your views", size="2", weight="medium")),
                            rx.vstack(
                                rx.foreach(
                                    T.views,
                                    lambda v: rx.hstack(
                                        rx.text(v["name"], size="2"),
                                        rx.spacer(),
                                        rx.icon_button(
                                            rx.icon("trash-2", size=14),
                                            type="button",
                                            variant="ghost",
                                            color_scheme="gray",
                                            size="1",
                                            on_click=T.delete_view(v["id"]),
                                            aria_label="Delete view " + v["name"].to(str),
                                        ),
                                        width="100%",
                                        align="center",
                                    ),
                                ),
                                spacing="1",
                                width="100%",
                            ),
                            border="none",
                            padding="0",
                            margin="0",
                            width="100%",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", type="button", variant="soft", color_scheme="gray")
                        ),
                        rx.button("Save view", type="submit", id="view-save"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=T.save_view,
                reset_on_submit=False,
            ),
        ),
        open=T.save_open,
        on_open_change=T.set_save_open,
    )
    return dialog
