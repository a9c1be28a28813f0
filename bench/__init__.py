"""Benchmarks that print figures (`make bench`, or `python -m bench`): not timed tests.

The harness seeds a large book once (cached under bench/out/), starts the real production server
on it, and drives it over HTTP with wrk from a separate process. Add a measurement by appending a
`Scenario` to `bench.scenarios.SCENARIOS`, and data by appending a step to `bench.dataset.STEPS`.
"""
