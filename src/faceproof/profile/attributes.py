"""The description's categorical attributes, read from pose-corrected measurements with a confidence.

Why: a hard threshold on one photo's measurement flips the word between photos of the same person (on the dev
set only 3 of 13 people kept one face-shape class across their photos), because a person's own photo-to-photo
spread is as large as the classes are wide. So every attribute is read as a probability over its classes: the
photo's value is the person's value plus noise whose standard deviation (``TRAIT_SPREAD``) was measured as the
within-person spread of the dev people, and the words name the smallest set of classes that holds
``CONFIDENCE`` of that probability: one class ("oval"), or an explicit "between oval and oblong" instead of a
coin flip. A profile of n photos takes the median of each measurement first and classifies that, with the noise
shrunk by sqrt(n), so more photos give sharper words.

How: measurements are the geometry and appearance scalars the classes have always been defined on (face height,
forehead and jaw width relative to the cheekbones; the facial thirds; inner-eye distance / IPD; ITA°; iris Lab),
corrected to a level head and the dev set's median mouth opening (``POSE_SLOPES``), because head pitch and an
open mouth moved them within a person (forehead width / cheekbones against pitch: r = -0.68; lower third against
mouth opening: r = +0.69). Class boundaries are the existing ones (``classify_face_shape``, ``iris_colour_name``,
``ita_category``, ``THIRD_RANGES``, the eye-spacing percentiles); each is a threshold on one measurement, so the
probability of a class is exact: a sum over the cells the thresholds cut the measurement space into.

A measurement that the photo cannot support is left out (not guessed): geometry when the face is cut by the image
border or turned past the quality gate's limits, colour when the photo is under- or overexposed. A blurred photo
(quality reason ``low_sharpness``) gets the wider spread measured on blurred copies of the dev photos.

Where every number comes from: ``faceproof train attributes`` (:mod:`faceproof.training.fit_attributes`;
docs/profile.md, "Attribute stability").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any, NamedTuple

from faceproof.measure.appearance import (
    IRIS_BLUE_B,
    IRIS_DARK_BROWN_L,
    IRIS_GREEN_A,
    IRIS_GREEN_B,
    IRIS_LIGHT_BROWN_L,
    IRIS_TOO_DARK_L,
    IRIS_WARM_A,
    IRIS_WARM_B,
    ITA_CATEGORIES,
    iris_colour_name,
    ita_category,
)
from faceproof.measure.geometry import (
    SHAPE_NARROW_FOREHEAD,
    SHAPE_NARROW_JAW,
    SHAPE_OBLONG_LENGTH,
    SHAPE_SHORT_LENGTH,
    SHAPE_WIDE_FOREHEAD,
    SHAPE_WIDE_JAW,
    classify_face_shape,
)

#: The smallest total probability the words must hold. 95 % is the conventional level; at 90 % skin tone and eye
#: colour kept one reading for only 11 and 10 of the 13 dev people (docs/profile.md, "Attribute stability").
CONFIDENCE = 0.95

# Facial thirds on the real dev photos, (p10, p90) for upper, middle, lower: short below, long above.
THIRD_RANGES = {"upper": (0.184, 0.207), "middle": (0.367, 0.405), "lower": (0.396, 0.439)}
# Inner-canthus distance / IPD on the real dev photos: p20 0.526, median 0.541, p80 0.557.
CLOSE_SET_BELOW = 0.526
WIDE_SET_ABOVE = 0.557

#: Quality reasons under which a photo's geometry is not read: the mesh guesses what lies outside the frame, and
#: the pose correction was fitted on the dev photos' range of poses (|yaw| <= 28, |pitch| <= 17), inside the gate.
GEOMETRY_WITHHELD = frozenset({"face_cut_by_border", "extreme_pose"})
#: Quality reasons under which skin and iris colour are not read: clipped or crushed pixels have no colour.
COLOUR_WITHHELD = frozenset({"underexposed", "overexposed"})

#: Head pitch (degrees) and mouth openness that the geometry is corrected to: the medians of the 61 clean photos
#: of the 13 dev people, so the corrected values keep the population percentiles the classes are defined on.
REFERENCE_PITCH = 0.811
REFERENCE_MOUTH_OPENNESS = 0.0402

#: Change of each measurement per degree of pitch and per unit of mouth openness, fitted within person (each
#: person's photos centred on their own mean) on the 61 clean photos of the 13 dev people. A slope is 0 where
#: correcting for that covariate did not lower the held-out (leave-one-person-out) spread.
POSE_SLOPES: dict[str, tuple[float, float]] = {
    "face_length": (-0.002399, 0.0),
    "forehead_width": (-0.001894, 0.0),
    "jaw_width": (0.000981, 0.0),
    "upper_third": (-0.000666, 0.0),
    "middle_third": (-0.000386, -0.06567),
    "lower_third": (0.000945, 0.08377),
    "eye_spacing": (0.0, 0.1277),
}

#: Standard deviation of one photo's (pose-corrected) measurement around the person's own mean, as (sharp photo,
#: blurred photo). Sharp: the pooled within-person SD of the 61 clean photos of the 13 dev people, each person's
#: values corrected with slopes fitted without that person (so it is a held-out spread). Blurred: that SD combined
#: with the RMS change the blur damages (Gaussian, motion, low resolution) made to the same photos where the
#: quality gate flagged ``low_sharpness``.
TRAIT_SPREAD: dict[str, tuple[float, float]] = {
    "face_length": (0.0309, 0.0423),
    "forehead_width": (0.01165, 0.01657),
    "jaw_width": (0.01493, 0.01846),
    "upper_third": (0.00584, 0.00888),
    "middle_third": (0.00918, 0.01158),
    "lower_third": (0.00801, 0.01234),
    "eye_spacing": (0.01495, 0.03186),
    "ita": (11.36, 11.50),
    "iris_L": (6.77, 10.22),
    "iris_a": (2.856, 4.287),
    "iris_b": (4.645, 5.462),
}


class Trait(NamedTuple):
    """One measurement of a photo or a profile: its value, the noise SD of that value, and how many photos."""

    value: float
    sigma: float
    photos: int = 1


def _scale(bounds: Sequence[float], names: Sequence[str]) -> Callable[[float], str]:
    """An ordered scale: ``names[i]`` below ``bounds[i]``, the last name above every bound."""

    def rule(x: float) -> str:
        return next((name for bound, name in zip(bounds, names, strict=False) if x < bound), names[-1])

    return rule


@dataclass(frozen=True)
class Attribute:
    """A categorical attribute: the rule that names a class from its measurements, and the rule's thresholds.

    ``bounds`` lists, per measurement, every threshold the rule compares it with (ascending), so that inside each
    cell they cut the space into the rule gives one class. ``order`` is the scale, low to high, for an ordered
    attribute (its alternatives are then a contiguous range); None for a nominal one.
    """

    traits: tuple[str, ...]
    bounds: tuple[tuple[float, ...], ...]
    rule: Callable[..., str]
    order: tuple[str, ...] | None = None


_THIRDS = ("short", "balanced", "long")
_SPACING = ("close-set", "average", "wide-set")
_ITA_BOUNDS = tuple(sorted(lower for lower, _ in ITA_CATEGORIES if math.isfinite(lower)))


ATTRIBUTES: dict[str, Attribute] = {
    "face_shape": Attribute(
        ("face_length", "forehead_width", "jaw_width"),
        (
            (SHAPE_SHORT_LENGTH, SHAPE_OBLONG_LENGTH),
            (SHAPE_NARROW_FOREHEAD, SHAPE_WIDE_FOREHEAD),
            (SHAPE_NARROW_JAW, SHAPE_WIDE_JAW),
        ),
        classify_face_shape,
    ),
    **{
        f"{part}_third": Attribute((f"{part}_third",), (bounds,), _scale(bounds, _THIRDS), _THIRDS)
        for part, bounds in THIRD_RANGES.items()
    },
    "eye_spacing": Attribute(
        ("eye_spacing",),
        ((CLOSE_SET_BELOW, WIDE_SET_ABOVE),),
        _scale((CLOSE_SET_BELOW, WIDE_SET_ABOVE), _SPACING),
        _SPACING,
    ),
    "eye_colour": Attribute(
        ("iris_L", "iris_a", "iris_b"),
        (
            (IRIS_TOO_DARK_L, IRIS_DARK_BROWN_L, IRIS_LIGHT_BROWN_L),
            (IRIS_GREEN_A, IRIS_WARM_A),
            (IRIS_BLUE_B, IRIS_GREEN_B, IRIS_WARM_B),
        ),
        iris_colour_name,
    ),
    "skin_tone": Attribute(
        ("ita",), (_ITA_BOUNDS,), ita_category, tuple(reversed([name for _, name in ITA_CATEGORIES]))
    ),
}


@dataclass(frozen=True)
class Reading:
    """What the description says about one attribute: the class, or the classes it lies between.

    ``classes`` are the stated classes (low to high on an ordered scale, else most likely first);
    ``confidence`` is their total probability (at least ``CONFIDENCE`` unless asked for less);
    ``probabilities`` has every class's probability; ``photos`` is how many photos the measurements came from.
    """

    attribute: str
    classes: tuple[str, ...]
    confidence: float
    probabilities: dict[str, float]
    photos: int

    @property
    def most_likely(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def text(self) -> str:
        """The words: "oval", or "between oval and oblong" (an ordered scale names the ends of its range)."""
        if len(self.classes) == 1:
            return self.classes[0]
        if ATTRIBUTES[self.attribute].order is not None:
            return f"between {self.classes[0]} and {self.classes[-1]}"
        return f"between {', '.join(self.classes[:-1])} and {self.classes[-1]}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the API and the stored profile summary."""
        return {
            "classes": list(self.classes),
            "text": self.text,
            "most_likely": self.most_likely,
            "confidence": round(self.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "photos": self.photos,
        }


def raw_traits(
    geometry: Mapping[str, Any] | None, appearance: Mapping[str, Any] | None, reasons: Collection[str]
) -> dict[str, float]:
    """The measurements behind the attributes, uncorrected, that this photo can support (see module doc).

    ``geometry`` and ``appearance`` are ``dataclasses.asdict`` of :class:`~faceproof.measure.geometry.Geometry`
    and :class:`~faceproof.measure.appearance.Appearance`: the form stored with every enrolment image.
    """
    out: dict[str, float] = {}
    if geometry is not None and not GEOMETRY_WITHHELD & set(reasons):
        cheek = geometry["face_width_ratio"]
        out |= {
            "face_length": geometry["face_height_ratio"] / cheek,
            "forehead_width": geometry["forehead_width_ratio"] / cheek,
            "jaw_width": geometry["jaw_width_ratio"] / cheek,
            "upper_third": geometry["upper_third"],
            "middle_third": geometry["middle_third"],
            "lower_third": geometry["lower_third"],
            "eye_spacing": geometry["intercanthal_ratio"],
        }
    if appearance is not None and not COLOUR_WITHHELD & set(reasons):
        if appearance.get("ita_deg") is not None:
            out["ita"] = appearance["ita_deg"]
        irises = [iris for iris in (appearance.get("iris_right"), appearance.get("iris_left")) if iris]
        if irises:  # both eyes are one person's colour: their mean halves the sampling noise
            out |= {f"iris_{ch}": sum(iris[ch] for iris in irises) / len(irises) for ch in "Lab"}
    return out


def pose_covariates(geometry: Mapping[str, Any]) -> tuple[float, float]:
    """(pitch, mouth openness) relative to the reference the measurements are corrected to."""
    return geometry["pitch"] - REFERENCE_PITCH, geometry["mouth_openness"] - REFERENCE_MOUTH_OPENNESS


def photo_traits(
    geometry: Mapping[str, Any] | None, appearance: Mapping[str, Any] | None, reasons: Collection[str]
) -> dict[str, Trait]:
    """One photo's pose-corrected measurements with their noise (sharp or blurred spread)."""
    values = raw_traits(geometry, appearance, reasons)
    if geometry is not None:
        pitch, mouth = pose_covariates(geometry)
        for name, (per_degree, per_opening) in POSE_SLOPES.items():
            if name in values:
                values[name] -= per_degree * pitch + per_opening * mouth
    blurred = "low_sharpness" in reasons
    return {name: Trait(value, TRAIT_SPREAD[name][blurred]) for name, value in values.items()}


def aggregate_traits(photos: Sequence[Mapping[str, Trait]]) -> dict[str, Trait]:
    """A profile's measurements: the median over its photos (one odd photo cannot move it), with the photos'
    RMS noise shrunk by sqrt(n), the standard error of a mean (slightly optimistic for a median of many)."""
    out: dict[str, Trait] = {}
    for name in sorted({n for photo in photos for n in photo}):
        traits = [photo[name] for photo in photos if name in photo]
        n = len(traits)
        rms = math.sqrt(sum(t.sigma**2 for t in traits) / n)
        out[name] = Trait(median(t.value for t in traits), rms / math.sqrt(n), n)
    return out


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def probabilities(attribute: Attribute, traits: Mapping[str, Trait]) -> dict[str, float]:
    """Probability of each class that the person's measurements (not this photo's) lie in it.

    Each measurement is Gaussian around the observed value with its noise SD, independently; the thresholds cut
    every axis into intervals, and a cell's class is the rule's answer at any point inside it.
    """
    axes = []
    for name, bounds in zip(attribute.traits, attribute.bounds, strict=True):
        trait = traits[name]
        cdf = [0.0, *(_phi((b - trait.value) / trait.sigma) for b in bounds), 1.0]
        inside = [bounds[0] - 1.0, *((lo + hi) / 2 for lo, hi in itertools.pairwise(bounds)), bounds[-1] + 1.0]
        axes.append([(x, hi - lo) for x, (lo, hi) in zip(inside, itertools.pairwise(cdf), strict=True)])
    out: dict[str, float] = {}
    for cell in itertools.product(*axes):
        name = attribute.rule(*(x for x, _ in cell))
        out[name] = out.get(name, 0.0) + math.prod(p for _, p in cell)
    return out


def read_attribute(name: str, traits: Mapping[str, Trait], confidence: float = CONFIDENCE) -> Reading | None:
    """The reading of one attribute, or None when a measurement it needs is missing.

    The stated classes are the most likely ones, added until they hold ``confidence``; on an ordered scale the
    range between them is filled in. ``confidence=0`` gives the hard single-class reading (one class per photo).
    """
    attribute = ATTRIBUTES[name]
    if any(t not in traits for t in attribute.traits):
        return None
    probs = probabilities(attribute, traits)
    ranked = sorted(probs, key=lambda c: -probs[c])
    count = next((i for i in range(1, len(ranked)) if sum(probs[c] for c in ranked[:i]) >= confidence), len(ranked))
    stated = ranked[:count]
    if attribute.order is not None:
        index = sorted(attribute.order.index(c) for c in stated)
        stated = list(attribute.order[index[0] : index[-1] + 1])
    photos = min(traits[t].photos for t in attribute.traits)
    return Reading(name, tuple(stated), sum(probs.get(c, 0.0) for c in stated), probs, photos)


def read_attributes(traits: Mapping[str, Trait], confidence: float = CONFIDENCE) -> dict[str, Reading]:
    """Every attribute the measurements support, by name (a missing one was not measurable)."""
    readings = {name: read_attribute(name, traits, confidence) for name in ATTRIBUTES}
    return {name: r for name, r in readings.items() if r is not None}
