"""The storage contract: records, the :class:`Store` protocol, and the per-profile transaction.

Why a protocol with two backends: the embedded default (SQLite, a file, no set-up) and PostgreSQL + pgvector (many
stateless API workers on one shared database) must behave identically - the same test suite runs against both.
Records are plain dataclasses: the rest of faceproof never sees SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal, Protocol

import numpy as np

#: Version of the stored documents (profile summary and image analysis) and of the export format. Bumped with a
#: migration that converts the stored documents.
SCHEMA_VERSION = 1


class _Unset(Enum):
    UNSET = "unset"


#: "Leave this field as it is" in :meth:`Store.update_profile` (``None`` is a value: it clears ``external_id``).
UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]

#: Computes a profile's summary document from all its images (run inside the profile's lock).
Summarize = Callable[[list["ImageRecord"]], dict[str, Any]]


@dataclass(frozen=True)
class NewImage:
    """An enrolment image about to be stored: derived data only, pixels only if the operator opted in."""

    analysis: dict[str, Any]
    embeddings: dict[str, np.ndarray]  # "model@version" -> float32 (128,), L2-normalised
    image_bytes: bytes | None = None
    image_id: str | None = None  # kept from an export on import; new images get a fresh id
    created_at: datetime | None = None


@dataclass(frozen=True)
class ImageRecord:
    id: str
    profile_id: str
    created_at: datetime
    analysis: dict[str, Any]
    embeddings: dict[str, np.ndarray]
    image_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProfileRecord:
    id: str
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    summary: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    schema_version: int
    image_count: int


@dataclass(frozen=True)
class SearchHit:
    """The best-matching image of one profile for a 1:N query (cosine similarity)."""

    profile_id: str
    image_id: str
    similarity: float


class ProfileTransaction(Protocol):
    """A read-modify-write of one profile, serialised against every other writer of that profile.

    Everything done through it commits together when the ``with`` block ends, or not at all if it raises.
    """

    def images(self) -> list[ImageRecord]: ...
    def add_image(self, image: NewImage) -> str: ...
    def delete_image(self, image_id: str) -> None: ...  # ImageNotFound if the image is not this profile's
    def set_summary(self, summary: dict[str, Any]) -> None: ...


class Store(Protocol):
    """What faceproof needs from a database. Every write is one transaction: all of it happens or none."""

    label: str

    def migrate(self) -> str: ...  # upgrade to the newest schema (done on open); returns the revision
    def schema_revision(self) -> str | None: ...
    def create_profile(
        self,
        *,
        name: str,
        external_id: str | None,
        metadata: dict[str, Any],
        images: list[NewImage],
        summary: dict[str, Any],
    ) -> ProfileRecord: ...
    def get_profile(self, profile_id: str) -> ProfileRecord | None: ...
    def list_profiles(self, offset: int = 0, limit: int = 50) -> tuple[list[ProfileRecord], int]: ...
    def update_profile(
        self,
        profile_id: str,
        *,
        name: str | Unset = UNSET,
        external_id: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
    ) -> ProfileRecord: ...
    def delete_profile(self, profile_id: str) -> None: ...
    def list_images(self, profile_id: str) -> list[ImageRecord]: ...
    def add_image(self, profile_id: str, image: NewImage, summarize: Summarize) -> str: ...
    def delete_image(self, profile_id: str, image_id: str, summarize: Summarize) -> None: ...
    def profile_transaction(self, profile_id: str) -> AbstractContextManager[ProfileTransaction]: ...
    def search(self, model_key: str, vector: np.ndarray, k: int) -> list[SearchHit]: ...
    def export_profile(self, profile_id: str) -> dict[str, Any]: ...
    def export_profiles(self) -> Iterator[dict[str, Any]]: ...
    def import_profile(self, document: dict[str, Any]) -> ProfileRecord: ...
    def ping(self) -> None: ...  # raises when the database cannot be reached
    def close(self) -> None: ...
