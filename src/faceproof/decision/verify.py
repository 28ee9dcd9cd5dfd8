"""Verdicts: is the face in a new photo the enrolled person? Pure logic over measurements and the calibration.

Score of a probe against a profile: the **mean** cosine similarity to the profile's enrolment images, per model.
The shipped calibration is fitted on single image pairs; averaging over several enrolment images keeps a genuine
probe's score where a pair's would be and pulls an impostor's towards the impostor mean, so the pair thresholds are
conservative for profiles (a maximum over images would instead give an impostor N chances and raise the FAR).

Low quality never turns into a silent "different person": a probe that matches above the threshold is genuine
whatever its flaws (degradation lowers similarity, it does not create a match), but a probe below the threshold
whose quality is poor is ``inconclusive`` - a blurred photo of the right person and a photo of someone else look
the same to the scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faceproof.authenticity import consistency
from faceproof.authenticity.base import Finding
from faceproof.authenticity.engine import CONDITIONED_DECISIVE, DECISIVE_CONFIDENCE, AuthenticityReport
from faceproof.decision import wording
from faceproof.decision.calibration import MatchDecision
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, cosine

Verdict = Literal["genuine", "different_person", "suspected_fake", "inconclusive"]
#: Geometry deviations beyond this many of the person's own standard deviations are reported.
GEOMETRY_Z_LIMIT = 3.0
#: Relative standard-deviation floor per measurement: a one-photo profile has std 0, and mesh noise between two
#: photos of the same face is a few percent of each ratio to the inter-pupillary distance.
GEOMETRY_RELATIVE_STD_FLOOR = 0.04


@dataclass(frozen=True)
class GeometryDeviation:
    measurement: str
    value: float
    profile_mean: float
    profile_std: float
    z: float


@dataclass(frozen=True)
class GeometryAgreement:
    """How the probe's normalised geometry sits within the person's own spread."""

    compared: int
    outside: list[GeometryDeviation]
    agreement: float  # fraction of compared measurements within GEOMETRY_Z_LIMIT


@dataclass(frozen=True)
class VerifyOutcome:
    verdict: Verdict
    match: MatchDecision
    reasons: list[str]
    geometry: GeometryAgreement
    authenticity: AuthenticityReport | None = None
    findings: list[Finding] = field(default_factory=list)


def mean_similarity(probe: np.ndarray, enrolled: list[np.ndarray]) -> float:
    return float(np.mean([cosine(probe, e) for e in enrolled])) if enrolled else 0.0


def geometry_agreement(measurements: dict[str, float], stats: dict[str, dict[str, float]]) -> GeometryAgreement:
    outside = []
    compared = 0
    for name, value in sorted(measurements.items()):
        st = stats.get(name)
        if not st:
            continue
        compared += 1
        mean = float(st["mean"])
        std = max(float(st.get("std", 0.0)), GEOMETRY_RELATIVE_STD_FLOOR * abs(mean), 1e-6)
        z = (value - mean) / std
        if abs(z) > GEOMETRY_Z_LIMIT:
            outside.append(GeometryDeviation(name, round(value, 4), round(mean, 4), round(std, 4), round(z, 2)))
    agreement = 1.0 - len(outside) / compared if compared else 1.0
    return GeometryAgreement(compared=compared, outside=outside, agreement=round(agreement, 4))


def decide_verdict(
    match: MatchDecision,
    usable: bool,
    quality_reasons: tuple[str, ...],
    geometry: GeometryAgreement,
    authenticity: AuthenticityReport | None = None,
) -> VerifyOutcome:
    """Combine identity, quality and authenticity. ``suspected_fake`` wins over every other verdict: a convincing
    fake of the right person is exactly what must not pass as ``genuine``."""
    reasons: list[str] = []
    if authenticity is not None and authenticity.verdict == "suspected_fake":
        verdict: Verdict = "suspected_fake"
        reasons.append(wording.reason_suspected(authenticity))
        reasons.append(wording.reason_identity_beside_fake(match))
    elif match.same_person and (doubt := _unresolved_swap(authenticity)) is not None:
        # The swap check fired, but on a photo too damaged for it to decide: neither accuse nor vouch.
        verdict = "inconclusive"
        reasons.append(wording.reason_swap_unresolved(doubt))
    elif match.same_person:
        verdict = "genuine"
        reasons.append(wording.reason_identity_match(match))
        if not usable:
            reasons.append(wording.reason_matched_despite(quality_reasons))
    elif not usable and not match.clearly_different:
        verdict = "inconclusive"
        reasons.append(wording.reason_unusable_no_match(quality_reasons))
    else:
        verdict = "different_person"
        reasons.append(wording.reason_no_match(match))
        if not usable:  # a doubted photo, but far below what the same person scores even damaged
            reasons.append(wording.reason_clear_miss_despite(match, quality_reasons))
    if geometry.outside:
        reasons.append(wording.reason_geometry([d.measurement for d in geometry.outside]))
    findings = authenticity.findings if authenticity is not None else []
    return VerifyOutcome(verdict, match, reasons, geometry, authenticity, findings)


def _unresolved_swap(authenticity: AuthenticityReport | None) -> Finding | None:
    """The face-swap consistency finding when it fired (score >= 0.5) without being decisive (its confidence was
    limited by the photo's quality), else None."""
    if authenticity is None:
        return None
    return next(
        (
            f
            for f in authenticity.findings
            if f.signal == consistency.SIGNAL and f.score >= CONDITIONED_DECISIVE and f.confidence < DECISIVE_CONFIDENCE
        ),
        None,
    )


def score_against(probe: dict[str, np.ndarray], enrolled: list[dict[str, np.ndarray]]) -> tuple[float, float | None]:
    """Mean similarity per model (dlib only when the probe has a dlib vector)."""
    s = mean_similarity(probe[SFACE_KEY], [e[SFACE_KEY] for e in enrolled if SFACE_KEY in e])
    d = None
    if DLIB_KEY in probe:
        d = mean_similarity(probe[DLIB_KEY], [e[DLIB_KEY] for e in enrolled if DLIB_KEY in e])
    return s, d
