"""Outside systems behind small interfaces; `brm_app.bootstrap` chooses the adapters from settings."""
