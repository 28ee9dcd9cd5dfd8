"""The embedded default: one SQLite file, no set-up.

- WAL journal: readers never block the writer (the API reads while an enrolment writes).
- ``foreign_keys=ON`` (cascades), ``secure_delete=ON`` (deleted biometric data is overwritten with zeros, not
  left in free pages), a busy timeout so concurrent writers wait instead of failing.
- Writes start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two enrolments into the same profile
  serialise their read-modify-write instead of both reading the old image list.
- 1:N search uses the in-process :class:`~faceproof.storage.vector_index.VectorIndex`, rebuilt when the database's
  ``generation`` counter shows that any writer, in this process or another, changed the embeddings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, create_engine, event, select
from sqlalchemy.engine import make_url

from faceproof.storage.base import SearchHit
from faceproof.storage.schema import embeddings, profiles
from faceproof.storage.sql import SqlStore
from faceproof.storage.vector_index import Entry, VectorIndex

BUSY_TIMEOUT_MS = 30_000
#: Neighbours fetched per requested profile: a profile with several images can fill several of the k slots.
OVERFETCH = 4


class SqliteStore(SqlStore):
    def __init__(self, url: str) -> None:
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
            cur = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "secure_delete=ON",
                "synchronous=NORMAL",
                f"busy_timeout={BUSY_TIMEOUT_MS}",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        self.label = f"sqlite ({path})"
        self._index = VectorIndex()
        self._index_key = ""
        self._index_lock = threading.Lock()
        super().__init__(engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as plain:
            conn = plain.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        # BEGIN IMMEDIATE already holds the database's write lock; just check the profile exists.
        return conn.scalar(select(profiles.c.id).where(profiles.c.id == profile_id)) is not None

    def search(self, model_key: str, vector: np.ndarray, k: int) -> list[SearchHit]:
        index = self._fresh_index(model_key)
        best: dict[str, SearchHit] = {}
        for entry, sim in index.search(vector, k * OVERFETCH):
            if entry.profile_id not in best:
                best[entry.profile_id] = SearchHit(entry.profile_id, entry.image_id, sim)
        return sorted(best.values(), key=lambda h: h.similarity, reverse=True)[:k]

    def _fresh_index(self, model_key: str) -> VectorIndex:
        """The index for ``model_key``, rebuilt if the database changed since it was built."""
        with self._index_lock:
            generation = self.generation()
            if self._index_key != model_key or self._index.generation != generation:
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        select(embeddings.c.profile_id, embeddings.c.image_id, embeddings.c.vector).where(
                            embeddings.c.model_key == model_key
                        )
                    ).all()
                entries = [Entry(r.profile_id, r.image_id) for r in rows]
                matrix = np.stack([r.vector for r in rows]) if rows else np.zeros((0, 128), np.float32)
                self._index.rebuild(entries, matrix, generation)
                self._index_key = model_key
            return self._index
