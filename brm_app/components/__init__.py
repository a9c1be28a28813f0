"""Stateless, reusable UI pieces."""
