"""Consistency with the profile: does this photo agree with what the person's own enrolment photos showed?

Two checks no single-image detector can make, because they need a reference of the real person:

1. **Inner vs outer identity** (after Dong et al., CVPR 2022, "Protecting celebrities from deepfake with identity
   consistency transformer"): a face swap transplants one person's *inner* face (eyes, brows, nose, mouth) onto
   another person's head, whose *outer* face (face contour, forehead, cheeks, ears, hairline) stays. We embed the
   inner face alone (everything outside its landmark hull greyed out) and the outer face alone (the inner hull
   filled with the skin colour) with the same SFace network, and compare each with the same regions of the
   enrolment photos. A genuine photo matches the profile on both; a swap of the enrolled person's face onto
   someone else matches on the inner face only.
2. **Reality baseline**: the authenticity features measured on the enrolment photos (the person's cameras,
   lighting, skin texture), kept as mean and standard deviation per feature in the profile summary. A probe whose
   features sit far outside that spread is reported, with the feature.

Region embeddings are stored like any template, under their own model keys (``sface-inner@…``,
``sface-outer@…``), so they are only ever compared with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.align import align_face
from faceproof.authenticity.base import Finding
from faceproof.measure.identity import cosine
from faceproof.models import sface

SIGNAL = "consistency"
INNER_KEY = f"sface-inner@{sface.MODEL_VERSION}"
OUTER_KEY = f"sface-outer@{sface.MODEL_VERSION}"
REGION_KEYS = (INNER_KEY, OUTER_KEY)

#: MediaPipe mesh indices of the inner face: brows, eyes, nose and lips (hull of these = what a swap replaces).
INNER_LANDMARKS = (
    # brows
    70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 336, 296, 334, 293, 300, 276, 283, 282, 295, 285,
    # eye corners and lids
    33, 133, 159, 145, 362, 263, 386, 374,
    # nose
    1, 2, 98, 327, 168, 6, 197, 195, 5, 4, 129, 358,
    # lips
    61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321, 146, 375,
)  # fmt: skip
#: How far the inner hull is grown, as a fraction of the inter-ocular distance (a swap's blend reaches beyond it).
DILATE_IPD = 0.12
#: Inner similarity must clear this before an outer mismatch means anything (else it is simply another person).
INNER_MATCH = 0.45
#: (inner - outer) similarity gap at which a swap becomes more likely than not. Measured (docs/authenticity.md): genuine
#: probes vs their own profile max 0.265 (45 photos, 13 people); landmark-warped swaps median 0.47.
GAP_CENTRE = 0.32
GAP_WIDTH = 0.06
#: Confidence of the swap finding when the probe has quality problems (blur, a face cut by the border, a tiny
#: face, ...): the outer face then differs from the enrolment photos for reasons of its own, so the finding is
#: reported but not decisive; verification answers ``inconclusive`` rather than ``genuine`` when it fires
#: (:func:`faceproof.decision.verify.decide_verdict`). Below the engine's decisive confidence (0.5).
LIMITED_CONFIDENCE = 0.4
#: The noise signal's ``noise_level`` above which a probe counts as noisy for this check. Sensor noise raises no
#: quality reason but moves the outer face's embedding as blur does. Measured on the dev set: every clean photo
#: (real and generated) is at most 0.69; with sensor noise sigma 8-25 real photos give 0.60-1.02 (median 0.80).
NOISY_LEVEL = 0.7
#: Reality-baseline z-score that starts to be reported.
BASELINE_Z = 4.0
#: The baseline finding is evidence to report, never a verdict on its own: another camera, another year or another
#: light moves these features as much as a fake does (in `faceproof eval profiles` on the dev set, a decisive
#: baseline flagged 41 of 405 real photos of other people and 3 of 35 genuine ones). Below the engine's decisive
#: confidence (0.5) by design.
BASELINE_CONFIDENCE = 0.3


def inner_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """uint8 mask (255 inside) of the dilated convex hull of the inner-face landmarks."""
    pts = landmarks[list(INNER_LANDMARKS), :2].astype(np.float32)
    hull = cv2.convexHull(pts).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    ipd = float(np.linalg.norm(landmarks[468, :2] - landmarks[473, :2]))
    radius = max(1, round(DILATE_IPD * ipd))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def region_images(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inner-only image, outer-only image): the other region replaced by a flat fill, softened at the seam."""
    mask = inner_mask(rgb.shape[:2], landmarks)
    soft = cv2.GaussianBlur(mask, (0, 0), 3).astype(np.float32)[:, :, None] / 255.0
    ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) & ~mask
    skin = np.median(rgb[ring > 0], axis=0) if ring.any() else np.array([128, 128, 128])
    grey = np.full_like(rgb, 128)
    fill = np.empty_like(rgb)
    fill[:] = skin.astype(np.uint8)
    inner = (rgb * soft + grey * (1 - soft)).astype(np.uint8)
    outer = (fill * soft + rgb * (1 - soft)).astype(np.uint8)
    return inner, outer


