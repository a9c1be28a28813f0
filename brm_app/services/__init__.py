"""Business rules and authorization. Pages, states, API routes and the CLI only call these."""
