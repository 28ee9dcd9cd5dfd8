"""Initial schema: profiles, images, embeddings (pgvector + HNSW on PostgreSQL), store_meta.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from faceproof.storage.schema import EmbeddingType, Json

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: Model keys that get their own HNSW index on PostgreSQL (a partial index per model: vectors of different models
#: must never be mixed in one search).
INDEXED_MODEL_KEYS = ("sface@2021dec-int8bq-rgb", "dlib@resnet-v1-5pt")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True, unique=True),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("image_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("profile_id", sa.String(32), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("analysis", Json, nullable=False),
        sa.Column("image_bytes", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_images_profile_id", "images", ["profile_id"])
    op.create_table(
        "embeddings",
        sa.Column("image_id", sa.String(32), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_key", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(32), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vector", EmbeddingType(), nullable=False),
    )
    op.create_index("ix_embeddings_profile_id", "embeddings", ["profile_id"])
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.execute("INSERT INTO store_meta (key, value) VALUES ('generation', 0)")
    if bind.dialect.name == "postgresql":
        for i, key in enumerate(INDEXED_MODEL_KEYS):
            op.execute(
                f"CREATE INDEX ix_embeddings_hnsw_{i} ON embeddings USING hnsw (vector vector_cosine_ops) "
                f"WHERE model_key = '{key}'"
            )


def downgrade() -> None:
    op.drop_table("store_meta")
    op.drop_table("embeddings")
    op.drop_table("images")
    op.drop_table("profiles")
