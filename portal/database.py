"""Connection URLs for the database Django uses (for Celery's broker and for child processes)."""

from __future__ import annotations

from urllib.parse import quote


def database_url(db: dict, scheme: str = "postgresql", socket_in_query: bool = False) -> str:
    """A URL for Django's database settings ``db``.

    A Unix-socket host (a directory) is percent-encoded into the host part, which dj-database-url
    and libpq read back, or passed as ``?host=…&port=…`` for SQLAlchemy (``socket_in_query``).
    """
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(str(db["PASSWORD"]), safe="")
    host, port = str(db.get("HOST") or ""), str(db.get("PORT") or "")
    name = quote(db["NAME"], safe="")
    if host.startswith("/") and socket_in_query:
        query = f"?host={quote(host, safe='')}" + (f"&port={port}" if port else "")
        return f"{scheme}://{credentials}@/{name}{query}"
    netloc = quote(host, safe="") + (f":{port}" if port else "")
    return f"{scheme}://{credentials}@{netloc}/{name}"
