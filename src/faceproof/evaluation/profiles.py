"""End-to-end profile evaluation: enrol people, then verify their other photos, other people and fakes of them.

For each identity with more than K real images: its first K real images (manifest order) are enrolled through the
real service (quality, authenticity and identity gates included) into a temporary SQLite store; then the service
verifies the rest of its real images (should be ``genuine``), the real images of every other identity (should not
be ``genuine``) and every fake whose ``identity`` names it (should not be ``genuine``). Nothing is fitted.

Report keys: ``genuine_accept_rate``, ``impostor_reject_rate``, ``fake_reject_rate``, ``per_label``
(``{label: {"n", "accept_rate", "reject_rate", "verdicts"}}``), ``errors`` (every genuine probe not answered
``genuine`` and every other probe answered ``genuine``: file, profile, label, verdict, condition, similarities,
reasons), ``n_profiles``, ``n_enrolment_refused``,
``n_failed`` (probes without a face; they count as rejections, which is what the service does), ``far``,
``damage``: names from :mod:`faceproof.training.augment` applied to every *probe* (enrolment photos stay as
they are, as when a person enrols good photos and later verifies a masked, blurred or compressed one); see
:mod:`faceproof.evaluation.damage`.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceproof.batch.engine import Engine, InlineEngine, Progress
from faceproof.batch.enrol_dir import Refusal, prepare_file
from faceproof.errors import EnrolmentRefused, FaceproofError
from faceproof.evaluation.damage import check_damage, damaged
from faceproof.evaluation.manifest import ManifestRow, read_manifest
from faceproof.intake import IntakeLimits
from faceproof.storage import NewImage, ProfileRecord

if TYPE_CHECKING:
    from faceproof.decision.verify import VerifyOutcome
    from faceproof.service import Probe, Service

log = logging.getLogger(__name__)


def _probe_of(path: Path, limits: IntakeLimits, damage: Sequence[str] = ()) -> Probe | None:
    """Worker side: a verification probe of one image (dlib included), or None when it has no usable face."""
    from faceproof.analysis import analyze
    from faceproof.service import prepare_probe

    try:
        source = damaged(path, damage) if damage else path.read_bytes()
        probe = prepare_probe(analyze(source, limits=limits, with_dlib=False))
    except (FaceproofError, OSError):
        return None
    probe.ensure_dlib()  # here, in the worker, rather than serially when the verdict needs them
    probe.ensure_outer()
    return probe


def _enrol(service: Service, identity: str, prepared: list[NewImage | Refusal]) -> tuple[ProfileRecord | None, int]:
    """Enrol one identity from its prepared photos, all at once when they all pass, else photo by photo (the
    photos that pass stay enrolled); returns the profile (None if every photo was refused) and the refusals."""
    images = [p for p in prepared if not isinstance(p, Refusal)]
    if len(images) == len(prepared):
        try:
            return service.create_prepared_profile(images, name=identity), 0
        except EnrolmentRefused as exc:
            log.info("enrolment of %s refused as a whole (%s); enrolling photo by photo", identity, exc.code)
    profile, refused = None, len(prepared) - len(images)
    for image in images:
        try:
            if profile is None:
                profile = service.create_prepared_profile([image], name=identity)
            else:
                service.add_prepared_image(profile.id, image)
        except EnrolmentRefused:
            refused += 1
    return profile, refused


def evaluate_profiles(
    manifest: Path,
    root: Path,
    enroll: int = 2,
    far: float = 1e-3,
    progress: Progress | None = None,
    engine: Engine | None = None,
    damage: Sequence[str] = (),
) -> dict[str, Any]:
    from faceproof.config import Settings
    from faceproof.service import Service, verify_probe

    engine = engine or InlineEngine()
    damage = check_damage(damage)
    rows = read_manifest(manifest)
    by_identity: dict[str, list[ManifestRow]] = {}
    for row in rows:
        if row.is_real and row.identity:
            by_identity.setdefault(row.identity, []).append(row)
    people = {k: v for k, v in by_identity.items() if len(v) > enroll}
    tallies: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    refused = failed = 0
    with tempfile.TemporaryDirectory(prefix="faceproof-eval-") as tmp:
        service = Service.open(Settings(data_dir=Path(tmp)))
        try:
            enrol_rows = [(identity, r) for identity, reals in people.items() for r in reals[:enroll]]
            prepare = functools.partial(prepare_file, limits=service.limits, keep_bytes=False)
            prepared = list(engine.imap(prepare, [root / r.file for _, r in enrol_rows]))
            profiles = {}
            for identity in people:
                mine = [p for (who, _), p in zip(enrol_rows, prepared, strict=True) if who == identity]
                profile, n_refused = _enrol(service, identity, mine)
                refused += n_refused
                if profile is not None:
                    profiles[identity] = (profile, [i.embeddings for i in service.store.list_images(profile.id)])
            enrolled_files = {r.file for _, r in enrol_rows}
            probe_rows = [r for r in rows if r.file not in enrolled_files and _targets(r, profiles)]
            work = functools.partial(_probe_of, limits=service.limits, damage=damage)
            probes = engine.imap(work, [root / r.file for r in probe_rows], progress=progress)
            for row, probe in zip(probe_rows, probes, strict=True):
                for kind, identity in _targets(row, profiles):
                    outcome = None
                    if probe is None:
                        verdict = "failed"
                        failed += 1
                    else:
                        profile, enrolled = profiles[identity]
                        outcome = verify_probe(probe, profile, enrolled, far)
                        verdict = outcome.verdict
                    key = kind if kind != "fake" else row.label
                    tallies.setdefault(key, {}).setdefault(verdict, 0)
                    tallies[key][verdict] += 1
                    if (verdict == "genuine") != (kind == "genuine"):  # a genuine probe refused, or anyone else let in
                        errors.append(_error(row, identity, key, verdict, outcome))
        finally:
            service.close()

    def rate(key: str, accept: bool) -> float | None:
        t = tallies.get(key, {})
        total = sum(t.values())
        if not total:
            return None
        genuine = t.get("genuine", 0)
        return (genuine if accept else total - genuine) / total

    fake_labels = [k for k in tallies if k not in {"genuine", "impostor"}]
    fake_total = sum(sum(tallies[k].values()) for k in fake_labels)
    fake_rejected = sum(sum(tallies[k].values()) - tallies[k].get("genuine", 0) for k in fake_labels)
    return {
        "genuine_accept_rate": rate("genuine", True),
        "impostor_reject_rate": rate("impostor", False),
        "fake_reject_rate": fake_rejected / fake_total if fake_total else None,
        "per_label": {
            k: {"n": sum(t.values()), "accept_rate": rate(k, True), "reject_rate": rate(k, False), "verdicts": t}
            for k, t in sorted(tallies.items())
        },
        "n_profiles": len(profiles),
        "n_enrolment_refused": refused,
        "n_failed": failed,
        "enroll": enroll,
        "far": far,
        "damage": list(damage),
        "errors": errors,
    }


def _error(row: ManifestRow, identity: str, label: str, verdict: str, outcome: VerifyOutcome | None) -> dict[str, Any]:
    """One wrong answer, with what it rested on: the probe, the profile, the verdict, the match and the reasons."""
    error: dict[str, Any] = {"file": row.file, "profile": identity, "label": label, "verdict": verdict}
    if outcome is not None:
        m = outcome.match
        error |= {"condition": m.condition, "sface": round(m.sface, 4), "fused": round(m.fused_score, 4)}
        error["reasons"] = outcome.reasons
    return error


def _targets(row: ManifestRow, profiles: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, profile identity) pairs this image is verified against."""
    if row.is_real:
        return [
            ("genuine" if identity == row.identity else "impostor", identity)
            for identity in profiles
            if row.identity or identity != row.identity
        ]
    return [("fake", row.identity)] if row.identity in profiles else []
