"""Every link that downloads a file (`download` set) makes the browser fetch it: in Reflex 0.10
`rx.el.a` and `rx.link` are React Router links, which route an in-app address on the client
("404: Page not found") instead of downloading it, unless `reload_document` is set. Found by the
acceptance walk of issue 10: the communication log's exports, a message's attachment and the firm
and trader lists' CSV exports all opened the 404 page."""

from __future__ import annotations

from typing import Any

import pytest

from brm_app.pages.communication_log import communication_log_page
from brm_app.pages.communications import communications_page, portal_page
from brm_app.pages.firms import firms_page
from brm_app.pages.traders import traders_page


def _download_links(rendered: dict[str, Any]) -> list[list[str]]:
    found = []
    props = rendered.get("props", [])
    if any(p.startswith("download:") for p in props):
        found.append(props)
    for child in rendered.get("children", []):
        found += _download_links(child)
    for key in ("true_value", "false_value"):
        if isinstance(rendered.get(key), dict):
            found += _download_links(rendered[key])
    return found


@pytest.mark.parametrize(
    ("page", "at_least"),
    [
        (communication_log_page, 2),  # CSV and package
        (communications_page, 1),  # a message's attachment
        (portal_page, 1),
        (firms_page, 2),  # the list and the selection
        (traders_page, 1),
    ],
)
def test_every_download_link_is_a_document_request(page, at_least):
    links = _download_links(page().render())
    assert len(links) >= at_least, links
    for props in links:
        assert "reloadDocument:true" in props, props
