"""Metrics, request logs and the Reflex event timings (see metrics.py, middleware.py, logs.py)."""
