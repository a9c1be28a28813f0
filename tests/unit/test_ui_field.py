"""field(): every label is tied to its control, whatever kind of control it is."""

from __future__ import annotations

import reflex as rx

from brm_app.components.ui import field


class _FieldState(rx.State):
    text: str = ""

    @rx.event
    def set_text(self, value: str):
        self.text = value


def _label_for(rendered: dict) -> str:
    label = rendered["children"][0]
    assert label["name"] == '"label"', label
    (html_for,) = [p for p in label["props"] if p.startswith("htmlFor:")]
    return html_for.removeprefix("htmlFor:")


def _ids(rendered: dict) -> list[str]:
    found = [p.removeprefix("id:") for p in rendered.get("props", []) if p.startswith("id:")]
    for child in rendered.get("children", []):
        found += _ids(child)
    return found


def test_label_names_an_input_by_its_own_id():
    rendered = field("Email", rx.input(id="user-email")).render()
    assert _label_for(rendered) == '"user-email"'


def test_controls_without_an_id_get_a_unique_one():
    first = field("Notes", rx.text_area()).render()
    second = field("Notes", rx.text_area()).render()
    assert _label_for(first) != _label_for(second)
    assert _label_for(first) in _ids(first)
    assert _label_for(second) in _ids(second)


def test_a_controlled_input_is_labelled_through_reflexs_debounce_wrapper():
    rendered = field(
        "Reason", rx.input(value=_FieldState.text, on_change=_FieldState.set_text)
    ).render()
    assert _label_for(rendered) in _ids(rendered)


def test_a_select_is_labelled_by_its_trigger():
    select = rx.select.root(
        rx.select.trigger(id="user-role"), rx.select.content(rx.select.item("A", value="a"))
    )
    assert _label_for(field("Role", select).render()) == '"user-role"'
    unnamed = rx.select.root(rx.select.trigger(), rx.select.content())
    rendered = field("Manager", unnamed).render()
    assert _label_for(rendered) in _ids(rendered)


def test_a_row_of_checkboxes_is_a_group_named_by_the_label():
    rendered = field("Traders", rx.flex(rx.checkbox("Ann"), rx.checkbox("Bo"))).render()
    assert 'role:"group"' in rendered["props"]
    assert '"aria-label":"Traders"' in rendered["props"]
