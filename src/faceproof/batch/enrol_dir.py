"""Enrol a folder tree (one sub-folder per person): photos are prepared in parallel, profiles written in order.

Why the split: analysis and the per-photo gates (quality, authenticity) are pure and dominate the cost, so they run
on the batch engine's workers; the identity gate compares a photo with the photos already accepted for that person
and the store is written from this process only, in input order, so the outcome is the same on any engine and a
SQLite file never sees writers from several machines.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceproof.batch.engine import Engine, Progress
from faceproof.errors import EnrolmentRefused, FaceproofError
from faceproof.intake import IntakeLimits
from faceproof.storage import NewImage

if TYPE_CHECKING:
    from faceproof.service import Service

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif"})


@dataclass(frozen=True)
class Refusal:
    """Why a photo was not enrolled: the error code, or for a gate its reason and quality reasons."""

    reason: str


@dataclass(frozen=True)
class EnrolRow:
    person: str
    file: str
    status: str  # accepted | refused
    reason: str
    profile_id: str


def _refusal(exc: FaceproofError) -> Refusal:
    detail = exc.details.get("reason") or exc.code
    reasons = exc.details.get("quality_reasons")
    return Refusal(f"{detail}: {', '.join(reasons)}" if reasons else str(detail))


def prepare_file(path: Path, limits: IntakeLimits, keep_bytes: bool) -> NewImage | Refusal:
    """Worker side: analyse one photo and apply the single-photo gates (never raises for a bad photo)."""
    from faceproof.service import prepare_enrolment

    try:
        return prepare_enrolment(path.read_bytes(), limits, keep_bytes=keep_bytes)[0]
    except FaceproofError as exc:
        return _refusal(exc)
    except OSError as exc:
        return Refusal(f"unreadable: {exc.strerror or exc}")


def people_in(directory: Path) -> list[tuple[str, list[Path]]]:
    """(person, photos) for every sub-folder, both sorted by name: the input order of the whole batch."""
    people = sorted(d for d in directory.iterdir() if d.is_dir())
    return [(d.name, sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)) for d in people]


def enrol_directory(
    service: Service, directory: Path, engine: Engine, progress: Progress | None = None, chunk_size: int = 8
) -> list[EnrolRow]:
    """Enrol every person of ``directory``: the first accepted photo creates the profile, the others are added to
    it if they pass the identity gate. One row per photo, in input order."""
    jobs = [(person, path) for person, files in people_in(directory) for path in files]
    work = functools.partial(prepare_file, limits=service.limits, keep_bytes=service.settings.store_images)
    rows: list[EnrolRow] = []
    profile_of: dict[str, str] = {}
    prepared = engine.imap(work, [path for _, path in jobs], chunk_size=chunk_size, progress=progress)
    for (person, path), outcome in zip(jobs, prepared, strict=True):
        status, reason = "refused", ""
        if isinstance(outcome, Refusal):
            reason = outcome.reason
        else:
            try:
                if person not in profile_of:
                    profile_of[person] = service.create_prepared_profile([outcome], name=person).id
                else:
                    service.add_prepared_image(profile_of[person], outcome)
                status = "accepted"
            except EnrolmentRefused as exc:
                reason = _refusal(exc).reason
        rows.append(EnrolRow(person, path.name, status, reason, profile_of.get(person, "")))
    log.info("enroll-dir %s: %d photos, %d accepted", directory, len(rows), sum(r.status == "accepted" for r in rows))
    return rows
