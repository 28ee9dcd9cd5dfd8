"""A one- or two-sentence English description of a face, generated only from its measurements.

Why: reviewers and users read a sentence faster than a table, but a free-text generator (a captioning model,
an LLM) would invent traits nobody measured. This is a fixed template over the measured values, so the same
numbers always give the same words, and every word can be traced to a field of ``Geometry``, ``Appearance`` or
``Quality``.

The words about the person (face shape, thirds, eye spacing and colour, skin tone) are the readings of
:mod:`faceproof.profile.attributes`: one class where the measurements hold it with 95 % confidence, otherwise
"between" the classes they may be in, so two photos of one person do not contradict each other. The same
sentence describes a profile from its aggregated measurements (:mod:`faceproof.profile.aggregate`). The words
about the photo (pose, sharpness, exposure) describe that photo only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict

from faceproof.measure.appearance import Appearance
from faceproof.measure.geometry import Geometry
from faceproof.measure.quality import Quality
from faceproof.profile.attributes import ATTRIBUTES, Reading, photo_traits, read_attributes

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
    "lower_face_covered": "lower face covered",
    "noisy": "noisy (sensor noise)",
}


def _listed(words: Sequence[str]) -> str:
    """Words as a list: "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _range(reading: Reading) -> str:
    """An ordered reading in a few words: "long", or "balanced to long"."""
    classes = reading.classes
    return classes[0] if len(classes) == 1 else f"{classes[0]} to {classes[-1]}"


def _informative(reading: Reading) -> bool:
    """Whether an ordered reading says anything: it does not span the whole scale."""
    return reading.classes != ATTRIBUTES[reading.attribute].order


def _uncertain(reading: Reading) -> bool:
    """Whether a nominal reading leaves more classes open than it rules out: then the words say "uncertain"
    rather than list most of the classes (the API still gives them, with their probabilities)."""
    return len(reading.classes) > len(reading.probabilities) / 2


def _shape(readings: Mapping[str, Reading]) -> str:
    reading = readings.get("face_shape")
    if reading is None:
        return "Face of unmeasured shape"
    if len(reading.classes) == 1:
        return f"{reading.classes[0].capitalize()} face"
    return "Face of uncertain shape" if _uncertain(reading) else f"Face {reading.text}"


def _thirds(readings: Mapping[str, Reading]) -> str:
    """The thirds clause: "with balanced thirds", or the thirds that may not be balanced and the balanced ones."""
    known = {}
    for part in ("upper", "middle", "lower"):
        reading = readings.get(f"{part}_third")
        if reading is not None and _informative(reading):
            known[part] = reading
    balanced = [p for p, r in known.items() if r.classes == ("balanced",)]
    if len(balanced) == 3:
        return " with balanced thirds"
    notes = [f"a {_range(r)} {p} third" for p, r in known.items() if p not in balanced]
    if len(balanced) == 1:
        notes.append(f"a balanced {balanced[0]} third")
    elif balanced:
        notes.append(f"balanced {_listed(balanced)} thirds")
    return f" with {_listed(notes)}" if notes else ""


def _eyes(readings: Mapping[str, Reading]) -> str:
    spacing = readings.get("eye_spacing")
    words = ""
    if spacing is not None and _informative(spacing) and spacing.classes != ("average",):  # average has no word
        words = f"{_range(spacing)} "
    colour = readings.get("eye_colour")
    if colour is None:
        return f"{words}eyes of unmeasured colour"
    if len(colour.classes) == 1:
        return f"{words}{colour.classes[0]} eyes"
    return f"{words}eyes of uncertain colour" if _uncertain(colour) else f"{words}eyes {colour.text}"


def _skin(readings: Mapping[str, Reading], ita: float | None) -> str:
    reading = readings.get("skin_tone")
    if reading is None or ita is None:
        return "skin tone not measurable"
    return f"ITA {ita:.0f}° ({reading.text}) skin tone"


def photo_words(yaw: float, pitch: float, roll: float, reasons: Sequence[str]) -> str:
    """The photo's pose, sharpness and exposure, e.g. "frontal, sharp, well-exposed photo"."""
    if abs(yaw) <= FRONTAL_DEG and abs(pitch) <= FRONTAL_DEG:
        pose = "frontal"
    elif abs(yaw) > abs(pitch):
        pose = f"head turned {abs(yaw):.0f}° to the image {'right' if yaw > 0 else 'left'}"
    else:
        pose = f"head {'raised' if pitch > 0 else 'lowered'} {abs(pitch):.0f}°"
    if abs(roll) > TILTED_DEG:
        pose += f", tilted {abs(roll):.0f}°"
    # sensor noise reads as detail to the sharpness measure: a noisy photo is called noisy, not sharp
    sharp = "blurred" if "low_sharpness" in reasons else "noisy" if "noisy" in reasons else "sharp"
    exposure = [r for r in ("underexposed", "overexposed") if r in reasons]
    return f"{pose}, {sharp}, {exposure[0] if exposure else 'well-exposed'} photo"


def sentence(readings: Mapping[str, Reading], ita: float | None, photo: str, reasons: Sequence[str]) -> str:
    """The description from attribute readings (a photo's or a profile's), the ITA° they came with, the photo's
    words and its quality reasons (a second sentence says why it is unusable for identity, if it is)."""
    text = f"{_shape(readings)}{_thirds(readings)}, {_eyes(readings)}, {_skin(readings, ita)}; {photo}."
    return text + _unusable(reasons)


def _unusable(reasons: Sequence[str]) -> str:
    if not reasons:
        return ""
    return " Not usable for identity: " + ", ".join(_REASON_WORDS.get(r, r) for r in reasons) + "."


def describe(geometry: Geometry | None, appearance: Appearance | None, quality: Quality) -> str:
    """Deterministic description built only from the measurements.

    E.g. "Face between oval and oblong with balanced thirds, wide-set brown eyes, ITA 41° (between intermediate
    and light) skin tone; frontal, sharp, well-exposed photo." Without a mesh there is no geometry or appearance
    to describe, and the text says so instead of guessing.
    """
    if geometry is None or appearance is None:
        return "Face detected, but its shape could not be measured (no face mesh)." + _unusable(quality.reasons)
    readings = read_attributes(photo_traits(asdict(geometry), asdict(appearance), quality.reasons))
    photo = photo_words(geometry.yaw, geometry.pitch, geometry.roll, quality.reasons)
    return sentence(readings, appearance.ita_deg, photo, quality.reasons)
