"""Consistency with the profile: does this photo agree with what the person's own enrolment photos showed?

Two checks no single-image detector can make, because they need a reference of the real person:

1. **Inner vs outer identity** (after Dong et al., CVPR 2022, "Protecting celebrities from deepfake with identity
   consistency transformer"): a face swap transplants one person's *inner* face (eyes, brows, nose, mouth) onto
   another person's head, whose *outer* face (face contour, forehead, cheeks, ears, hairline) stays. We embed the
   inner face alone (everything outside its landmark hull greyed out) and the outer face alone (the inner hull
   filled with the skin colour) with the same SFace network, and compare each with the same regions of the
   enrolment photos. A genuine photo matches the profile on both; a swap of the enrolled person's face onto
   someone else matches on the inner face only. That is not the only trace: the two identity models disagree
   (dlib, which reads mostly the inner face, is convinced; SFace, which also reads the head, is not) and the
   geometry drifts from the person's own. :func:`swap_evidence` measures all of it and a logistic regression
   learnt from swaps onto enrolled people (artefact ``profile_swap``, :mod:`faceproof.training.fit_profile_swap`;
   docs/profile-swap.md) weighs it; crossing its threshold makes the verdict ``suspected_fake``.
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
from faceproof.authenticity.fusion import FusionModel
from faceproof.decision.calibration import load_calibration
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, cosine
from faceproof.models import artifact, sface
from faceproof.models.lazy import Lazy

SIGNAL = "consistency"
#: The learned swap-against-the-profile model (:mod:`faceproof.training.fit_profile_swap`).
ARTIFACT = "profile_swap"
#: What :func:`swap_evidence` measures (the model's card names the subset it reads).
FEATURES = (
    "sface_similarity",
    "dlib_similarity",
    "model_disagreement",
    "inner_similarity",
    "outer_similarity",
    "region_gap",
    "geometry_agreement",
    "quality_issues",
    "sface_below_enrolment",
    "outer_below_enrolment",
)
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
#: Inner similarity that makes the swap model apply even when the identity did not match (else it applies only to
#: matches: anything else is simply another person, and an impostor's two identity models disagree as a swap's do).
INNER_MATCH = 0.45
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
    hull, radius = _inner_hull(landmarks)
    return _draw_mask(shape, hull, radius)


def _inner_hull(landmarks: np.ndarray) -> tuple[np.ndarray, int]:
    """The inner face's convex hull (integer pixels) and the radius it is grown by."""
    pts = landmarks[list(INNER_LANDMARKS), :2].astype(np.float32)
    hull = cv2.convexHull(pts).astype(np.int32)
    ipd = float(np.linalg.norm(landmarks[468, :2] - landmarks[473, :2]))
    return hull, max(1, round(DILATE_IPD * ipd))


