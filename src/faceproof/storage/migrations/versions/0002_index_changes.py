"""SQLite: a log of embedding changes per generation, so other processes update their search index incrementally.

Revision ID: 0002
Revises: 0001

Before this, a process whose in-process index was behind the database's generation counter rebuilt the whole index
(minutes at a million templates). With the log it applies just the generations it missed. PostgreSQL has no
in-process index (pgvector searches in the database), so the table exists on SQLite only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "index_changes",
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("image_id", sa.String(32), nullable=False),
        sa.Column("profile_id", sa.String(32), nullable=True),
        sa.Column("added", sa.Boolean, nullable=False),
    )
    op.create_index("ix_index_changes_generation", "index_changes", ["generation"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_table("index_changes")
