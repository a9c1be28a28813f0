"""The open conversation shows its newest messages: the acceptance walk of issue 10 found the
list opened at the oldest message, with replies that had just arrived out of sight below."""

from __future__ import annotations

from typing import Any

from brm_app.pages.communications import communications_page, portal_page


def _node(rendered: dict[str, Any], element_id: str) -> dict[str, Any] | None:
    if f'id:"{element_id}"' in rendered.get("props", []):
        return rendered
    children = list(rendered.get("children", []))
    children += [
        rendered[k] for k in ("true_value", "false_value") if isinstance(rendered.get(k), dict)
    ]
    for child in children:
        if (found := _node(child, element_id)) is not None:
            return found
    return None


def test_the_message_list_is_anchored_at_its_newest_message():
    for page in (communications_page, portal_page):
        node = _node(page().render(), "conv-messages")
        assert node is not None
        css = " ".join(p for p in node["props"] if p.startswith("css:"))
        assert '["flexDirection"] : "column-reverse"' in css, css
        assert '["overflowY"] : "auto"' in css, css


def _texts(rendered: dict[str, Any]) -> str:
    out = " ".join(str(c.get("contents", "")) for c in [rendered])
    children = list(rendered.get("children", []))
    children += [
        rendered[k]
        for k in ("true_value", "false_value", "cond_state")
        if isinstance(rendered.get(k), dict)
    ]
    return out + " ".join(_texts(c) for c in children)


def test_a_trader_is_not_told_to_start_a_conversation_from_a_traders_page():
    """A portal trader cannot start one: their empty list and the page's subtitle speak to them."""
    text = _texts(portal_page().render()) + _texts(communications_page().render())
    assert "Your brokers' messages will appear here." in text
    assert "Your conversations with your brokers." in text


def _by_class(rendered: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = [rendered] if f'className:"{name}"' in rendered.get("props", []) else []
    children = list(rendered.get("children", []))
    children += [
        rendered[k] for k in ("true_value", "false_value") if isinstance(rendered.get(k), dict)
    ]
    for child in children:
        found += _by_class(child, name)
    return found


def test_the_last_messages_preview_is_not_trimmed_where_it_hides_its_overflow():
    """Leading trim on a one-line preview that hides its overflow cut the descenders off ("p", "g"
    and "J" lost their tails in the list, seen at 390 px and on the desktop)."""
    (preview,) = _by_class(communications_page().render(), "conv-last")
    props = " ".join(preview["props"])
    assert '["overflow"] : "hidden"' in props, props
    assert "trim" not in props, props


def test_the_trader_tab_says_why_a_conversation_could_not_start():
    from brm_app.pages.communications import _trader_tab

    node = _node(_trader_tab().render(), "trader-tab-error")
    assert node is not None
