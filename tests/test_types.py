"""The type check: mypy on brm_app/ (settings in pyproject.toml), against a baseline that only
shrinks.

mypy-baseline.txt lists the errors the code had when the check was introduced, without line
numbers (so unrelated edits do not move them). A new error fails the test; an error fixed is
reported, and the baseline should then be rewritten with `make types-baseline` (which only ever
removes lines: run on code with a new error it fails instead). New modules are checked strictly
(the overrides in pyproject.toml) and start with no baseline entries.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "mypy-baseline.txt"
_LINE = re.compile(r"^(?P<path>[^:]+\.py):\d+(?::\d+)?: error: (?P<message>.*)$")


def current_errors() -> Counter[str]:
    """mypy's errors as "path: message  [code]", counted (one message may occur twice)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1) or ("error: " not in result.stdout and result.returncode):
        raise RuntimeError(f"mypy did not run:\n{result.stdout}\n{result.stderr}")
    errors: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            errors[f"{match['path']}: {match['message']}"] += 1
    return errors


def baseline() -> Counter[str]:
    lines = BASELINE.read_text(encoding="utf-8").splitlines()
    return Counter(line for line in lines if line and not line.startswith("#"))


def compare(now: Counter[str], allowed: Counter[str]) -> tuple[list[str], list[str]]:
    """(new errors, baseline lines no longer needed)."""
    return sorted((now - allowed).elements()), sorted((allowed - now).elements())


def write_baseline(errors: Counter[str]) -> None:
    header = "# mypy errors tolerated in brm_app/ (tests/test_types.py); this list only shrinks.\n"
    BASELINE.write_text(header + "".join(f"{e}\n" for e in sorted(errors.elements())), "utf-8")


def test_compare_counts_each_occurrence():
    old = Counter({"a.py: x  [c]": 2, "b.py: y  [c]": 1})
    assert compare(Counter({"a.py: x  [c]": 3}), old) == (["a.py: x  [c]"], ["b.py: y  [c]"])
    assert compare(Counter({"a.py: x  [c]": 1}), old) == ([], ["a.py: x  [c]", "b.py: y  [c]"])
    assert _LINE.match("brm_app/x.py:12: error: Bad  [arg-type]")["path"] == "brm_app/x.py"


def test_no_new_type_errors(capsys):
    new, fixed = compare(current_errors(), baseline())
    if fixed:
        with capsys.disabled():
            print(f"\nmypy: {len(fixed)} baseline errors are fixed; run `make types-baseline`.")
    assert not new, f"{len(new)} new mypy errors (fix them; the baseline only shrinks):\n" + (
        "\n".join(new)
    )


if __name__ == "__main__":  # make types-baseline: rewrite the baseline, never growing it
    now = current_errors()
    new, fixed = compare(now, baseline()) if BASELINE.exists() else ([], [])
    if new and "--init" not in sys.argv:
        sys.exit("new mypy errors, not added to the baseline:\n" + "\n".join(new))
    write_baseline(now)
    print(f"mypy-baseline.txt: {sum(now.values())} errors ({len(fixed)} removed)")
