"""The SQL store shared by both backends (SQLAlchemy Core). Subclasses add what differs: connection set-up, the
per-profile write lock and the nearest-neighbour query (:mod:`faceproof.storage.sqlite`,
:mod:`faceproof.storage.postgres`).

Every public write runs in one transaction: an exception half-way rolls everything back, so a failed enrolment
leaves the profile exactly as it was. A write that changes embeddings records what it changed (:class:`Changes`);
after the commit the backend may use that to update an in-process search index without re-reading the database.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from faceproof.errors import DuplicateExternalId, DuplicateProfile, ImageNotFound, InvalidRequest, ProfileNotFound
from faceproof.storage.base import (
    SCHEMA_VERSION,
    UNSET,
    ImageRecord,
    NewImage,
    ProfileRecord,
    SearchHit,
    Summarize,
    Unset,
)
from faceproof.storage.migrate import current_revision, upgrade
from faceproof.storage.schema import embeddings, images, profiles

log = logging.getLogger(__name__)

EXPORT_FORMAT = "faceproof.profile"
#: Neighbours fetched per requested profile: a profile with several images can fill several of the k slots. When
#: that still yields fewer than k profiles, the search is repeated with a larger window.
OVERFETCH = 4


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


def _not_found(profile_id: str) -> ProfileNotFound:
    return ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)


@dataclass
class Changes:
    """The embedding rows one write transaction added and removed."""

    added: list[tuple[str, str, str, np.ndarray]] = field(default_factory=list)  # (model, profile, image, vector)
    removed_images: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed_images)


@dataclass
class Write:
    """An open write transaction: the connection and what it changed so far."""

    conn: Connection
    changes: Changes = field(default_factory=Changes)


class SqlTransaction:
    """The :class:`~faceproof.storage.base.ProfileTransaction` of one locked profile."""

    def __init__(self, store: SqlStore, write: Write, profile_id: str) -> None:
        self._store, self._write, self._profile_id = store, write, profile_id

    def images(self) -> list[ImageRecord]:
        return self._store._images(self._write.conn, self._profile_id)

    def add_image(self, image: NewImage) -> str:
        return self._store._insert_image(self._write, self._profile_id, image)

    def delete_image(self, image_id: str) -> None:
        result = self._write.conn.execute(
            delete(images).where(images.c.id == image_id, images.c.profile_id == self._profile_id)
        )
        if result.rowcount == 0:
            raise ImageNotFound(f"Profile {self._profile_id!r} has no image {image_id!r}.", image_id=image_id)
        self._write.conn.execute(delete(embeddings).where(embeddings.c.image_id == image_id))
        self._write.changes.removed_images.add(image_id)

    def set_summary(self, summary: dict[str, Any]) -> None:
        conn = self._write.conn
        count = conn.scalar(select(func.count()).select_from(images).where(images.c.profile_id == self._profile_id))
        conn.execute(
            update(profiles)
            .where(profiles.c.id == self._profile_id)
            .values(summary=summary, image_count=count, updated_at=_now())
        )


class SqlStore:
    """Backend-independent operations. Subclasses implement :meth:`_lock_profile`, :meth:`_nearest` and set-up,
    and may override :meth:`_committed` (called after every write that changed embeddings)."""

    label = "sql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.migrate()

    def migrate(self) -> str:
        """Upgrade the schema to the newest revision (idempotent; run on open) and return that revision.

        Runs inside a write transaction that first takes the schema lock (:meth:`_lock_schema`), so several workers
        starting at once on an empty database migrate one after the other instead of racing on ``CREATE TABLE``.
        """
        with self._begin() as conn:
            self._lock_schema(conn)
            upgrade(conn)
            revision = current_revision(conn)
        assert revision is not None
        return revision

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return current_revision(conn)

    def ping(self) -> None:
        """Raises when the database cannot be reached (readiness checks)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ hooks

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction on a connection (SQLite overrides it to take the write lock up front)."""
        with self.engine.begin() as conn:
            yield conn

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        """Serialise writers of ``profile_id`` until the transaction ends; False if there is no such profile."""
        raise NotImplementedError

    def _lock_schema(self, conn: Connection) -> None:
        """Serialise migrations across processes (SQLite's ``BEGIN IMMEDIATE`` in :meth:`_begin` already does)."""

    def _nearest(self, model_key: str, query: np.ndarray, n: int) -> list[tuple[str, str, float]]:
        """The ``n`` nearest images as (profile id, image id, cosine similarity), best first."""
        raise NotImplementedError

    def _record_generation(self, write: Write) -> int | None:
        """Called inside a write transaction that changed embeddings; SQLite bumps its generation counter here."""
        return None

    def _committed(self, changes: Changes, generation: int | None) -> None:
        """Called after a write that changed embeddings has committed."""

    @contextmanager
    def _write(self) -> Iterator[Write]:
        with self._begin() as conn:
            write = Write(conn)
            yield write
            generation = self._record_generation(write) if write.changes else None
        if write.changes:
            self._committed(write.changes, generation)

    # ------------------------------------------------------------------ profiles

    def create_profile(
        self,
        *,
        name: str,
        external_id: str | None,
        metadata: dict[str, Any],
        images: list[NewImage],
        summary: dict[str, Any],
        profile_id: str | None = None,
        created_at: datetime | None = None,
    ) -> ProfileRecord:
        """Create a profile with its images in one transaction. ``profile_id``/``created_at`` serve imports."""
        pid = profile_id or _new_id()
        now = _now()
        try:
            with self._write() as write:
                write.conn.execute(
                    insert(profiles).values(
                        id=pid,
                        name=name,
                        external_id=external_id,
                        metadata=metadata,
                        summary=summary,
                        schema_version=SCHEMA_VERSION,
                        image_count=len(images),
                        created_at=created_at or now,
                        updated_at=now,
                    )
                )
                for image in images:
                    self._insert_image(write, pid, image)
        except IntegrityError as exc:
            raise self._integrity_error(exc, external_id) from exc
        record = self.get_profile(pid)
        assert record is not None
        return record

    def get_profile(self, profile_id: str) -> ProfileRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.id == profile_id)).mappings().first()
        return self._profile(row) if row else None

    def list_profiles(self, offset: int = 0, limit: int = 50) -> tuple[list[ProfileRecord], int]:
        """One page in creation order, and the total number of profiles."""
        with self.engine.connect() as conn:
            total = int(conn.scalar(select(func.count()).select_from(profiles)) or 0)
            rows = conn.execute(
                select(profiles).order_by(profiles.c.created_at, profiles.c.id).offset(offset).limit(limit)
            ).mappings()
            return [self._profile(r) for r in rows], total

    def update_profile(
        self,
        profile_id: str,
        *,
        name: str | Unset = UNSET,
        external_id: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
    ) -> ProfileRecord:
        """Change the given fields; ``external_id=None`` clears it. Name and metadata cannot be null."""
        if name is None or metadata is None:  # reachable from an untyped caller (a JSON ``null``)
            raise InvalidRequest("name and metadata cannot be null.")
        changes: dict[str, Any] = {
            key: value
            for key, value in (("name", name), ("external_id", external_id), ("metadata", metadata))
            if value is not UNSET
        }
        if changes:
            try:
                with self._write() as write:
                    result = write.conn.execute(
                        update(profiles).where(profiles.c.id == profile_id).values(**changes, updated_at=_now())
                    )
                    if result.rowcount == 0:
                        raise _not_found(profile_id)
            except IntegrityError as exc:
                raise self._integrity_error(exc, changes.get("external_id")) from exc
        record = self.get_profile(profile_id)
        if record is None:
            raise _not_found(profile_id)
        return record

    def delete_profile(self, profile_id: str) -> None:
        """Delete the profile, its images and embeddings (explicitly, and by ON DELETE CASCADE as a backstop)."""
        with self._write() as write:
            conn = write.conn
            image_ids = conn.scalars(select(images.c.id).where(images.c.profile_id == profile_id)).all()
            conn.execute(delete(embeddings).where(embeddings.c.profile_id == profile_id))
            conn.execute(delete(images).where(images.c.profile_id == profile_id))
            if conn.execute(delete(profiles).where(profiles.c.id == profile_id)).rowcount == 0:
                raise _not_found(profile_id)
            write.changes.removed_images.update(image_ids)

    def list_images(self, profile_id: str) -> list[ImageRecord]:
        with self.engine.connect() as conn:
            return self._images(conn, profile_id)

    @contextmanager
    def profile_transaction(self, profile_id: str) -> Iterator[SqlTransaction]:
        """Lock one profile for a read-modify-write; concurrent writers of the same profile wait their turn."""
        with self._write() as write:
            if not self._lock_profile(write.conn, profile_id):
                raise _not_found(profile_id)
            yield SqlTransaction(self, write, profile_id)

    def add_image(self, profile_id: str, image: NewImage, summarize: Summarize) -> str:
        """Add an image and replace the summary with ``summarize(all images)``, atomically."""
        with self.profile_transaction(profile_id) as tx:
            image_id = tx.add_image(image)
            tx.set_summary(summarize(tx.images()))
        return image_id

    def delete_image(self, profile_id: str, image_id: str, summarize: Summarize) -> None:
        """Delete an image and replace the summary with ``summarize(remaining images)``, atomically."""
        with self.profile_transaction(profile_id) as tx:
            tx.delete_image(image_id)
            tx.set_summary(summarize(tx.images()))

    # ------------------------------------------------------------------ search

    def search(self, model_key: str, vector: np.ndarray, k: int) -> list[SearchHit]:
        """The ``k`` profiles whose best image is nearest to ``vector`` (cosine), best first, one hit each."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        n = k * OVERFETCH
        while True:
            rows = self._nearest(model_key, q, n)
            best: dict[str, SearchHit] = {}
            for profile_id, image_id, similarity in rows:
                if profile_id not in best:
                    best[profile_id] = SearchHit(profile_id, image_id, similarity)
            if len(best) >= k or len(rows) < n:
                return sorted(best.values(), key=lambda h: h.similarity, reverse=True)[:k]
            n *= 4

    # ------------------------------------------------------------------ export / import

    def export_profiles(self) -> Iterator[dict[str, Any]]:
        """Every profile as a self-contained JSON document (one per line in a JSON lines backup)."""
        offset = 0
        while True:
            batch, _ = self.list_profiles(offset=offset, limit=100)
            if not batch:
                return
            for profile in batch:
                yield self.export_profile(profile.id)
            offset += len(batch)

    def export_profile(self, profile_id: str) -> dict[str, Any]:
        """A JSON-ready document: the profile, its images' measurements and embeddings - never raw images."""
        profile = self.get_profile(profile_id)
        if profile is None:
            raise _not_found(profile_id)
        return {
            "format": EXPORT_FORMAT,
            "schema_version": profile.schema_version,
            "profile": {
                "id": profile.id,
                "name": profile.name,
                "external_id": profile.external_id,
                "metadata": profile.metadata,
                "summary": profile.summary,
                "created_at": profile.created_at.isoformat(),
            },
            "images": [
                {
                    "id": img.id,
                    "created_at": img.created_at.isoformat(),
                    "analysis": img.analysis,
                    "embeddings": {k: [float(x) for x in v] for k, v in img.embeddings.items()},
                }
                for img in self.list_images(profile_id)
            ],
        }

    def import_profile(self, document: dict[str, Any]) -> ProfileRecord:
        """Recreate an exported profile with its ids (DuplicateExternalId / IntegrityError if it exists)."""
        if document.get("format") != EXPORT_FORMAT:
            raise InvalidRequest("Not a faceproof profile export (format field missing or wrong).")
        if int(document.get("schema_version", -1)) != SCHEMA_VERSION:
            raise InvalidRequest(
                f"Export schema version {document.get('schema_version')} is not supported (need {SCHEMA_VERSION})."
            )
        p = document["profile"]
        new = [
            NewImage(
                analysis=img["analysis"],
                embeddings={k: np.asarray(v, dtype=np.float32) for k, v in img["embeddings"].items()},
                image_id=img["id"],
                created_at=datetime.fromisoformat(img["created_at"]),
            )
            for img in document["images"]
        ]
        return self.create_profile(
            name=p.get("name", ""),
            external_id=p.get("external_id"),
            metadata=p.get("metadata", {}),
            images=new,
            summary=p["summary"],
            profile_id=p["id"],
            created_at=datetime.fromisoformat(p["created_at"]),
        )

    # ------------------------------------------------------------------ internals

    def _insert_image(self, write: Write, profile_id: str, image: NewImage) -> str:
        image_id = image.image_id or _new_id()
        write.conn.execute(
            insert(images).values(
                id=image_id,
                profile_id=profile_id,
                created_at=image.created_at or _now(),
                analysis=image.analysis,
                image_bytes=image.image_bytes,
            )
        )
        if image.embeddings:
            write.conn.execute(
                insert(embeddings),
                [
                    {"image_id": image_id, "model_key": key, "profile_id": profile_id, "vector": vec}
                    for key, vec in image.embeddings.items()
                ],
            )
            write.changes.added.extend((key, profile_id, image_id, vec) for key, vec in image.embeddings.items())
        return image_id

    def _images(self, conn: Connection, profile_id: str) -> list[ImageRecord]:
        rows = conn.execute(
            select(images).where(images.c.profile_id == profile_id).order_by(images.c.created_at, images.c.id)
        ).mappings()
        records = list(rows)
        vectors: dict[str, dict[str, np.ndarray]] = {r["id"]: {} for r in records}
        for e in conn.execute(select(embeddings).where(embeddings.c.profile_id == profile_id)).mappings():
            if e["image_id"] in vectors:
                vectors[e["image_id"]][e["model_key"]] = e["vector"]
        return [
            ImageRecord(
                id=r["id"],
                profile_id=r["profile_id"],
                created_at=_aware(r["created_at"]),
                analysis=r["analysis"],
                embeddings=vectors[r["id"]],
                image_bytes=r["image_bytes"],
            )
            for r in records
        ]

    @staticmethod
    def _profile(row: Any) -> ProfileRecord:
        return ProfileRecord(
            id=row["id"],
            name=row["name"],
            external_id=row["external_id"],
            metadata=row["metadata"],
            summary=row["summary"],
            created_at=_aware(row["created_at"]),
            updated_at=_aware(row["updated_at"]),
            schema_version=row["schema_version"],
            image_count=row["image_count"],
        )

    @staticmethod
    def _integrity_error(exc: IntegrityError, external_id: str | None) -> Exception:
        message = str(exc.orig).lower()
        if external_id is not None and "external_id" in message:
            return DuplicateExternalId(f"A profile with external_id {external_id!r} exists already.")
        if "images" in message or "profiles" in message or "unique" in message or "duplicate" in message:
            # an imported document whose profile or image ids exist already
            return DuplicateProfile("A profile or image with one of these ids exists already.")
        return exc


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
