"""The SQL store shared by both backends (SQLAlchemy Core). Subclasses add what differs: connection set-up, the
per-profile write lock and 1:N search (:mod:`faceproof.storage.sqlite`, :mod:`faceproof.storage.postgres`).

Every public write runs in one transaction: an exception half-way rolls everything back, so a failed enrolment
leaves the profile exactly as it was.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from faceproof.errors import DuplicateExternalId, InvalidRequest, ProfileNotFound
from faceproof.storage.base import SCHEMA_VERSION, ImageRecord, NewImage, ProfileRecord, SearchHit
from faceproof.storage.migrate import upgrade
from faceproof.storage.schema import embeddings, images, profiles, store_meta

log = logging.getLogger(__name__)

EXPORT_FORMAT = "faceproof.profile"
UPDATABLE = frozenset({"name", "external_id", "metadata"})


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class SqlTransaction:
    """The :class:`~faceproof.storage.base.ProfileTransaction` of one locked profile."""

    def __init__(self, store: SqlStore, conn: Connection, profile_id: str) -> None:
        self._store, self._conn, self._profile_id = store, conn, profile_id

    def images(self) -> list[ImageRecord]:
        return self._store._images(self._conn, self._profile_id)

    def add_image(self, image: NewImage) -> str:
        return self._store._insert_image(self._conn, self._profile_id, image)

    def delete_image(self, image_id: str) -> None:
        self._conn.execute(delete(images).where(images.c.id == image_id, images.c.profile_id == self._profile_id))
        self._store._bump_generation(self._conn)

    def set_summary(self, summary: dict[str, Any]) -> None:
        count = self._conn.scalar(
            select(func.count()).select_from(images).where(images.c.profile_id == self._profile_id)
        )
        self._conn.execute(
            update(profiles)
            .where(profiles.c.id == self._profile_id)
            .values(summary=summary, image_count=count, updated_at=_now())
        )


class SqlStore:
    """Backend-independent operations. Subclasses implement :meth:`_lock_profile`, :meth:`search` and set-up."""

    label = "sql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with self.engine.begin() as conn:
            upgrade(conn)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ hooks

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite overrides it to take the write lock up front)."""
        with self.engine.begin() as conn:
            yield conn

    def _lock_profile(self, conn: Connection, profile_id: str) -> bool:
        raise NotImplementedError

    def search(self, model_key: str, vector: np.ndarray, k: int) -> list[SearchHit]:
        raise NotImplementedError

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
        pid = profile_id or _new_id()
        now = _now()
        try:
            with self._write() as conn:
                conn.execute(
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
                    self._insert_image(conn, pid, image)
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
        with self.engine.connect() as conn:
            total = int(conn.scalar(select(func.count()).select_from(profiles)) or 0)
            rows = conn.execute(
                select(profiles).order_by(profiles.c.created_at, profiles.c.id).offset(offset).limit(limit)
            ).mappings()
            return [self._profile(r) for r in rows], total

    def update_profile(self, profile_id: str, **changes: Any) -> ProfileRecord:
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidRequest(f"Cannot change {', '.join(sorted(unknown))}.")
        if changes:
            try:
                with self._write() as conn:
                    result = conn.execute(
                        update(profiles).where(profiles.c.id == profile_id).values(**changes, updated_at=_now())
                    )
                    if result.rowcount == 0:
                        raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
            except IntegrityError as exc:
                raise self._integrity_error(exc, changes.get("external_id")) from exc
        record = self.get_profile(profile_id)
        if record is None:
            raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
        return record

    def delete_profile(self, profile_id: str) -> None:
        """Deletes the profile and, through ON DELETE CASCADE, its images and embeddings."""
        with self._write() as conn:
            conn.execute(delete(embeddings).where(embeddings.c.profile_id == profile_id))
            conn.execute(delete(images).where(images.c.profile_id == profile_id))
            result = conn.execute(delete(profiles).where(profiles.c.id == profile_id))
            if result.rowcount == 0:
                raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
            self._bump_generation(conn)

    def list_images(self, profile_id: str) -> list[ImageRecord]:
        with self.engine.connect() as conn:
            return self._images(conn, profile_id)

    @contextmanager
    def profile_transaction(self, profile_id: str) -> Iterator[SqlTransaction]:
        """Lock one profile for a read-modify-write; concurrent writers of the same profile wait their turn."""
        with self._write() as conn:
            if not self._lock_profile(conn, profile_id):
                raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
            yield SqlTransaction(self, conn, profile_id)

    # ------------------------------------------------------------------ export / import

    def export_profiles(self) -> Iterator[dict[str, Any]]:
        """Every profile as a self-contained JSON document (embeddings included, raw images never)."""
        offset = 0
        while True:
            batch, _ = self.list_profiles(offset=offset, limit=100)
            if not batch:
                return
            for profile in batch:
                yield self.export_profile(profile.id)
            offset += len(batch)

    def export_profile(self, profile_id: str) -> dict[str, Any]:
        profile = self.get_profile(profile_id)
        if profile is None:
            raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
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

    def _insert_image(self, conn: Connection, profile_id: str, image: NewImage) -> str:
        image_id = image.image_id or _new_id()
        conn.execute(
            insert(images).values(
                id=image_id,
                profile_id=profile_id,
                created_at=image.created_at or _now(),
                analysis=image.analysis,
                image_bytes=image.image_bytes,
            )
        )
        if image.embeddings:
            conn.execute(
                insert(embeddings),
                [
                    {"image_id": image_id, "model_key": key, "profile_id": profile_id, "vector": vec}
                    for key, vec in image.embeddings.items()
                ],
            )
        self._bump_generation(conn)
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

    def _bump_generation(self, conn: Connection) -> None:
        conn.execute(update(store_meta).where(store_meta.c.key == "generation").values(value=store_meta.c.value + 1))

    def generation(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(store_meta.c.value).where(store_meta.c.key == "generation")) or 0)

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
        if external_id is not None and "external_id" in str(exc.orig).lower():
            return DuplicateExternalId(f"A profile with external_id {external_id!r} exists already.")
        return exc


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
