"""/compliance/review: supervisory review. The queue (each item with its hit highlighted in
context), the reports (coverage per broker and month, items open too long, flags by rule) and
the rules that select items. Items are cards, so the page reads on a phone as on a desk."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, datetime_text, empty_state, field, page_header
from brm_app.state.review import ReviewState

S: Any = ReviewState

_STATUS_COLOR = {"open": "amber", "escalated": "orange", "approved": "green", "flagged": "red"}
_ACTION_LABEL = {"approve": "Approve", "escalate": "Escalate", "flag": "Flag"}


def _select(name: str, label: str, options: list[tuple[str, str]], value: Any) -> Any:
    return field(
        label,
        rx.el.select(
            *[rx.el.option(text, value=v) for v, text in options],
            name=name,
            id=f"review-{name}",
            default_value=value,
        ),
    )


def _filters() -> Any:
    return rx.form(
        rx.flex(
            _select(
                "status",
                "Status",
                [
                    ("open", "Open"),
                    ("escalated", "Escalated"),
                    ("approved", "Approved"),
                    ("flagged", "Flagged"),
                    ("all", "All"),
                ],
                S.status,
            ),
            _select(
                "reason",
                "Selected by",
                [
                    ("", "Any rule"),
                    ("lexicon", "Lexicon"),
                    ("attachment", "Attachment"),
                    ("sample", "Random sample"),
                ],
                S.reason,
            ),
            rx.button(rx.icon("filter", size=16), "Show", type="submit", id="review-filter"),
            gap="12px",
            align="end",
            wrap="wrap",
        ),
        on_submit=S.filter,
        reset_on_submit=False,
        key=S.filter_form_key.to_string(),
    )


def _excerpt(i: Any) -> Any:
    return rx.text(
        i["before"],
        rx.el.mark(i["hit"], class_name="brm-hit"),
        i["after"],
        size="2",
        white_space="pre-wrap",
        style={"overflow_wrap": "anywhere"},
    )


def _evidence(e: Any) -> Any:
    return rx.text(
        rx.text.strong(e["what"]),
        " · ",
        datetime_text(e["at"]),
        rx.cond(e["comment"] != "", rx.text.span(": ", e["comment"])),
        size="1",
        color_scheme="gray",
        white_space="pre-wrap",
        style={"overflow_wrap": "anywhere"},
        class_name="brm-review-evidence",
    )


def _item(i: Any) -> Any:
    return card(
        rx.vstack(
            rx.flex(
                rx.badge(
                    i["status"], color_scheme=rx.match(i["status"], *_STATUS_COLOR.items(), "gray")
                ),
                rx.badge(i["reason"], variant="soft", color_scheme="indigo"),
                rx.cond(i["rule"] != "", rx.text(i["rule"], size="1", color_scheme="gray")),
                rx.cond(
                    i["overdue"], rx.badge("open too long", color_scheme="red", variant="outline")
                ),
                gap="6px",
                wrap="wrap",
                align="center",
            ),
            rx.text(
                rx.text.strong(i["firm"]),
                " · ",
                i["broker"],
                " · ",
                i["source"],
                " · ",
                datetime_text(i["at"]),
                size="2",
            ),
            _excerpt(i),
            rx.foreach(i["evidence"].to(list[dict[str, str]]), _evidence),
            rx.cond(
                i["assigned_to"] != "",
                rx.text("Escalated to ", i["assigned_to"], size="1", color_scheme="gray"),
            ),
            rx.flex(
                rx.link("Open the record", href=i["link"], size="2"),
                rx.spacer(),
                rx.cond(
                    i["decidable"],
                    rx.flex(
                        *[
                            rx.button(
                                label,
                                size="1",
                                variant="soft",
                                color_scheme="red" if action == "flag" else None,
                                on_click=S.start_action(i["id"], action),
                                aria_label=f"{label}: {i['source']} of {i['firm']}",
                                id=f"review-{action}-" + i["id"].to_string(),
                            )
                            for action, label in _ACTION_LABEL.items()
                        ],
                        gap="6px",
                    ),
                ),
                align="center",
                gap="8px",
                wrap="wrap",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        id="review-item-" + i["id"].to_string(),
    )


def _queue() -> Any:
    return rx.vstack(
        card(
            _filters(),
            rx.cond(S.error != "", rx.callout(S.error, color_scheme="red", role="alert")),
        ),
        rx.cond(
            S.items.length() > 0,
            rx.vstack(rx.foreach(S.items, _item), spacing="3", width="100%", id="review-queue"),
            card(
                empty_state("shield-check", "Nothing to review", "No item matches these filters.")
            ),
        ),
        rx.hstack(
            rx.button("Previous", variant="soft", disabled=S.offset == 0, on_click=S.prev_page),
            rx.button("Next", variant="soft", disabled=~S.has_next, on_click=S.next_page),
            spacing="2",
        ),
        spacing="3",
        width="100%",
    )


def _report() -> Any:
    return rx.vstack(
        card(
            rx.heading("Review coverage per broker and month", size="4", margin_bottom="8px"),
            rx.cond(
                S.coverage.length() > 0,
                rx.vstack(
                    rx.foreach(
                        S.coverage,
                        lambda r: rx.text(
                            rx.text.strong(r["month"]),
                            " · ",
                            r["broker_name"],
                            ": ",
                            r["decided"],
                            " of ",
                            r["selected"],
                            " decided (",
                            r["percent_decided"],
                            "%), ",
                            r["flagged"],
                            " flagged",
                            size="2",
                        ),
                    ),
                    spacing="1",
                    id="review-coverage",
                ),
                rx.text("No item selected in these months.", size="2", color_scheme="gray"),
            ),
        ),
        card(
            rx.heading(
                "Open longer than ",
                S.overdue_days,
                " days: ",
                S.late_count,
                size="4",
                margin_bottom="8px",
            ),
            rx.vstack(rx.foreach(S.late, _item), spacing="2", width="100%"),
        ),
        card(
            rx.heading("Flags by rule", size="4", margin_bottom="8px"),
            rx.cond(
                S.flags.length() > 0,
                rx.vstack(
                    rx.foreach(
                        S.flags,
                        lambda f: rx.text(f["reason"], " ", f["rule"], ": ", f["count"], size="2"),
                    ),
                    spacing="1",
                    id="review-flags",
                ),
                rx.text("Nothing flagged yet.", size="2", color_scheme="gray"),
            ),
        ),
        spacing="3",
        width="100%",
    )


def _rules() -> Any:
    return card(
        rx.heading("What is selected for review", size="4", margin_bottom="4px"),
        rx.text(
            "Every communication on every channel and every saved interaction is read once. "
            "It is selected when it contains a word or phrase of the lexicon (* matches any "
            "ending: guarantee* finds guaranteed), when a message carries an attachment, or at "
            "random with the sample percentage (the same for every broker).",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.vstack(
                field(
                    "Lexicon (one word or phrase per line)",
                    rx.text_area(
                        name="terms",
                        default_value=S.terms_text,
                        rows="8",
                        id="review-terms",
                        read_only=~S.can_edit_rules,
                        width="100%",
                    ),
                    S.rules_errors.get("terms", ""),
                ),
                rx.el.label(
                    rx.checkbox(
                        name="attachments",
                        default_checked=S.attachments_rule,
                        disabled=~S.can_edit_rules,
                        id="review-attachments",
                    ),
                    rx.text("Review every message with an attachment", size="2"),
                    style={"display": "flex", "gap": "8px", "align_items": "center"},
                ),
                field(
                    "Random sample (% of each broker's other records)",
                    rx.input(
                        name="sample_percent",
                        default_value=S.sample_percent,
                        input_mode="decimal",
                        id="review-sample",
                        read_only=~S.can_edit_rules,
                        max_length=10,
                    ),
                    S.rules_errors.get("sample_percent", ""),
                ),
                rx.cond(
                    S.can_edit_rules,
                    rx.button("Save rules", type="submit", id="review-save-rules"),
                    rx.text("Admins change these rules.", size="2", color_scheme="gray"),
                ),
                spacing="3",
                align="start",
                width="100%",
            ),
            on_submit=S.save_rules,
            reset_on_submit=False,
            key=S.rules_form_key.to_string(),
        ),
    )


def _dialog() -> Any:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(
                rx.match(S.dialog_action, ("approve", "Approve"), ("escalate", "Escalate"), "Flag"),
                " this item",
            ),
            rx.dialog.description(
                rx.text(S.dialog_excerpt, size="2", white_space="pre-wrap"),
                margin_bottom="12px",
            ),
            rx.form(
                rx.vstack(
                    rx.cond(
                        S.dialog_action == "escalate",
                        field(
                            "Escalate to",
                            rx.el.select(
                                rx.el.option("Choose…", value=""),
                                rx.foreach(
                                    S.targets, lambda t: rx.el.option(t["label"], value=t["id"])
                                ),
                                name="escalate_to",
                                id="review-escalate-to",
                            ),
                            S.dialog_errors.get("escalate_to", ""),
                        ),
                    ),
                    field(
                        rx.cond(S.dialog_action == "approve", "Comment (optional)", "Comment"),
                        rx.text_area(
                            name="comment",
                            id="review-comment",
                            max_length=2000,
                            rows="3",
                            width="100%",
                        ),
                        S.dialog_errors.get("comment", ""),
                    ),
                    rx.text(
                        "Your decision is kept as evidence and cannot be changed.",
                        size="1",
                        color_scheme="gray",
                    ),
                    rx.flex(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.match(
                                S.dialog_action,
                                ("approve", "Approve"),
                                ("escalate", "Escalate"),
                                "Flag",
                            ),
                            type="submit",
                            disabled=S.saving,
                            id="review-confirm",
                        ),
                        gap="8px",
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.submit_action,
                reset_on_submit=False,
            ),
            max_width="520px",
        ),
        open=S.dialog_open,
        on_open_change=S.set_dialog_open,
    )


@app_page("/compliance/review", "Supervisory review", on_load=[S.load])
def review_page() -> Any:
    return rx.vstack(
        page_header(
            "Supervisory review",
            "Communications and interactions selected by the review rules; each decision is kept as evidence.",
        ),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Queue", value="queue"),
                rx.cond(S.can_report, rx.tabs.trigger("Reports", value="reports")),
                rx.tabs.trigger("Rules", value="rules"),
            ),
            rx.tabs.content(_queue(), value="queue", padding_top="12px"),
            rx.tabs.content(_report(), value="reports", padding_top="12px"),
            rx.tabs.content(_rules(), value="rules", padding_top="12px"),
            default_value="queue",
            width="100%",
        ),
        _dialog(),
        width="100%",
    )
