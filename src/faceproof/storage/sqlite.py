"""The embedded default: one SQLite file, no set-up.

- WAL journal: readers never block the writer (the API reads while an enrolment writes).
- ``foreign_keys=ON`` (cascades), ``secure_delete=ON`` (deleted biometric data is overwritten with zeros, not
  left in free pages), a busy timeout so concurrent writers wait instead of failing.
- Writes start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two enrolments into the same profile
  serialise their read-modify-write instead of both reading the old image list.
- 1:N search uses one in-process :class:`~faceproof.storage.vector_index.VectorIndex` per model. Every write that
  changes embeddings bumps the ``generation`` row of ``store_meta`` in its transaction; this store applies its own
  writes to its indexes incrementally, and an index whose generation differs from the database's (another process
  wrote) is rebuilt from the database before it answers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, create_engine, event, select, update
from sqlalchemy.engine import make_url

from faceproof.storage.schema import EMBEDDING_DIM, embeddings, profiles, store_meta
from faceproof.storage.sql import Changes, SqlStore, Write
from faceproof.storage.vector_index import Entry, VectorIndex

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000


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
            _enable_wal(cur)
            for pragma in (
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
        self._indexes: dict[str, VectorIndex] = {}
        self._index_lock = threading.Lock()  # one rebuild at a time; searches of a fresh index do not take it
        super().__init__(engine)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.connect() as plain:
            conn = plain.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        # BEGIN IMMEDIATE already holds the database's write lock; just check the profile exists.
        return conn.scalar(select(profiles.c.id).where(profiles.c.id == profile_id)) is not None

    def _record_generation(self, write: Write) -> int:
        return int(
            write.conn.execute(
                update(store_meta)
                .where(store_meta.c.key == "generation")
                .values(value=store_meta.c.value + 1)
                .returning(store_meta.c.value)
            ).scalar_one()
        )

    def _committed(self, changes: Changes, generation: int | None) -> None:
        """Apply a committed write to the indexes that were current just before it; others rebuild lazily."""
        assert generation is not None
        with self._index_lock:
            for model_key, index in self._indexes.items():
                if index.generation == generation - 1:
                    added = [(Entry(p, i), v) for key, p, i, v in changes.added if key == model_key]
                    index.apply(added, changes.removed_images, generation)

    def generation(self) -> int:
        """The database's embedding generation (bumped by every write that adds or removes embeddings)."""
        with self.engine.connect() as conn:
            return int(conn.scalar(select(store_meta.c.value).where(store_meta.c.key == "generation")) or 0)

    def _nearest(self, model_key: str, query: np.ndarray, n: int) -> list[tuple[str, str, float]]:
        index = self._fresh_index(model_key)
        return [(entry.profile_id, entry.image_id, sim) for entry, sim in index.search(query, n)]

    def _fresh_index(self, model_key: str) -> VectorIndex:
        """The index for ``model_key``, rebuilt first if the database has moved on since it was last updated."""
        index = self._indexes.get(model_key)
        current = self.generation()
        if index is not None and index.generation == current:
            return index
        with self._index_lock:
            index = self._indexes.setdefault(model_key, VectorIndex())
            if index.generation == self.generation():
                return index  # another thread refreshed it while we waited
            started = time.perf_counter()
            with self.engine.connect() as conn, conn.begin():  # one snapshot: the rows and their generation
                generation = int(conn.scalar(select(store_meta.c.value).where(store_meta.c.key == "generation")))
                rows = conn.execute(
                    select(embeddings.c.profile_id, embeddings.c.image_id, embeddings.c.vector).where(
                        embeddings.c.model_key == model_key
                    )
                ).all()
            entries = [Entry(r.profile_id, r.image_id) for r in rows]
            matrix = np.stack([r.vector for r in rows]) if rows else np.zeros((0, EMBEDDING_DIM), np.float32)
            index.rebuild(entries, matrix, generation)
            log.info(
                "%s index: %d vectors loaded at generation %d in %.2f s",
                model_key,
                len(entries),
                generation,
                time.perf_counter() - started,
            )
            return index


def _enable_wal(cur: Any) -> None:
    """Switch the file to WAL. The switch needs the file to itself and SQLite answers "database is locked" at once,
    without waiting for the busy timeout, when several processes open a new file together (``serve --workers N``);
    the mode is persistent, so retrying until one of them has done it is enough."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
