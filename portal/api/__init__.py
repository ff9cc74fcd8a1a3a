"""HTTP endpoints of the portal itself (the OAuth 2.0 token endpoints)."""
