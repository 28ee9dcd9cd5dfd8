"""PostgreSQL + pgvector: for deployments with several stateless API workers on one shared database.

- Embeddings are ``vector(128)`` columns with one partial HNSW index (``vector_cosine_ops``) per model, so 1:N
  search is ``ORDER BY vector <=> :q`` inside the database and every worker sees every write at once.
- A profile's read-modify-write takes ``SELECT ... FOR UPDATE`` on its row: concurrent enrolments into the same
  profile serialise, different profiles proceed in parallel.
"""

from __future__ import annotations

import re

import numpy as np
from sqlalchemy import Connection, create_engine, select, text

from faceproof.storage.base import SearchHit
from faceproof.storage.schema import profiles
from faceproof.storage.sql import SqlStore

#: HNSW candidate list size at query time (pgvector's default is 40); 100 keeps recall@10 ≥ 0.99.
EF_SEARCH = 100
OVERFETCH = 4
#: Model keys are inlined as SQL literals (never bound): a partial HNSW index is only usable when the planner sees
#: the literal value, and psycopg's prepared statements would turn a bound value into a generic plan.
_SAFE_KEY = re.compile(r"[A-Za-z0-9@._-]{1,100}")


class PostgresStore(SqlStore):
    def __init__(self, url: str) -> None:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        self.label = f"postgresql ({engine.url.render_as_string(hide_password=True)})"
        super().__init__(engine)

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        row = conn.execute(select(profiles.c.id).where(profiles.c.id == profile_id).with_for_update()).first()
        return row is not None

    def search(self, model_key: str, vector: np.ndarray, k: int) -> list[SearchHit]:
        if not _SAFE_KEY.fullmatch(model_key):
            raise ValueError(f"invalid model key {model_key!r}")
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        literal = "[" + ",".join(f"{x:.7g}" for x in q) + "]"
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
            rows = conn.execute(
                text(
                    "SELECT profile_id, image_id, 1 - (vector <=> CAST(:q AS vector)) AS similarity "
                    f"FROM embeddings WHERE model_key = '{model_key}' ORDER BY vector <=> CAST(:q AS vector) LIMIT :n"
                ),
                {"q": literal, "n": k * OVERFETCH},
            ).all()
        best: dict[str, SearchHit] = {}
        for r in rows:
            if r.profile_id not in best:
                best[r.profile_id] = SearchHit(r.profile_id, r.image_id, float(r.similarity))
        return list(best.values())[:k]
