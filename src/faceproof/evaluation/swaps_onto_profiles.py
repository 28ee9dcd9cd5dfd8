"""Swaps made by others onto enrolled people: the profile swap check on a swap method it never saw.

The profile swap model (``faceproof train profile-swap``) learns from swaps faceproof makes itself
(:func:`faceproof.training.manipulate.swap_faces`). Whether it stops swaps made another way is measured here on the
corpus's evaluation-only folder of LFW face swaps (``lfw_faceswap_swapped``: MarekKowalski/FaceSwap, a 3D face model
fitted to the target photo and textured from the source photo; kind ``faceswap_3d``), which nothing trains on. The
folder has no identity labels, so they are recovered from the LFW grey photos of the corpus (``lfw_gray``: the same
LFW people, face crops with names):

1. **Who.** Every swap's largest face and up to :data:`PHOTOS_PER_PERSON` photos of every LFW person with two or
   more are embedded by both recognizers; a swap is kept when SFace and dlib put the same person first and SFace's
   best person leads the next one by at least :data:`IDENTITY_MARGIN`.
2. **Source or target.** A swap pastes the *source*'s face onto the *target*'s photo. The person found may be
   either. The grey LFW crops are cut from the same photos, so each of the person's crops is template-matched over
   the swap at the crop scales LFW-grey uses: a correlation above :data:`BASE_PHOTO_CORRELATION` means the swap's
   base photo is theirs (*target*: their own photo with another face pasted in); otherwise they are the *source*
   (their face on someone else's head: the attack the profile swap check is for). A heuristic; swaps near the cut
   may land in the wrong group.
3. **Verify.** Each person is enrolled through the service's gates from their first two LFW grey photos that pass
   (many soft LFW photos are refused), then ``Service.verify`` answers each of their swaps and their next photo
   (*genuine*).

Nothing is fitted. Report keys: ``verdicts`` per group (``source_swap``, ``target_swap``, ``genuine``) and per half
of the profile swap model's people split (``fit``: the person's own photos were in its fitting half; never these
swaps), ``genuine_rate`` per group, ``errors`` (every swap answered ``genuine`` and every genuine photo that was
not: file, person, group, verdict, similarities, reasons), ``swaps``/``recovered``/``people``/``enrolled`` counts,
the constants used.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceproof.batch.engine import Engine, InlineEngine, Progress
from faceproof.errors import EnrolmentRefused, FaceproofError

if TYPE_CHECKING:
    from faceproof.decision.verify import VerifyOutcome

SWAPS_DIR = "lfw_faceswap_swapped/data/raw/LFW_faceswap/fake"
PEOPLE_DIR = "lfw_gray/images"
#: Photos per LFW person embedded for the identity search (the first ones by name).
PHOTOS_PER_PERSON = 3
#: SFace similarity by which the best person must lead the next one.
IDENTITY_MARGIN = 0.10
#: Template correlation above which one of the person's grey crops is the swap's base photo.
BASE_PHOTO_CORRELATION = 0.8
#: Where the grey LFW crop lies in a 250 px LFW photo: its side in px (found on same-photo pairs: 108-120 at
#: x 66-73, y 65-71), and the window searched.
CROP_SIDES = range(104, 126, 4)
SEARCH_WINDOW = (40, 200)
FAR = 1e-3


@dataclass(frozen=True)
class Recovered:
    """A swap and the LFW person both recognizers name, with the role they play in it."""

    swap: Path
    person: str
    role: str  # "source" or "target"


def lfw_person(path: Path) -> str:
    """``First_Last_0003.jpg`` -> ``First_Last``."""
    return path.stem.rsplit("_", 1)[0]


def _embed(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    from faceproof.intake import load_image
    from faceproof.training.calibration_corpus import embed_face

    try:
        found = embed_face(load_image(path).rgb)
    except (FaceproofError, ValueError):
        return None
    return None if found is None else (found[0], found[1])


def recover_identities(
    swap_vectors: tuple[np.ndarray, np.ndarray], people_vectors: tuple[np.ndarray, np.ndarray], owners: np.ndarray
) -> list[int | None]:
    """For each swap, the index into ``owners``' distinct people that SFace and dlib both rank first (each person
    scored by their best photo), when SFace's first leads its second by :data:`IDENTITY_MARGIN`; else None.
    ``*_vectors`` are (SFace, dlib) unit-vector matrices; ``owners[i]`` numbers the person of people photo i."""
    order = np.argsort(owners, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(owners[order])) + 1]
    best = [
        np.maximum.reduceat(s @ p[order].T, starts, axis=1) for s, p in zip(swap_vectors, people_vectors, strict=True)
    ]
    out: list[int | None] = []
    for by_sface, by_dlib in zip(*best, strict=True):
        first, second = np.argsort(-by_sface)[:2]
        agree = int(first) == int(np.argmax(by_dlib))
        out.append(int(first) if agree and by_sface[first] - by_sface[second] >= IDENTITY_MARGIN else None)
    return out


def crop_templates(crops: Sequence[Path]) -> list[np.ndarray]:
    """The grey LFW face crops at each of :data:`CROP_SIDES`, made once per person and matched over each swap."""
    faces = [cv2.imread(str(crop), cv2.IMREAD_GRAYSCALE) for crop in crops]
    return [cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA) for face in faces for side in CROP_SIDES]


def base_photo_correlation(swap: Path, templates: Sequence[np.ndarray]) -> float:
    """The best normalised correlation of any of ``templates`` (:func:`crop_templates`) over the swap photo."""
    grey = cv2.imread(str(swap), cv2.IMREAD_GRAYSCALE)
    lo, hi = SEARCH_WINDOW
    window = grey[lo:hi, lo:hi].astype(np.float32)
    best = -1.0
    for template in templates:
        score = cv2.matchTemplate(window, template.astype(np.float32), cv2.TM_CCOEFF_NORMED).max()
        best = max(best, float(score))
    return best


def evaluate_swaps_onto_profiles(
    corpus: Path, progress: Progress | None = None, engine: Engine | None = None
) -> dict[str, Any]:
    from faceproof.config import Settings
    from faceproof.service import Service, enrol_first
    from faceproof.training.fit_profile_swap import half_of

    engine = engine or InlineEngine()
    swaps = sorted((corpus / SWAPS_DIR).glob("*.jpg"))
    photos: dict[str, list[Path]] = {}
    for p in sorted((corpus / PEOPLE_DIR).glob("*.jpg")):
        photos.setdefault(lfw_person(p), []).append(p)
    names = sorted(n for n, ps in photos.items() if len(ps) >= 2)
    if not swaps or not names:
        raise FileNotFoundError(f"{corpus} holds no face swaps under {SWAPS_DIR} or no LFW people under {PEOPLE_DIR}")
    gallery = [(k, p) for k, n in enumerate(names) for p in photos[n][:PHOTOS_PER_PERSON]]
    embedded = list(engine.imap(_embed, [p for _, p in gallery] + swaps, progress=progress))
    kept_people = [i for i, e in enumerate(embedded[: len(gallery)]) if e is not None]
    kept_swaps = [i for i, e in enumerate(embedded[len(gallery) :]) if e is not None]

    def matrices(items: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([s for s, _ in items]), np.stack([d for _, d in items])

    people_vectors = matrices([embedded[i] for i in kept_people])  # type: ignore[misc]
    swap_vectors = matrices([embedded[len(gallery) + i] for i in kept_swaps])  # type: ignore[misc]
    owners = np.array([gallery[i][0] for i in kept_people])
    distinct = np.unique(owners)
    found = recover_identities(swap_vectors, people_vectors, owners)
    by_person: dict[str, list[Recovered]] = {}
    templates: dict[str, list[np.ndarray]] = {}
    for i, k in zip(kept_swaps, found, strict=True):
        if k is not None:
            person = names[distinct[k]]
            if person not in templates:
                templates[person] = crop_templates(photos[person])
            base = base_photo_correlation(swaps[i], templates[person]) > BASE_PHOTO_CORRELATION
            by_person.setdefault(person, []).append(Recovered(swaps[i], person, "target" if base else "source"))

    verdicts: dict[str, dict[str, Counter[str]]] = {}
    errors: list[dict[str, Any]] = []
    enrolled = 0
    with tempfile.TemporaryDirectory(prefix="faceproof-swaps-") as tmp:
        service = Service.open(Settings(data_dir=Path(tmp)))
        try:
            for person, items in sorted(by_person.items()):
                first = enrol_first(photos[person], service.limits)
                if len(first.images) < 2:
                    continue
                rest = first.rest
                try:
                    profile = service.create_prepared_profile(first.images, name=person)
                except EnrolmentRefused:
                    continue
                enrolled += 1
                half = half_of(person)
                probes = [(f"{r.role}_swap", r.swap) for r in items] + [("genuine", p) for p in rest[:1]]
                for group, path in probes:
                    outcome = None
                    try:
                        outcome = service.verify(profile.id, path.read_bytes(), FAR).outcome
                        verdict = outcome.verdict
                    except FaceproofError as exc:
                        verdict = exc.code
                    verdicts.setdefault(group, {}).setdefault(half, Counter())[verdict] += 1
                    if (verdict == "genuine") != (group == "genuine"):
                        errors.append(_error(path, person, group, verdict, outcome))
        finally:
            service.close()
    groups = ("source_swap", "target_swap", "genuine")
    return {
        "verdicts": {g: {h: dict(sorted(c.items())) for h, c in sorted(verdicts.get(g, {}).items())} for g in groups},
        "genuine_rate": {g: _share(verdicts.get(g, {}), "genuine") for g in groups},
        "errors": errors,
        "swaps": len(swaps),
        "recovered": sum(len(items) for items in by_person.values()),
        "people": len(by_person),
        "enrolled": enrolled,
        "far": FAR,
        "identity_margin": IDENTITY_MARGIN,
        "base_photo_correlation": BASE_PHOTO_CORRELATION,
    }


def _error(path: Path, person: str, group: str, verdict: str, outcome: VerifyOutcome | None) -> dict[str, Any]:
    """One wrong answer (a swap answered ``genuine``, or a genuine photo that was not), with what it rested on."""
    error: dict[str, Any] = {"file": path.name, "person": person, "group": group, "verdict": verdict}
    if outcome is not None:
        error |= {"sface": round(outcome.match.sface, 4), "fused": round(outcome.match.fused_score, 4)}
        error["reasons"] = outcome.reasons
    return error


def _share(per_half: dict[str, Counter[str]], verdict: str) -> float | None:
    total = sum(sum(c.values()) for c in per_half.values())
    return sum(c[verdict] for c in per_half.values()) / total if total else None