def _draw_mask(shape: tuple[int, int], hull: np.ndarray, radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


#: How far beyond the grown hull :func:`region_images` works: the seam's blur (sigma 3 on a uint8 mask: a 19-tap
#: kernel, 9 px a side) and the skin ring (4 px) end well inside it.
_REGION_MARGIN = 16


def region_images(rgb: np.ndarray, landmarks: np.ndarray, keys: Sequence[str] = REGION_KEYS) -> tuple[np.ndarray, ...]:
    """The inner-only (:data:`INNER_KEY`) and outer-only (:data:`OUTER_KEY`) images, in ``keys`` order: the other
    region replaced by a flat fill, softened at the seam. Only the images asked for are made (a probe asks for the
    inner face first and for the outer one only when the swap check runs).

    Only a window about the inner face is computed: beyond the seam's blur the inner image is the grey fill and the
    outer image the photo itself, exactly, so the window's pixels are pasted into those (identical output; on a
    1024 px photo 5.6 ms instead of 34 ms for blending the whole image).
    """
    height, width = rgb.shape[:2]
    hull, radius = _inner_hull(landmarks)
    reach = radius + _REGION_MARGIN
    x0, y0 = (max(0, int(v) - reach) for v in hull.reshape(-1, 2).min(axis=0))
    x1, y1 = (int(v) + reach + 1 for v in hull.reshape(-1, 2).max(axis=0))
    x1, y1 = min(width, x1), min(height, y1)
    images = {INNER_KEY: np.full_like(rgb, 128) if INNER_KEY in keys else None}
    images[OUTER_KEY] = rgb.copy() if OUTER_KEY in keys else None
    if x1 > x0 and y1 > y0:  # else the inner face lies outside the image: nothing of it to blend
        window = rgb[y0:y1, x0:x1]
        mask = _draw_mask(window.shape[:2], hull - np.array([x0, y0], np.int32), radius)
        soft = cv2.GaussianBlur(mask, (0, 0), 3).astype(np.float32)[:, :, None] / 255.0
        if (inner := images[INNER_KEY]) is not None:
            grey = np.full_like(window, 128)
            inner[y0:y1, x0:x1] = (window * soft + grey * (1 - soft)).astype(np.uint8)
        if (outer := images[OUTER_KEY]) is not None:
            ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) & ~mask
            skin = np.median(window[ring > 0], axis=0) if ring.any() else np.array([128, 128, 128])
            fill = np.empty_like(window)
            fill[:] = skin.astype(np.uint8)
            outer[y0:y1, x0:x1] = (fill * soft + window * (1 - soft)).astype(np.uint8)
    return tuple(images[key] for key in keys)  # type: ignore[misc]


def region_embeddings(
    rgb: np.ndarray, keypoints: np.ndarray, landmarks: np.ndarray, keys: Sequence[str] = REGION_KEYS
) -> dict[str, np.ndarray]:
    """SFace embeddings of the inner and the outer face (``keys``: which of them), aligned exactly like the
    full-face template. Each is an SFace pass (~18 ms): a probe takes the outer face only when the swap check runs
    (:data:`INNER_MATCH`), enrolment photos take both."""
    model = sface.get_sface()
    images = region_images(rgb, landmarks, keys)
    return {key: model.embed(align_face(image, keypoints)) for key, image in zip(keys, images, strict=True)}


@dataclass(frozen=True)
class RegionScores:
    inner: float
    outer: float

    @property
    def gap(self) -> float:
        return self.inner - self.outer


def region_scores(probe: dict[str, np.ndarray], enrolled: list[dict[str, np.ndarray]]) -> RegionScores | None:
    """The probe's inner and outer face against the profile's (mean over its photos); None without the inner
    templates, ``outer`` NaN while the probe has no outer template yet (it is taken only for the swap check)."""
    pairs = [(e[INNER_KEY], e[OUTER_KEY]) for e in enrolled if INNER_KEY in e and OUTER_KEY in e]
    if not pairs or INNER_KEY not in probe:
        return None
    inner = float(np.mean([cosine(probe[INNER_KEY], i) for i, _ in pairs]))
    outer = float(np.mean([cosine(probe[OUTER_KEY], o) for _, o in pairs])) if OUTER_KEY in probe else float("nan")
    return RegionScores(inner=inner, outer=outer)


def swap_check_applies(regions: RegionScores | None, identity_matched: bool) -> bool:
    """Whether the learned swap model has something to judge: the probe could pass as the person - its identity
    matched the profile or its inner face does (:data:`INNER_MATCH`); otherwise it is simply someone else."""
    return regions is not None and (identity_matched or regions.inner >= INNER_MATCH)


def model_disagreement(sface_similarity: float, dlib_similarity: float) -> float:
    """dlib's calibrated log-likelihood ratio of "same person" minus SFace's (NaN without dlib)."""
    if not np.isfinite(dlib_similarity):
        return float("nan")
    x = np.array([[np.clip(sface_similarity, -1, 1), np.clip(dlib_similarity, -1, 1)]], np.float64)
    out = load_calibration().model.run({"x": x}, ["logit_sface", "logit_dlib"])
    return float(out["logit_dlib"][0] - out["logit_sface"][0])


