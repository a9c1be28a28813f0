"""The REST API (FastAPI) mounted on the Reflex app: /api/v1, /api/health, /api/docs."""
