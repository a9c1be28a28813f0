"""/import: CSV import of firms and traders (upload, map columns, import, report)."""

from __future__ import annotations

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, file_button, page_header, stat, table_scroll
from brm_app.state.import_data import FILE_INPUT_ID, NO_BROKER, SKIP, UPLOAD_SCRIPT
from brm_app.state.import_data import ImportState as S


def _step(number: str, title: str, text: str | None = None) -> rx.Component:
    return rx.hstack(
        rx.center(
            rx.text(number, size="2", weight="bold"),
            background=rx.color("indigo", 4),
            color=rx.color("indigo", 11),
            border_radius="999px",
            width="28px",
            height="28px",
            flex_shrink="0",
        ),
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(text, size="2", color_scheme="gray") if text else rx.fragment(),
            spacing="0",
        ),
        align="center",
        spacing="3",
        margin_bottom="12px",
    )


def _choose() -> rx.Component:
    return card(
        _step(
            "1",
            "What and which file",
            "The first row names the columns. UTF-8 or Windows-1252 text, separated by commas, "
            "semicolons or tabs; up to 20 MB and 100,000 rows.",
        ),
        rx.flex(
            rx.segmented_control.root(
                rx.segmented_control.item("Firms", value="firms"),
                rx.segmented_control.item("Traders", value="traders"),
                value=S.kind,
                on_change=S.set_kind,
                disabled=S.running,
                id="import-kind",
            ),
            file_button(
                "Choose a CSV file to import",
                id=FILE_INPUT_ID,
                accept=".csv,.tsv,.txt,text/csv,text/plain",
                disabled=S.running | S.uploading,
                on_change=[S.upload_started, rx.call_script(UPLOAD_SCRIPT, callback=S.uploaded)],
            ),
            rx.cond(S.uploading, rx.hstack(rx.spinner(size="2"), rx.text("Reading…", size="2"))),
            gap="16px",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            S.error != "",
            rx.callout(
                S.error,
                icon="triangle-alert",
                color_scheme="red",
                margin_top="12px",
                id="import-error",
                role="alert",
            ),
        ),
        rx.cond(
            S.has_file,
            rx.hstack(
                rx.icon("file-text", size=16),
                rx.text(S.file_name, weight="medium", id="import-file-name"),
                rx.text("·", color_scheme="gray"),
                rx.text(S.row_count.to_string(), " rows", size="2", id="import-row-count"),
                rx.spacer(),
                rx.button(
                    "Start over",
                    variant="ghost",
                    color_scheme="gray",
                    on_click=S.start_over,
                    disabled=S.running,
                ),
                align="center",
                margin_top="12px",
                width="100%",
            ),
        ),
    )


def _mapping_row(col) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(col["header"], weight="medium")),
        rx.table.cell(
            rx.select.root(
                rx.select.trigger(width="100%", aria_label="Imports as " + col["header"].to(str)),
                rx.select.content(
                    rx.select.item("— not imported —", value=SKIP),
                    rx.foreach(S.field_options, lambda f: rx.select.item(f, value=f)),
                ),
                value=col["field"],
                on_change=lambda value: S.set_mapping(col["index"], value),
                disabled=S.running,
            ),
            min_width="220px",
        ),
        rx.table.cell(rx.text(col["samples"], size="1", color_scheme="gray")),
        align="center",
    )


def _mapping() -> rx.Component:
    return card(
        _step(
            "2",
            "Columns",
            "Each file column imports as the field chosen here (suggested from its name).",
        ),
        table_scroll(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("File column"),
                        rx.table.column_header_cell("Imports as"),
                        rx.table.column_header_cell("Examples"),
                    )
                ),
                rx.table.body(rx.foreach(S.columns, _mapping_row)),
                variant="surface",
                size="1",
                width="100%",
                id="import-mapping",
            )
        ),
        rx.flex(
            rx.cond(
                S.can_assign & (S.kind == "firms"),
                rx.vstack(
                    rx.text("Primary broker of firms whose row names none", size="2"),
                    rx.select.root(
                        rx.select.trigger(
                            placeholder="Choose a broker",
                            aria_label="Default primary broker",
                            id="default-broker",
                        ),
                        rx.select.content(
                            rx.select.item("None: the row must name one", value=NO_BROKER),
                            rx.foreach(
                                S.brokers, lambda b: rx.select.item(b["name"], value=b["id"])
                            ),
                        ),
                        value=S.default_broker,
                        on_change=S.set_default_broker,
                        disabled=S.running,
                    ),
                    spacing="1",
                ),
            ),
            rx.checkbox(
                "Only check the rows (import nothing)",
                checked=S.dry_run,
                on_change=S.set_dry_run,
                disabled=S.running,
                id="import-dry-run",
            ),
            rx.spacer(),
            rx.button(
                rx.cond(S.running, rx.spinner(size="2"), rx.icon("upload", size=16)),
                rx.cond(S.dry_run, "Check ", "Import "),
                S.row_count.to_string(),
                " rows",
                on_click=S.start_import,
                disabled=S.running,
                size="3",
                id="start-import",
            ),
            gap="16px",
            align="end",
            wrap="wrap",
            margin_top="16px",
        ),
    )


