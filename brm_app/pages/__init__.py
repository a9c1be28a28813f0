"""One module per route; importing this package registers every page."""

from brm_app.pages import account, admin_users, audit, dashboard, login

__all__ = ["account", "admin_users", "audit", "dashboard", "login"]
