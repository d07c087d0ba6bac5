"""Who may do what: API keys and JWTs, roles, run ownership and per-key rate limits."""
