"""Who is asking, and what they may do: users, roles and permissions, access tokens, Engine API keys."""