def swap_evidence(
    probe: dict[str, np.ndarray],
    enrolled: list[dict[str, np.ndarray]],
    geometry_agreement: float,
    quality_reasons: Sequence[str],
) -> dict[str, float] | None:
    """The measurements the learned swap model reads, of one probe against the profile's images (None without
    region templates). ``dlib_similarity`` and ``model_disagreement`` are NaN when the probe has no dlib template,
    the outer-face measurements when it has no outer template (taken only where the swap check applies).

    ``model_disagreement`` is dlib's calibrated log-likelihood ratio minus SFace's (the verification calibration's
    single-model heads), so the two models are compared on one scale: a swap's inner face convinces dlib far more
    than SFace, which also reads the head around it. ``sface_below_enrolment`` / ``outer_below_enrolment``: how
    far the probe's SFace / outer-face similarity lies below that between the enrolment photos themselves (NaN
    for a one-photo profile): a person whose own photos differ a lot is not suspicious for differing.
    """
    regions = region_scores(probe, enrolled)
    if regions is None or SFACE_KEY not in probe:
        return None
    s = float(np.mean([cosine(probe[SFACE_KEY], e[SFACE_KEY]) for e in enrolled if SFACE_KEY in e]))
    dlibs = [cosine(probe[DLIB_KEY], e[DLIB_KEY]) for e in enrolled if DLIB_KEY in e] if DLIB_KEY in probe else []
    d = float(np.mean(dlibs)) if dlibs else float("nan")
    pair_sface, pair_outer = enrolment_agreement(enrolled)
    return {
        "sface_similarity": s,
        "dlib_similarity": d,
        "model_disagreement": model_disagreement(s, d),
        "inner_similarity": regions.inner,
        "outer_similarity": regions.outer,
        "region_gap": regions.gap,
        "geometry_agreement": float(geometry_agreement),
        "quality_issues": float(len(quality_reasons)),
        "sface_below_enrolment": pair_sface - s,
        "outer_below_enrolment": pair_outer - regions.outer,
    }


def enrolment_agreement(enrolled: list[dict[str, np.ndarray]]) -> tuple[float, float]:
    """Mean SFace and outer-face similarity between the profile's own enrolment photos (NaN with fewer than two):
    how alike this person's photos are, the yardstick a probe's similarities are read against."""
    sface_pairs, outer_pairs = [], []
    for i, a in enumerate(enrolled):
        for b in enrolled[i + 1 :]:
            if SFACE_KEY in a and SFACE_KEY in b:
                sface_pairs.append(cosine(a[SFACE_KEY], b[SFACE_KEY]))
            if OUTER_KEY in a and OUTER_KEY in b:
                outer_pairs.append(cosine(a[OUTER_KEY], b[OUTER_KEY]))
    return (
        float(np.mean(sface_pairs)) if sface_pairs else float("nan"),
        float(np.mean(outer_pairs)) if outer_pairs else float("nan"),
    )


def check_limits(quality_reasons: Sequence[str], features: dict[str, float]) -> tuple[str, ...]:
    """What limits the swap check on this probe: its quality problems, and sensor noise (``features`` are the
    probe's authenticity features)."""
    noisy = features.get("noise_level", 0.0) > NOISY_LEVEL
    return (*quality_reasons, "sensor_noise") if noisy else tuple(quality_reasons)


