"""Tables (SQLAlchemy Core), shared by both backends; the few differences are column variants.

- JSON documents are ``JSONB`` on PostgreSQL and JSON text on SQLite.
- Embeddings are pgvector ``vector(128)`` on PostgreSQL (HNSW-indexed for 1:N search) and raw float32 bytes on
  SQLite (searched by an in-process index, :mod:`faceproof.storage.vector_index`).
- ``store_meta`` holds a ``generation`` counter that SQLite writes bump when they change embeddings, so the
  in-process index of any worker can tell that it is stale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

EMBEDDING_DIM = 128

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")


class EmbeddingType(TypeDecorator):
    """A float32 vector: pgvector on PostgreSQL, little-endian float32 bytes elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR(EMBEDDING_DIM))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        arr = np.asarray(value, dtype="<f4").reshape(-1)
        if arr.size != EMBEDDING_DIM:
            raise ValueError(f"embeddings must have {EMBEDDING_DIM} values, got {arr.size}")
        return arr if dialect.name == "postgresql" else arr.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return np.frombuffer(value, dtype="<f4").astype(np.float32)


profiles = Table(
    "profiles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("external_id", String(200), nullable=True, unique=True),
    Column("metadata", Json, nullable=False),
    Column("summary", Json, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("image_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("profile_id", String(32), ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("analysis", Json, nullable=False),
    Column("image_bytes", LargeBinary, nullable=True),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("image_id", String(32), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("model_key", String(100), primary_key=True),
    Column("profile_id", String(32), ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("vector", EmbeddingType(), nullable=False),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Integer, nullable=False),
)

#: SQLite only (migration 0002): which images each generation added or removed, for incremental index refreshes.
index_changes = Table(
    "index_changes",
    metadata,
    Column("generation", Integer, nullable=False),
    Column("image_id", String(32), nullable=False),
    Column("profile_id", String(32), nullable=True),  # known for additions; removals need only the image
    Column("added", Boolean, nullable=False),
)