def _preview() -> rx.Component:
    return card(
        rx.text("First rows of the file", size="2", weight="medium", margin_bottom="8px"),
        table_scroll(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.foreach(S.header, lambda h: rx.table.column_header_cell(h)),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        S.preview,
                        lambda row: rx.table.row(
                            rx.foreach(row, lambda c: rx.table.cell(c, white_space="nowrap"))
                        ),
                    )
                ),
                size="1",
                variant="ghost",
            )
        ),
    )


def _progress() -> rx.Component:
    return card(
        rx.vstack(
            rx.hstack(
                rx.text(
                    rx.cond(S.running, "Importing… ", "Done: "),
                    S.done_rows.to_string(),
                    " of ",
                    S.row_count.to_string(),
                    " rows",
                    size="2",
                    id="import-progress-text",
                ),
                rx.spacer(),
                rx.text(S.percent.to_string(), "%", size="2", color_scheme="gray"),
                width="100%",
            ),
            rx.progress(value=S.percent, max=100, id="import-progress"),
            spacing="2",
            width="100%",
        ),
        aria_live="polite",
    )


def _issue_row(issue) -> rx.Component:
    return rx.table.row(
        rx.table.cell(issue["row"]),
        rx.table.cell(
            rx.text(issue["field"], weight="medium"),
            rx.cond(
                issue["column"] != "",
                rx.text("(", issue["column"], ")", size="1", color_scheme="gray"),
            ),
        ),
        rx.table.cell(issue["message"]),
    )


def _report() -> rx.Component:
    return card(
        _step("3", rx.cond(S.r_dry_run, "Check report", "Import report")),
        rx.grid(
            stat("Rows", S.r_total.to_string(), "rows-3"),
            stat(rx.cond(S.r_dry_run, "Valid", "Imported"), S.r_imported.to_string(), "check"),
            stat("Rejected", S.r_rejected.to_string(), "circle-x", "red"),
            columns=rx.breakpoints(initial="1", sm="3"),
            gap="12px",
            width="100%",
            id="import-report",
        ),
        rx.cond(
            S.r_dry_run,
            rx.callout("Nothing was imported: this was a check.", icon="info", margin_top="12px"),
        ),
        rx.cond(
            S.r_stopped != "",
            rx.callout(S.r_stopped, icon="octagon-alert", color_scheme="red", margin_top="12px"),
        ),
        rx.cond(
            S.issues.length() > 0,
            rx.vstack(
                rx.hstack(
                    rx.text(
                        "Rejected rows: nothing of them was imported. Fix them and import the "
                        "downloaded file again.",
                        size="2",
                    ),
                    rx.spacer(),
                    rx.button(
                        rx.icon("download", size=16),
                        "Rows not imported (CSV)",
                        variant="soft",
                        on_click=S.download_rejected,
                        disabled=~S.can_download_rejected,
                        id="download-rejected",
                    ),
                    align="center",
                    width="100%",
                    wrap="wrap",
                ),
                table_scroll(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Row", width="64px"),
                                rx.table.column_header_cell("Field"),
                                rx.table.column_header_cell("Problem"),
                            )
                        ),
                        rx.table.body(rx.foreach(S.issues, _issue_row)),
                        size="1",
                        variant="surface",
                        width="100%",
                        id="import-issues",
                    )
                ),
                rx.cond(
                    S.issues_hidden > 0,
                    rx.text(
                        S.issues_hidden.to_string(),
                        " more problems are in the downloaded file.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                spacing="3",
                margin_top="16px",
                width="100%",
            ),
        ),
    )


@app_page("/import", "Import", on_load=[S.load])
def import_data() -> rx.Component:
    return rx.vstack(
        page_header(
            "Import",
            "Add firms or traders from a CSV file. Valid rows are imported; the others are "
            "listed with the reason, and nothing of them is imported.",
            rx.button(
                rx.icon("file-down", size=16),
                "Template",
                variant="soft",
                on_click=S.download_template,
                id="import-template",
            ),
        ),
        _choose(),
        rx.cond(S.has_file, _mapping()),
        rx.cond(S.has_file & ~S.has_report & ~S.running, _preview()),
        rx.cond(S.running | S.has_report, _progress()),
        rx.cond(S.has_report, _report()),
        spacing="4",
        width="100%",
    )