def region_embeddings(rgb: np.ndarray, keypoints: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """SFace embeddings of the inner and the outer face, aligned exactly like the full-face template."""
    inner, outer = region_images(rgb, landmarks)
    model = sface.get_sface()
    return {
        INNER_KEY: model.embed(align_face(inner, keypoints)),
        OUTER_KEY: model.embed(align_face(outer, keypoints)),
    }


@dataclass(frozen=True)
class RegionScores:
    inner: float
    outer: float

    @property
    def gap(self) -> float:
        return self.inner - self.outer


def region_scores(probe: dict[str, np.ndarray], enrolled: list[dict[str, np.ndarray]]) -> RegionScores | None:
    pairs = [(e[INNER_KEY], e[OUTER_KEY]) for e in enrolled if INNER_KEY in e and OUTER_KEY in e]
    if not pairs or INNER_KEY not in probe or OUTER_KEY not in probe:
        return None
    inner = float(np.mean([cosine(probe[INNER_KEY], i) for i, _ in pairs]))
    outer = float(np.mean([cosine(probe[OUTER_KEY], o) for _, o in pairs]))
    return RegionScores(inner=inner, outer=outer)


def check_limits(quality_reasons: Sequence[str], features: dict[str, float]) -> tuple[str, ...]:
    """What limits the swap check on this probe: its quality problems, and sensor noise (``features`` are the
    probe's authenticity features)."""
    noisy = features.get("noise_level", 0.0) > NOISY_LEVEL
    return (*quality_reasons, "sensor_noise") if noisy else tuple(quality_reasons)


def identity_consistency(scores: RegionScores | None, quality_limits: Sequence[str] = ()) -> Finding:
    """The swap finding: high when the inner face matches the profile but the outer face does not.

    ``quality_limits`` are what limits the check on this probe (:func:`check_limits`); with any, the finding
    has LIMITED_CONFIDENCE.
    """
    if scores is None:
        return Finding(SIGNAL, 0.0, 0.0, "swapped", "no region templates to compare (no face mesh)")
    if scores.inner < INNER_MATCH:
        return Finding(
            SIGNAL, 0.0, 0.2, "swapped",
            f"inner face does not match the profile (similarity {scores.inner:.2f}); nothing to check",
            {"inner_similarity": scores.inner, "outer_similarity": scores.outer},
        )  # fmt: skip
    score = float(1.0 / (1.0 + np.exp(-(scores.gap - GAP_CENTRE) / GAP_WIDTH)))
    if score >= 0.5:
        message = (
            f"inner face matches the profile ({scores.inner:.2f}) but the outer face does not ({scores.outer:.2f}): "
            "the pattern of a face swap"
        )
    else:
        message = f"inner ({scores.inner:.2f}) and outer ({scores.outer:.2f}) face agree with the profile"
    confidence = 0.9
    if quality_limits:
        confidence = LIMITED_CONFIDENCE
        message += f" (photo quality limits this check: {', '.join(quality_limits)})"
    features = {"inner_similarity": scores.inner, "outer_similarity": scores.outer, "gap": scores.gap}
    return Finding(SIGNAL, score, confidence, "swapped", message, features)


def baseline_deviation(
    features: dict[str, float], baseline: dict[str, dict[str, float]], population_std: dict[str, float]
) -> Finding:
    """How far the probe's authenticity features lie from the person's own enrolment photos.

    The spread used is the larger of the person's own and the population's (one or two enrolment photos say
    little about spread), so only gross departures are reported.
    """
    worst, worst_key = 0.0, ""
    for key, value in features.items():
        st = baseline.get(key)
        if not st or key not in population_std:
            continue
        z = abs(value - st["mean"]) / max(st["std"], population_std[key], 1e-9)
        if z > worst:
            worst, worst_key = z, key
    if not worst_key:
        return Finding("reality_baseline", 0.0, 0.0, "edited", "no reality baseline in the profile")
    score = float(1.0 / (1.0 + np.exp(-(worst - BASELINE_Z))))
    where = f"{worst_key} is {worst:.1f} standard deviations from the person's enrolment photos"
    message = where if score >= 0.5 else f"consistent with the enrolment photos (largest: {where})"
    return Finding("reality_baseline", score, BASELINE_CONFIDENCE, "edited", message, {"max_z": worst})
