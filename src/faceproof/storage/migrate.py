"""Schema migrations with Alembic, run programmatically on start-up (no alembic.ini to keep in sync).

Both backends share one migration history (``migrations/versions``); dialect-specific DDL (the pgvector extension
and HNSW indexes) is guarded inside the migration. ``upgrade`` is idempotent: at head it does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(conn: Connection) -> None:
    cfg = _config(conn)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if MigrationContext.configure(conn).get_current_revision() != head:
        command.upgrade(cfg, "head")


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
