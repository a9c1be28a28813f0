"""Authentication (passwords, sessions, tokens, throttling) and authorization (rbac)."""
