"""Reading an MLflow tracking URI without importing MLflow (seconds), so that the grader can ask
about its store first thing."""

from __future__ import annotations

from typing import Optional


def sqlite_path(tracking_uri: str) -> Optional[str]:
    """The database file of a `sqlite:///<path>` store (None for a server or an in-memory store)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    path = tracking_uri[len(prefix):].split("?", 1)[0]
    return path or None


def is_server(tracking_uri: str) -> bool:
    """Whether the store is a tracking server, reached over HTTP."""
    return tracking_uri.startswith(("http://", "https://"))
