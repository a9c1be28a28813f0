"""/admin/jobs: background jobs (admins)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    data_table,
    datetime_text,
    empty_state,
    list_pager,
    page_header,
)
from brm_app.state.admin_jobs import PAGE_SIZE, STATES
from brm_app.state.admin_jobs import JobsState as S

_COLORS = {"queued": "blue", "running": "amber", "failed": "orange", "dead": "red", "done": "green"}


def _count(state: str) -> rx.Component:
    return rx.button(
        rx.text(state.capitalize()),
        rx.badge(S.counts.get(state, 0), color_scheme=_COLORS[state], id=f"count-{state}"),
        variant=rx.cond(S.state_filter == state, "solid", "soft"),
        color_scheme=_COLORS[state],
        on_click=S.set_state_filter(state),
        size="2",
    )


def _row(r: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", r["job_id"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.vstack(
                rx.code(r["kind"], size="1", variant="ghost"),
                rx.text(r["payload"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(rx.badge(r["state"], class_name="job-state")),
        rx.table.cell(rx.text(r["attempts"], size="2")),
        rx.table.cell(datetime_text(r["run_at"]), white_space="nowrap"),
        rx.table.cell(rx.text(r["last_error"], size="1", color_scheme="red", max_width="360px")),
        rx.table.cell(
            rx.cond(
                r["state"] == "dead",
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Retry",
                    size="1",
                    variant="soft",
                    on_click=S.retry(r["job_id"]),
                    class_name="retry-job",
                ),
            )
        ),
        align="center",
        class_name="job-row",
    )


@app_page("/admin/jobs", "Background jobs", on_load=[S.load])
def admin_jobs() -> rx.Component:
    return rx.vstack(
        page_header(
            "Background jobs",
            "Reminder emails and other work done in the background. A dead job ran out of "
            "attempts or failed for good: retry it once its cause is fixed.",
        ),
        rx.flex(
            rx.button(
                "All",
                variant=rx.cond(S.state_filter == "", "solid", "soft"),
                color_scheme="gray",
                high_contrast=True,
                on_click=S.set_state_filter("all"),
            ),
            *[_count(s) for s in STATES],
            gap="8px",
            wrap="wrap",
        ),
        card(
            rx.vstack(
                rx.cond(
                    S.shown > 0,
                    data_table(
                        ["#", "Job", "State", "Attempts", "Run at", "Last error", ""], S.rows, _row
                    ),
                    empty_state("list-checks", "No jobs here", "Nothing waits or failed."),
                ),
                list_pager(S, PAGE_SIZE, S.total.to_string()),
                spacing="3",
                width="100%",
            )
        ),
        width="100%",
    )
