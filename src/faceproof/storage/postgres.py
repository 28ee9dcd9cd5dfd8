"""PostgreSQL + pgvector: for deployments with several stateless API workers on one shared database.

- Embeddings are ``vector(128)`` columns with one partial HNSW index (``vector_cosine_ops``) per identity model, so
  1:N search is ``ORDER BY vector <=> :q`` inside the database and every worker sees every write at once - no
  in-process index, so no generation counter either (bumping one row on every write would serialise all writers).
- A profile's read-modify-write takes ``SELECT ... FOR UPDATE`` on its row: concurrent enrolments into the same
  profile serialise, different profiles proceed in parallel.
"""

from __future__ import annotations

import logging
import re

import numpy as np
from sqlalchemy import Connection, create_engine, select, text

from faceproof.storage.schema import profiles
from faceproof.storage.sql import SqlStore

log = logging.getLogger(__name__)

#: HNSW candidate list size at query time (pgvector's default is 40); see docs/performance.md for recall.
EF_SEARCH = 100
#: Model keys are inlined as SQL literals (never bound): a partial HNSW index is only usable when the planner sees
#: the literal value, and psycopg's prepared statements would turn a bound value into a generic plan.
_SAFE_KEY = re.compile(r"[A-Za-z0-9@._-]{1,100}")

#: Arbitrary 64-bit key of the advisory lock that serialises schema migrations between workers.
MIGRATION_LOCK_KEY = 0x66616365_70726F6F


class PostgresStore(SqlStore):
    def __init__(self, url: str) -> None:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        self.label = f"postgresql ({engine.url.render_as_string(hide_password=True)})"
        super().__init__(engine)
        with engine.connect() as conn:
            version = conn.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        # pgvector < 0.8 has no iterative index scans: a wide window is then capped at ef_search rows.
        self._iterative_scan = tuple(int(x) for x in str(version).split(".")[:2]) >= (0, 8)
        if not self._iterative_scan:
            log.warning("pgvector %s is older than 0.8: 1:N search windows are capped at %d rows", version, EF_SEARCH)

    def _lock_schema(self, conn: Connection) -> None:
        # A transaction-scoped advisory lock: concurrent workers wait here, then find the schema at head.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        row = conn.execute(select(profiles.c.id).where(profiles.c.id == profile_id).with_for_update()).first()
        return row is not None

    def _nearest(self, model_key: str, query: np.ndarray, n: int) -> list[tuple[str, str, float]]:
        if not _SAFE_KEY.fullmatch(model_key):
            raise ValueError(f"invalid model key {model_key!r}")
        literal = "[" + ",".join(f"{x:.8g}" for x in query) + "]"
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
            if self._iterative_scan:  # keep walking the graph when LIMIT exceeds ef_search (a wide window)
                conn.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
            rows = conn.execute(
                text(
                    "SELECT profile_id, image_id, 1 - (vector <=> CAST(:q AS vector)) AS similarity "
                    f"FROM embeddings WHERE model_key = '{model_key}' ORDER BY vector <=> CAST(:q AS vector) LIMIT :n"
                ),
                {"q": literal, "n": n},
            ).all()
        return [(r.profile_id, r.image_id, float(r.similarity)) for r in rows]
