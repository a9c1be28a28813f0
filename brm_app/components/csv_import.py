"""The dialog of a CSV import previewed before anything changes (see state/csv_import.py)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.ui import file_button, table_scroll
from brm_app.state.csv_import import upload_script


def csv_import_dialog(
    S: Any, *, input_id: str, title: str, description: str, columns: str, prefix: str
) -> rx.Component:
    """`S` is a state using CsvImportMixin; `prefix` names the dialog's controls for tests."""
    problems = table_scroll(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Row"),
                    rx.table.column_header_cell("Field"),
                    rx.table.column_header_cell("Problem"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    S.imp_problems,
                    lambda p: rx.table.row(
                        rx.table.cell(p["row"]),
                        rx.table.cell(p["field"]),
                        rx.table.cell(p["message"]),
                        class_name=f"{prefix}-problem",
                    ),
                )
            ),
            size="1",
            width="100%",
        )
    )
    dialog: rx.Component = rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2"),
            rx.vstack(
                rx.text("Columns: ", rx.code(columns), size="1", color_scheme="gray"),
                file_button(
                    "Choose a CSV file",
                    id=input_id,
                    accept=".csv,.txt,text/csv,text/plain",
                    disabled=S.imp_busy,
                    on_change=[
                        S.imp_upload_started,
                        rx.call_script(upload_script(input_id), callback=S.imp_uploaded),
                    ],
                ),
                rx.cond(
                    S.imp_busy,
                    rx.hstack(rx.spinner(size="2"), rx.text("Checking…", size="2")),
                ),
                rx.cond(S.imp_file != "", rx.text(S.imp_file, size="2", weight="medium")),
                rx.cond(
                    S.imp_error != "",
                    rx.callout(
                        S.imp_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id=f"{prefix}-error",
                        width="100%",
                    ),
                ),
                rx.cond(
                    S.imp_problems.length() > 0,
                    rx.vstack(
                        rx.text(
                            "Nothing was imported. Fix these rows and choose the file again:",
                            size="2",
                            role="alert",
                        ),
                        problems,
                        width="100%",
                    ),
                ),
                rx.cond(
                    S.imp_ready > 0,
                    rx.callout(
                        S.imp_summary,
                        icon="circle-check",
                        color_scheme="green",
                        id=f"{prefix}-ready",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(
                        rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                    ),
                    rx.button(
                        "Import " + S.imp_ready.to_string() + " rows",
                        on_click=S.imp_commit,
                        disabled=(S.imp_ready == 0) | S.imp_busy,
                        loading=S.imp_busy,
                        id=f"{prefix}-commit",
                    ),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                margin_top="12px",
                width="100%",
            ),
            max_width="640px",
        ),
        open=S.imp_open,
        on_open_change=S.set_imp_open,
    )
    return dialog
