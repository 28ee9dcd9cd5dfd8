"""The embedded default: one SQLite file, no set-up.

- WAL journal: readers never block the writer (the API reads while an enrolment writes).
- ``foreign_keys=ON`` (cascades), ``secure_delete=ON`` (deleted biometric data is overwritten with zeros, not
  left in free pages), a busy timeout so concurrent writers wait instead of failing.
- Writes start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two enrolments into the same profile
  serialise their read-modify-write instead of both reading the old image list.
- 1:N search uses one in-process :class:`~faceproof.storage.vector_index.VectorIndex` per model. Every write that
  changes embeddings bumps the ``generation`` row of ``store_meta`` in its transaction and logs which images it
  added or removed in ``index_changes`` (the last :data:`CHANGE_LOG_KEEP` generations are kept); this store applies
  its own writes to its indexes directly, and an index whose generation is behind the database's (another process
  wrote) first replays the logged generations it missed - reading only those images' vectors - and is rebuilt
  from the database only when the log no longer covers the gap.
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
from sqlalchemy import Connection, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import make_url

from faceproof.storage.schema import EMBEDDING_DIM, embeddings, index_changes, profiles, store_meta
from faceproof.storage.sql import Changes, SqlStore, Write
from faceproof.storage.vector_index import Entry, VectorIndex

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
#: Generations of embedding changes kept in ``index_changes``: an index further behind than this is rebuilt.
CHANGE_LOG_KEEP = 10_000


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
        self.change_log_keep = CHANGE_LOG_KEEP
        #: How this process's indexes caught up with other processes' writes (for tests and logs).
        self.refreshes = {"incremental": 0, "rebuild": 0}
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
        generation = int(
            write.conn.execute(
                update(store_meta)
                .where(store_meta.c.key == "generation")
                .values(value=store_meta.c.value + 1)
                .returning(store_meta.c.value)
            ).scalar_one()
        )
        added = {(profile_id, image_id) for _, profile_id, image_id, _ in write.changes.added}
        rows = [{"generation": generation, "image_id": i, "profile_id": p, "added": True} for p, i in sorted(added)]
        rows += [
            {"generation": generation, "image_id": i, "profile_id": None, "added": False}
            for i in sorted(write.changes.removed_images)
        ]
        write.conn.execute(insert(index_changes), rows)
        write.conn.execute(delete(index_changes).where(index_changes.c.generation <= generation - self.change_log_keep))
        return generation

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
        """The index for ``model_key``, brought up to the database's generation first if another process wrote."""
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
                if index.generation >= 0 and self._replay(conn, model_key, index, generation):
                    self.refreshes["incremental"] += 1
                    how = "caught up from the change log"
                else:
                    self._rebuild(conn, model_key, index, generation)
                    self.refreshes["rebuild"] += 1
                    how = "rebuilt"
            log.info(
                "%s index: %s at generation %d (%d vectors) in %.3f s",
                model_key,
                how,
                generation,
                len(index),
                time.perf_counter() - started,
            )
            return index

    def _rebuild(self, conn: Connection, model_key: str, index: VectorIndex, generation: int) -> None:
        rows = conn.execute(
            select(embeddings.c.profile_id, embeddings.c.image_id, embeddings.c.vector).where(
                embeddings.c.model_key == model_key
            )
        ).all()
        entries = [Entry(r.profile_id, r.image_id) for r in rows]
        matrix = np.stack([r.vector for r in rows]) if rows else np.zeros((0, EMBEDDING_DIM), np.float32)
        index.rebuild(entries, matrix, generation)

    def _replay(self, conn: Connection, model_key: str, index: VectorIndex, generation: int) -> bool:
        """Apply the logged generations after the index's; False (nothing changed) when the log has a gap."""
        missed = range(index.generation + 1, generation + 1)
        if len(missed) > self.change_log_keep:
            return False
        log_rows = conn.execute(
            select(index_changes)
            .where(index_changes.c.generation > index.generation, index_changes.c.generation <= generation)
            .order_by(index_changes.c.generation)
        ).all()
        if {r.generation for r in log_rows} != set(missed):
            return False  # pruned, or written before the log existed
        net: dict[str, str | None] = {}  # image id -> profile id if (still) added, None if removed
        for r in log_rows:
            net[r.image_id] = r.profile_id if r.added else None
        added_ids = [image_id for image_id, profile_id in net.items() if profile_id is not None]
        vectors = {}
        for start in range(0, len(added_ids), 500):  # SQLite caps bound parameters per statement
            chunk = added_ids[start : start + 500]
            query = select(embeddings.c.image_id, embeddings.c.vector).where(
                embeddings.c.model_key == model_key, embeddings.c.image_id.in_(chunk)
            )
            vectors.update({r.image_id: r.vector for r in conn.execute(query)})
        added = [(Entry(net[i], i), vectors[i]) for i in added_ids if i in vectors]  # type: ignore[arg-type]
        index.apply(added, set(net), generation)  # removing first makes a re-added image id safe
        return True


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
