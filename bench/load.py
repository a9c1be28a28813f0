"""The load generator: wrk in its own process, a fixed number of connections for a fixed time."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("report.lua")
_LINE = re.compile(r"^WRK (.*)$", re.MULTILINE)


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadSettings:
    connections: int = 8
    duration: float = 10.0
    warmup: float = 2.0
    threads: int = 1
    # A request slower than this counts as a timeout (and is missing from the percentiles).
    timeout: float = 30.0


@dataclass(frozen=True)
class Requests:
    """What wrk sends, rotated: paths (GET), or one method with a body per path."""

    paths: list[str]
    method: str = "GET"
    # One body per path (JSON on one line), for methods that send one.
    bodies: list[str] | None = None
    # Sent with every request instead of the harness's (e.g. another user's token).
    headers: dict[str, str] | None = None

    def lines(self) -> list[str]:
        if self.bodies is None:
            if self.method == "GET":
                return list(self.paths)
            return [f"{self.method} {p}" for p in self.paths]
        if len(self.bodies) != len(self.paths):
            raise ValueError("one body per path")
        for body in self.bodies:
            if "\n" in body or "\r" in body:
                raise ValueError("a body must fit on one line")
        return [f"{self.method} {p} {b}" for p, b in zip(self.paths, self.bodies, strict=True)]


@dataclass(frozen=True)
class Figures:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx/3xx answer (timeouts are reported apart)."""
        return sum(v for k, v in self.errors.items() if k != "timeouts")


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError(
            "wrk is not installed: `apt-get install wrk` (make bench installs it when missing)"
        )
    return path


def _command(
    base_url: str,
    requests: Requests,
    settings: LoadSettings,
    headers: dict[str, str] | None,
    seconds: float,
    paths_file: str,
) -> list[str]:
    headers = dict(headers or {})
    if requests.bodies is not None:
        headers.setdefault("Content-Type", "application/json")
    cmd = [
        wrk_path(),
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(settings.timeout))}s",
        "-s",
        str(SCRIPT),
    ]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    return [*cmd, base_url + requests.paths[0], "--", paths_file]


def _paths_file(requests: Requests) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as fh:
        fh.write("\n".join(requests.lines()) + "\n")
        return fh.name


def _figures(returncode: int, stdout: str, stderr: str) -> Figures:
    match = _LINE.search(stdout)
    if returncode != 0 or match is None:
        raise LoadError(f"wrk failed ({returncode}): {stdout[-2000:]} {stderr[-2000:]}")
    values = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return Figures(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000,
        p95_ms=values["p95_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        max_ms=values["max_us"] / 1000,
        errors={
            k.removesuffix("_errors"): v
            for k, v in values.items()
            if k.endswith("_errors") or k == "timeouts"
        },
    )


class Background:
    """wrk running until `stop()` (for load while something else is measured)."""

    def __init__(
        self,
        base_url: str,
        requests: list[str],
        settings: LoadSettings,
        headers: dict[str, str] | None = None,
    ) -> None:
        reqs = Requests(list(requests))
        self._paths = _paths_file(reqs)
        cmd = _command(base_url, reqs, settings, headers, 24 * 3600, self._paths)
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> Figures:
        """Stop wrk (SIGINT: it ends its run and reports it) and answer its figures."""
        try:
            self._proc.send_signal(signal.SIGINT)
            out, err = self._proc.communicate(timeout=60)
        finally:
            Path(self._paths).unlink(missing_ok=True)
        return _figures(0 if self._proc.returncode in (0, -signal.SIGINT) else 1, out, err)


def run(
    base_url: str,
    requests: list[str] | Requests,
    settings: LoadSettings,
    *,
    headers: dict[str, str] | None = None,
    seconds: float | None = None,
) -> Figures:
    """Drive `requests` (paths, or a Requests; rotated) at `base_url` for `seconds` (default:
    settings.duration). A Requests' own headers replace `headers`."""
    if not isinstance(requests, Requests):
        requests = Requests(list(requests))
    if requests.headers is not None:
        headers = requests.headers
    paths_file = _paths_file(requests)
    cmd = _command(base_url, requests, settings, headers, seconds or settings.duration, paths_file)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    finally:
        Path(paths_file).unlink(missing_ok=True)
    return _figures(out.returncode, out.stdout, out.stderr)
