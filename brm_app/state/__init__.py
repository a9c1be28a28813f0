"""Reflex states: one small state per page, calling services through ServiceMixin."""
