"""Benchmarks that print figures (`make bench`, or `python -m bench`): not timed tests.

The harness seeds a large book once (cached under bench/out/), starts the real production server
on it, and drives it over HTTP with wrk from a separate process. Add a measurement by appending a
`Scenario` to `bench.scenarios.SCENARIOS`, and data by appending a step to `bench.dataset.STEPS`.
"""

import os

# One encryption key ring for the seeding process and every server it starts (the book is
# seeded encrypted; a server making its own ring in its data folder could not read it).
os.environ.setdefault("BRM_ENCRYPTION_KEYS", "bench:" + "QkVOQ0gtS0VZ" * 3 + "QkVOQ0g=")
