"""A one- or two-sentence English description of a face, generated only from its measurements.

Why: reviewers and users read a sentence faster than a table, but a free-text generator (a captioning model,
an LLM) would invent traits nobody measured. This is a fixed template over the measured values, so the same
numbers always give the same words, and every word can be traced to a field of ``Geometry``, ``Appearance`` or
``Quality``.

Reference ranges for the relative words ("wide-set", "long lower third") are the 20th/80th and 10th/90th
percentiles of the 64 real dev photos (docs/profile.md), so they describe a face relative to that population.
"""

from __future__ import annotations

from faceproof.measure.appearance import Appearance
from faceproof.measure.geometry import Geometry
from faceproof.measure.quality import Quality

# Inner-canthus distance / IPD on the real dev photos: p20 0.526, median 0.541, p80 0.557.
CLOSE_SET_BELOW = 0.526
WIDE_SET_ABOVE = 0.557
# Facial thirds on the real dev photos, (p10, p90) for upper, middle, lower.
THIRD_RANGES = {"upper": (0.184, 0.207), "middle": (0.367, 0.405), "lower": (0.396, 0.439)}
FRONTAL_DEG = 10.0
TILTED_DEG = 10.0

_REASON_WORDS = {
    "low_sharpness": "blurred",
    "underexposed": "underexposed",
    "overexposed": "overexposed",
    "face_too_small": "face too small",
    "extreme_pose": "extreme head pose",
    "eyes_closed": "eyes closed",
    "face_cut_by_border": "face cut by the image border",
    "no_mesh": "face mesh not found",
}


def _thirds(geometry: Geometry) -> str:
    values = {"upper": geometry.upper_third, "middle": geometry.middle_third, "lower": geometry.lower_third}
    notes = []
    for name, value in values.items():
        low, high = THIRD_RANGES[name]
        if value < low:
            notes.append(f"a short {name} third")
        elif value > high:
            notes.append(f"a long {name} third")
    return " and ".join(notes) if notes else "balanced thirds"


def _eyes(geometry: Geometry, appearance: Appearance) -> str:
    if geometry.intercanthal_ratio > WIDE_SET_ABOVE:
        spacing = "wide-set "
    elif geometry.intercanthal_ratio < CLOSE_SET_BELOW:
        spacing = "close-set "
    else:
        spacing = ""
    right, left = appearance.iris_right, appearance.iris_left
    if right is None and left is None:
        return f"{spacing}eyes of unmeasured colour"
    if right is None or left is None or right.name == left.name:
        name = (right or left).name  # type: ignore[union-attr]
        return f"{spacing}{name} eyes"
    return f"{spacing}eyes, {right.name} (right) and {left.name} (left)"


def _skin(appearance: Appearance) -> str:
    if appearance.ita_deg is None:
        return "skin tone not measurable"
    return f"ITA {appearance.ita_deg:.0f}° ({appearance.ita_category}) skin tone"


def _photo(geometry: Geometry, quality: Quality) -> str:
    if abs(geometry.yaw) <= FRONTAL_DEG and abs(geometry.pitch) <= FRONTAL_DEG:
        pose = "frontal"
    elif abs(geometry.yaw) > abs(geometry.pitch):
        pose = f"head turned {abs(geometry.yaw):.0f}° to the image {'right' if geometry.yaw > 0 else 'left'}"
    else:
        pose = f"head {'raised' if geometry.pitch > 0 else 'lowered'} {abs(geometry.pitch):.0f}°"
    if abs(geometry.roll) > TILTED_DEG:
        pose += f", tilted {abs(geometry.roll):.0f}°"
    sharp = "blurred" if "low_sharpness" in quality.reasons else "sharp"
    exposure = [r for r in ("underexposed", "overexposed") if r in quality.reasons]
    return f"{pose}, {sharp}, {exposure[0] if exposure else 'well-exposed'} photo"


def describe(geometry: Geometry | None, appearance: Appearance | None, quality: Quality) -> str:
    """Deterministic description built only from the measurements.

    E.g. "Oval face with balanced thirds, wide-set brown eyes, ITA 41° (light) skin tone; frontal, sharp,
    well-exposed photo." A second sentence lists why the photo is unusable for identity, if it is. Without a
    mesh there is no geometry or appearance to describe, and the text says so instead of guessing.
    """
    if geometry is None or appearance is None:
        text = "Face detected, but its shape could not be measured (no face mesh)."
    else:
        text = (
            f"{geometry.face_shape.capitalize()} face with {_thirds(geometry)}, {_eyes(geometry, appearance)}, "
            f"{_skin(appearance)}; {_photo(geometry, quality)}."
        )
    if not quality.usable_for_identity:
        text += " Not usable for identity: " + ", ".join(_REASON_WORDS.get(r, r) for r in quality.reasons) + "."
    return text
