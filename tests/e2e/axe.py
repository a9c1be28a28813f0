"""axe-core in Playwright: the script comes from the npm registry at setup (`.tools/`, pinned in the
Makefile) and is injected from disk, never from a CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0/2.1/2.2 A and AA plus axe's best practices (landmarks, headings, regions).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = {"serious", "critical"}


def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `make setup` (it installs axe-core into .tools/)")
    return AXE_JS.read_text()


def run_axe(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it is now (within `context`, a CSS
    selector, when given)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the app's Content-Security-Policy (rightly)
        # refuses an inline script tag.
        page.evaluate(axe_source())
    result = page.evaluate(
        """async ([context, tags]) => {
            const r = await window.axe.run(context ? document.querySelector(context) : document,
                {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 4).map(n => ({target: n.target.join(' '),
                    summary: (n.failureSummary || '').slice(0, 300)}))}));
        }""",
        [context, TAGS],
    )
    return [v for v in result if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict[str, Any]]) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']}: {v['help']}")
        for n in v["nodes"]:
            lines.append(f"    {n['target']} -- {n['summary']}")
    return lines