@dataclass(frozen=True)
class SwapModel:
    """The learned swap-against-the-profile model: a logistic regression over :data:`FEATURES` (artefact
    ``profile_swap``) and its operating threshold on the logit scale."""

    model: artifact.Artifact
    features: tuple[str, ...]
    threshold: float
    neutral: dict[str, float]
    #: (SFace, outer-face) similarity between two enrolment photos of a typical person: stands in for a one-photo
    #: profile's unknown agreement in the ``*_below_enrolment`` features.
    typical_enrolment: tuple[float, float] = (float("nan"), float("nan"))

    @classmethod
    def from_artifact(cls, model: artifact.Artifact) -> SwapModel:
        p = model.parameters
        try:
            features = tuple(str(f) for f in p["features"])
            threshold = float(p["threshold_logit"])
            neutral = {str(k): float(v) for k, v in p["neutral"].items()}
            typical = tuple(float(v) for v in p.get("typical_enrolment_agreement", (np.nan, np.nan)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed {ARTIFACT} card: {exc!r}") from exc
        if set(features) - set(FEATURES) or set(features) - set(neutral):
            raise ValueError(f"{ARTIFACT} reads features this code does not measure: {features}")
        return cls(model, features, threshold, neutral, (typical[0], typical[1]))

    def logit(self, evidence: dict[str, float]) -> tuple[float, dict[str, float]]:
        """(logit, per-feature terms) of one probe; a missing or NaN measurement counts at its neutral value."""
        evidence = dict(evidence)
        for key, probe_key, typical in (
            ("sface_below_enrolment", "sface_similarity", self.typical_enrolment[0]),
            ("outer_below_enrolment", "outer_similarity", self.typical_enrolment[1]),
        ):
            if not np.isfinite(evidence.get(key, np.nan)):
                evidence[key] = typical - evidence.get(probe_key, np.nan)
        row = [evidence.get(f, np.nan) for f in self.features]
        row = [self.neutral[f] if not np.isfinite(v) else v for f, v in zip(self.features, row, strict=True)]
        out = self.model.run({"x": np.array([row], np.float32)}, ["logit", "terms"])
        terms = {f: float(t) for f, t in zip(self.features, out["terms"][0], strict=True)}
        return float(out["logit"][0]), terms


_swap_model: Lazy[SwapModel] = Lazy(lambda: SwapModel.from_artifact(artifact.load(ARTIFACT)))


def load_swap_model() -> SwapModel:
    """The shipped ``profile_swap`` model, read once per process."""
    return _swap_model.get()


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def identity_consistency(
    evidence: dict[str, float] | None, quality_limits: Sequence[str] = (), identity_matched: bool = False
) -> Finding:
    """The swap finding: the learned model's verdict on :func:`swap_evidence` (None: no region templates).

    The model runs when the probe could pass as the person (:func:`swap_check_applies`); then the evidence must
    hold the probe's outer-face template (``Probe.ensure_outer``), otherwise it is simply someone else.

    The score is ``sigmoid(logit - threshold)``, so it crosses 0.5 exactly at the model's operating threshold and a
    finding that crosses it is decisive (the engine's conditioned rule). ``quality_limits`` are what limits the
    check on this probe (:func:`check_limits`); with any, the finding has LIMITED_CONFIDENCE and is reported but
    not decisive (verification then answers ``inconclusive`` instead of ``genuine``).
    """
    if evidence is None:
        return Finding(SIGNAL, 0.0, 0.0, "swapped", "no region templates to compare (no face mesh)")
    inner, outer = evidence["inner_similarity"], evidence["outer_similarity"]
    if not swap_check_applies(RegionScores(inner, outer), identity_matched):
        return Finding(
            SIGNAL, 0.0, 0.2, "swapped",
            f"inner face does not match the profile (similarity {inner:.2f}); nothing to check",
            {"inner_similarity": inner, "outer_similarity": outer},
        )  # fmt: skip
    if not np.isfinite(outer):
        raise ValueError("the swap check needs the probe's outer-face template (Probe.ensure_outer)")
    model = load_swap_model()
    logit, terms = model.logit(evidence)
    score = _sigmoid(logit - model.threshold)
    probability, at = _sigmoid(logit), _sigmoid(model.threshold)
    dlib = evidence.get("dlib_similarity", float("nan"))
    numbers = (
        f"inner face {inner:.2f} / outer face {outer:.2f}, SFace {evidence['sface_similarity']:.2f} / "
        + (f"dlib {dlib:.2f}" if np.isfinite(dlib) else "dlib not computed")
        + f", geometry agreement {evidence['geometry_agreement']:.2f}"
    )
    if score >= 0.5:
        top = ", ".join(f for f, t in sorted(terms.items(), key=lambda kv: -kv[1])[:2] if t > 0)
        message = (
            f"swap onto the enrolled person's face: learned swap probability {probability:.2f} >= threshold "
            f"{at:.2f} ({numbers}; strongest: {top or 'none'})"
        )
    else:
        message = f"consistent with the profile: learned swap probability {probability:.2f} < {at:.2f} ({numbers})"
    confidence = 0.9
    if quality_limits:
        confidence = LIMITED_CONFIDENCE
        message += f" (photo quality limits this check: {', '.join(quality_limits)})"
    features = {**evidence, "swap_logit": logit, "swap_probability": probability}
    return Finding(SIGNAL, score, confidence, "swapped", message, features)


def baseline_spread(stats: dict[str, float], population_std: float) -> float:
    """The spread a probe's feature is measured in against the person's enrolment photos: the larger of their own
    standard deviation and the population's (one or two enrolment photos say little about spread)."""
    return max(stats["std"], population_std, 1e-9)


def baseline_deviation(
    features: dict[str, float], baseline: dict[str, dict[str, float]], population_std: dict[str, float]
) -> Finding:
    """How far the probe's authenticity features lie from the person's own enrolment photos, in
    :func:`baseline_spread` units, so only gross departures are reported."""
    worst, worst_key = 0.0, ""
    for key, value in features.items():
        st = baseline.get(key)
        if not st or key not in population_std:
            continue
        z = abs(value - st["mean"]) / baseline_spread(st, population_std[key])
        if z > worst:
            worst, worst_key = z, key
    if not worst_key:
        return Finding("reality_baseline", 0.0, 0.0, "edited", "no reality baseline in the profile")
    score = float(1.0 / (1.0 + np.exp(-(worst - BASELINE_Z))))
    where = f"{worst_key} is {worst:.1f} standard deviations from the person's enrolment photos"
    message = where if score >= 0.5 else f"consistent with the enrolment photos (largest: {where})"
    return Finding("reality_baseline", score, BASELINE_CONFIDENCE, "edited", message, {"max_z": worst})


@dataclass(frozen=True)
class BaselineBand:
    """One feature of a profile's reality baseline as :func:`baseline_deviation` reads it: the enrolment photos'
    values and the band a probe's value stays within before the check reports it (``|z| < BASELINE_Z``)."""

    feature: str
    signal: str
    photos: tuple[float | None, ...]  # one per enrolment photo, in enrolment order (None: not measured there)
    mean: float
    spread: float
    low: float
    high: float
    population_median: float  # of real photos (the fusion's neutral value of the feature)
    population_std: float


def baseline_bands(
    baseline: dict[str, dict[str, float]], photos: Sequence[dict[str, float]], fusion: FusionModel
) -> list[BaselineBand]:
    """Every feature the baseline check compares (those with a population spread in the fusion model, in its
    order), with the values of the enrolment photos (``photos``: each photo's authenticity features) that the
    baseline was aggregated from."""
    bands = []
    for key, pop in fusion.population_scale.items():
        st = baseline.get(key)
        if not st:
            continue
        spread = baseline_spread(st, pop)
        bands.append(
            BaselineBand(
                feature=key,
                signal=fusion.signal_of.get(key, key),
                photos=tuple(p.get(key) for p in photos),
                mean=st["mean"],
                spread=spread,
                low=st["mean"] - BASELINE_Z * spread,
                high=st["mean"] + BASELINE_Z * spread,
                population_median=fusion.neutral[key],
                population_std=pop,
            )
        )
    return bands
