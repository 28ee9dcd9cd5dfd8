"""Storage: one :class:`Store` interface, two backends chosen by the database URL.

``sqlite:///path`` (the default, embedded) or ``postgresql+psycopg://...`` (shared, with pgvector).
"""

from __future__ import annotations

from faceproof.storage.base import (
    UNSET,
    ImageRecord,
    NewImage,
    ProfileRecord,
    ProfileTransaction,
    SearchHit,
    Store,
    Summarize,
)

__all__ = [
    "UNSET",
    "ImageRecord",
    "NewImage",
    "ProfileRecord",
    "ProfileTransaction",
    "SearchHit",
    "Store",
    "Summarize",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open (and migrate to the current schema) the database at ``url``."""
    if url.startswith("sqlite"):
        from faceproof.storage.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql", "postgres")):
        from faceproof.storage.postgres import PostgresStore

        if url.startswith("postgres://") or url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return PostgresStore(url)
    raise ValueError(f"Unsupported database URL {url!r}: use sqlite:///... or postgresql+psycopg://...")
