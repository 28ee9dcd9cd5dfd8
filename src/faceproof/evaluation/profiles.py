"""End-to-end profile evaluation: enrol people, then verify their other photos, other people and fakes of them.

For each identity with more than K real images: its first K real images (manifest order) are enrolled through the
real service (quality, authenticity and identity gates included) into a temporary SQLite store; then the service
verifies the rest of its real images (should be ``genuine``), the real images of every other identity (should not
be ``genuine``) and every fake whose ``identity`` names it (should not be ``genuine``). Nothing is fitted.

Report keys: ``genuine_accept_rate``, ``impostor_reject_rate``, ``fake_reject_rate``, ``per_label``
(``{label: {"n", "accept_rate", "reject_rate", "verdicts"}}``), ``n_profiles``, ``n_enrolment_refused``,
``n_failed`` (probes without a face; they count as rejections, which is what the service does), ``far``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceproof.errors import FaceproofError
from faceproof.evaluation.manifest import ManifestRow, read_manifest

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def evaluate_profiles(
    manifest: Path, root: Path, enroll: int = 2, far: float = 1e-3, progress: Progress | None = None
) -> dict[str, Any]:
    from faceproof.config import Settings
    from faceproof.service import Service, verify_probe

    rows = read_manifest(manifest)
    by_identity: dict[str, list[ManifestRow]] = {}
    for row in rows:
        if row.is_real and row.identity:
            by_identity.setdefault(row.identity, []).append(row)
    people = {k: v for k, v in by_identity.items() if len(v) > enroll}
    tallies: dict[str, dict[str, int]] = {}
    refused = failed = 0
    with tempfile.TemporaryDirectory(prefix="faceproof-eval-") as tmp:
        service = Service.open(Settings(data_dir=Path(tmp)))
        try:
            profiles = {}
            for identity, reals in people.items():
                datas = [(root / r.file).read_bytes() for r in reals[:enroll]]
                try:
                    profile, _ = service.create_profile(datas, name=identity)
                except FaceproofError as exc:
                    # one refused photo refuses the request: enrol the photos that pass, one by one
                    log.info("enrolment of %s refused as a whole (%s); enrolling photo by photo", identity, exc.code)
                    profile = None
                    for data in datas:
                        try:
                            if profile is None:
                                profile, _ = service.create_profile([data], name=identity)
                            else:
                                profile = service.add_image(profile.id, data)[0]
                        except FaceproofError:
                            refused += 1
                if profile is not None:
                    profiles[identity] = (profile, [i.embeddings for i in service.store.list_images(profile.id)])
            enrolled_files = {r.file for reals in people.values() for r in reals[:enroll]}
            probes = [r for r in rows if r.file not in enrolled_files]
            for n, row in enumerate(probes):
                targets = _targets(row, profiles)
                if targets:
                    try:
                        probe = service.prepare_probe(service.analyze((root / row.file).read_bytes(), with_dlib=False))
                    except (FaceproofError, OSError):
                        probe = None
                    for kind, identity in targets:
                        if probe is None:
                            verdict = "failed"
                            failed += 1
                        else:
                            profile, enrolled = profiles[identity]
                            verdict = verify_probe(probe, profile, enrolled, far).verdict
                        key = kind if kind != "fake" else row.label
                        tallies.setdefault(key, {}).setdefault(verdict, 0)
                        tallies[key][verdict] += 1
                if progress is not None:
                    progress(n + 1, len(probes))
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
    }


def _targets(row: ManifestRow, profiles: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, profile identity) pairs this image is verified against."""
    if row.is_real:
        return [
            ("genuine" if identity == row.identity else "impostor", identity)
            for identity in profiles
            if row.identity or identity != row.identity
        ]
    return [("fake", row.identity)] if row.identity in profiles else []
