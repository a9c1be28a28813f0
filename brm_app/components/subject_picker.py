"""The scope select and name finder of a SubjectPickerMixin state (legal holds, regulator exports)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.ui import field


def name_matches(matches: Any, choose: Any, label: str, size: str = "2") -> Any:
    """Names found as you type, one button each (`choose(id, label)` on a click), as a list
    named `label` (the subject pickers, the communication log's filters)."""
    return rx.vstack(
        rx.foreach(
            matches,
            lambda m: rx.button(
                m["label"],
                variant="ghost",
                size=size,
                type="button",
                on_click=choose(m["id"], m["label"]),
            ),
        ),
        role="list",
        aria_label=label,
        spacing="1",
        align="start",
    )


def _by_name(s: Any, prefix: str) -> Any:
    return rx.vstack(
        field(
            "Name",
            rx.input(
                placeholder="Type part of the name",
                on_change=s.find.debounce(200),
                id=f"{prefix}-subject-search",
                max_length=100,
                auto_complete="off",
            ),
            s.errors.get("subject", ""),
        ),
        rx.cond(
            s.matches.length() > 0,
            name_matches(s.matches, s.choose, "Matching names"),
        ),
        rx.cond(
            s.subject_id > 0,
            rx.callout(
                rx.text("Chosen: ", rx.text.strong(s.subject_label)),
                icon="check",
                size="1",
                id=f"{prefix}-chosen",
            ),
        ),
        spacing="2",
        width="100%",
    )


def subject_picker(s: Any, *, prefix: str, label: str, with_dates: bool = False) -> Any:
    """`prefix` names the controls (`<prefix>-scope`, `<prefix>-subject-search`); `with_dates`
    offers a date range too, which needs no name."""
    options = [
        rx.el.option("A firm", value="firm"),
        rx.el.option("A trader", value="trader"),
        rx.el.option("A broker", value="broker"),
    ]
    if with_dates:
        options.append(rx.el.option("A date range", value="dates"))
    by_name = _by_name(s, prefix)
    return rx.vstack(
        field(
            label,
            rx.el.select(*options, value=s.scope, on_change=s.set_scope, id=f"{prefix}-scope"),
        ),
        rx.cond(s.scope != "dates", by_name) if with_dates else by_name,
        spacing="2",
        width="100%",
    )
