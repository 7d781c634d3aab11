"""People, roles, sessions, API keys and tokens."""
