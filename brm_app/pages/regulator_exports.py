"""/compliance/exports: regulator export archives (everything about a firm, trader or broker over
a period), requested here, built in the background, downloaded when done."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.subject_picker import subject_picker
from brm_app.components.ui import card, empty_state, field, page_header
from brm_app.state.regulator_exports import ExportsState

S: Any = ExportsState


def _form() -> Any:
    return card(
        rx.heading("New export", size="4", margin_bottom="4px"),
        rx.text(
            "Every record of the period with every version, the attachments and the audit "
            "events that touch them, as JSON lines and CSV, with a manifest of SHA-256 digests "
            "(check a download with `brm export verify FILE`). Kept encrypted until downloaded; "
            "each download is recorded.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.cond(
            S.errors.contains("form"),
            rx.callout(S.errors["form"], color_scheme="red", role="alert"),
        ),
        subject_picker(S, prefix="export", label="About"),
        rx.form(
            rx.flex(
                field(
                    "From",
                    rx.input(type="date", name="date_from", required=True, id="export-from"),
                    S.errors.get("date_from", ""),
                ),
                field(
                    "To",
                    rx.input(type="date", name="date_to", required=True, id="export-to"),
                    S.errors.get("date_to", ""),
                ),
                rx.button(
                    rx.icon("archive", size=16),
                    "Request export",
                    type="submit",
                    id="export-request",
                ),
                gap="12px",
                align="end",
                wrap="wrap",
                margin_top="12px",
            ),
            on_submit=S.request,
            reset_on_submit=False,
        ),
    )


def _export(e: Any) -> Any:
    return card(
        rx.flex(
            rx.vstack(
                rx.text(rx.text.strong(e["subject"]), " · ", e["period"], size="2"),
                rx.text(
                    e["status"],
                    rx.cond(
                        e["status"] == "done",
                        rx.text.span(
                            " · ",
                            e["records"],
                            " records · ",
                            e["size_kb"],
                            " KB · sha256 ",
                            e["sha256"],
                            "…",
                        ),
                    ),
                    rx.cond(e["error"] != "", rx.text.span(" · ", e["error"])),
                    size="1",
                    color_scheme="gray",
                ),
                rx.cond(
                    (e["status"] == "queued") | (e["status"] == "running"),
                    rx.progress(value=e["progress"], max=100, width="200px", aria_label="Progress"),
                ),
                spacing="1",
            ),
            rx.spacer(),
            rx.cond(
                e["status"] == "done",
                # rx.download makes a real download (an in-app link would be routed instead).
                rx.button(
                    rx.icon("download", size=16),
                    "Download",
                    variant="soft",
                    type="button",
                    on_click=rx.download(
                        url=e["url"].to(str),
                        filename="regulator-export-" + e["id"].to_string() + ".zip",
                    ),
                    id="export-download-" + e["id"].to_string(),
                    aria_label=f"Download the archive of {e['subject']}",
                ),
            ),
            align="center",
            gap="8px",
            wrap="wrap",
            width="100%",
        ),
        id="export-" + e["id"].to_string(),
    )


@app_page("/compliance/exports", "Regulator exports", on_load=[S.load])
def regulator_exports_page() -> Any:
    return rx.vstack(
        page_header(
            "Regulator exports",
            "One archive with everything about a firm, a trader or a broker over a period.",
            rx.button(
                rx.icon("refresh-cw", size=16), "Refresh", variant="soft", on_click=S.refresh
            ),
        ),
        _form(),
        # While an export is being built, a tick every second refreshes the list (progress).
        rx.cond(S.building, rx.moment(interval=1000, on_change=S.refresh, display="none")),
        rx.cond(
            S.exports.length() > 0,
            rx.vstack(rx.foreach(S.exports, _export), spacing="2", width="100%", id="export-list"),
            card(empty_state("archive", "No export yet", "Request one above.")),
        ),
        width="100%",
    )
