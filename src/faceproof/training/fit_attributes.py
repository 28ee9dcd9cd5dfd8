"""Measure the constants of the description's attribute reader on the dev set, and its stability tables:
``faceproof train attributes``.

Why a fit: :mod:`faceproof.profile.attributes` ships the reference pose, the pose slopes and the within-person
spreads as named constants; this is where they come from, so anyone can re-measure them (nothing is fitted at run
time, and this stage does not edit the source: it prints the constants to paste). With ``--table`` it also prints
the per-attribute stability tables of docs/profile.md, before (the previous hard per-photo words) and after, clean
and under every everyday damage.

What it measures, on the real photos of the dev people with two or more (61 photos of 13 people):

- reference pose (``REFERENCE_PITCH``, ``REFERENCE_MOUTH_OPENNESS``): the median pitch and mouth openness of the
  clean photos;
- slopes (``POSE_SLOPES``): within-person least squares of each geometric measurement on pitch and mouth
  openness, for each subset of those two covariates; the subset with the smallest leave-one-person-out spread is
  kept (a covariate left out gets slope 0);
- spread, sharp (``TRAIT_SPREAD[name][0]``): the pooled within-person SD of the corrected measurements, each
  person corrected with slopes fitted without them; colour (ITA°, iris Lab) is not pose-corrected;
- spread, blurred (``TRAIT_SPREAD[name][1]``): that SD combined with the RMS change of the measurement between
  each clean photo and its Gaussian-blurred, motion-blurred or downscaled copy, where the quality gate flagged
  the copy ``low_sharpness``.

Every photo goes through the real pipeline (:func:`faceproof.evaluation.stability.dev_photos`): about 1 minute
per damage on 2 CPUs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceproof.evaluation.stability import DevPhoto, Stability, attribute_stability, dev_photos
from faceproof.profile.attributes import (
    ATTRIBUTES,
    CLOSE_SET_BELOW,
    CONFIDENCE,
    POSE_SLOPES,
    THIRD_RANGES,
    WIDE_SET_ABOVE,
    Reading,
    aggregate_traits,
    photo_traits,
    pose_covariates,
    raw_traits,
    read_attributes,
)

#: The damages whose copies the quality gate may flag ``low_sharpness``: they measure the blurred spread.
BLUR_DAMAGES = ("gaussian_blur", "motion_blur", "lowres")

People = Mapping[str, Sequence[DevPhoto]]
Centred = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class AttributeFit:
    """The measured constants of :mod:`faceproof.profile.attributes`."""

    photos: int
    people: int
    reference: tuple[float, float]  # median pitch (degrees) and mouth openness of the clean photos
    slopes: dict[str, tuple[float, float]]  # per geometric measurement: per degree of pitch, per unit of openness
    spread: dict[str, tuple[float, float]]  # per measurement: (sharp, blurred) within-person SD


def load_conditions(data: Path, damages: Iterable[str] = BLUR_DAMAGES) -> dict[str, dict[str, list[DevPhoto]]]:
    """The dev people's analysed photos, clean (key ``"clean"``) and under each of ``damages``."""
    manifest = data / "manifest.csv"
    conditions = {"clean": dev_photos(manifest, data)}
    for damage in damages:
        conditions[damage] = dev_photos(manifest, data, (damage,))
    return conditions


def _within(values: Mapping[str, Sequence[float]]) -> float:
    """Pooled within-person SD: sqrt(sum of squared deviations from each person's mean / (n - people))."""
    ss = dof = 0.0
    for xs in values.values():
        if len(xs) > 1:
            arr = np.asarray(xs, dtype=np.float64)
            ss += float(((arr - arr.mean()) ** 2).sum())
            dof += len(arr) - 1
    return math.sqrt(ss / dof)


def _centred(people: People, trait: str, cols: Sequence[int]) -> Centred:
    """Per person: covariates ``cols`` and raw values of ``trait``, each centred on the person's mean."""
    out = {}
    for who, photos in people.items():
        rows = [(pose_covariates(p.geometry), raw_traits(p.geometry, None, p.reasons)) for p in photos if p.geometry]
        pairs = [(c, v[trait]) for c, v in rows if trait in v]
        x = np.array([[c[i] for i in cols] for c, _ in pairs], dtype=np.float64).reshape(len(pairs), len(cols))
        y = np.array([v for _, v in pairs], dtype=np.float64)
        out[who] = (x - x.mean(axis=0), y - y.mean())
    return out


def _slopes(centred: Centred, people: Sequence[str]) -> np.ndarray:
    x = np.vstack([centred[w][0] for w in people])
    y = np.concatenate([centred[w][1] for w in people])
    return np.linalg.lstsq(x, y, rcond=None)[0] if x.shape[1] else np.zeros(0)


def fit_geometry(people: People) -> dict[str, tuple[tuple[float, float], float]]:
    """Per geometric measurement: (pitch slope, mouth slope) and the held-out within-person SD, for the subset of
    the two covariates (none, pitch, mouth openness, both) with the smallest held-out SD."""
    out = {}
    for trait in POSE_SLOPES:
        candidates = []
        for cols in itertools.chain.from_iterable(itertools.combinations(range(2), k) for k in range(3)):
            centred = _centred(people, trait, cols)
            residuals = {
                who: list(y - x @ _slopes(centred, [w for w in centred if w != who])) for who, (x, y) in centred.items()
            }
            candidates.append((_within(residuals), cols, centred))
        spread, cols, centred = min(candidates, key=lambda c: c[0])  # the first of equals: fewer covariates
        slopes = [0.0, 0.0]
        for col, slope in zip(cols, _slopes(centred, list(centred)), strict=True):
            slopes[col] = float(slope)
        out[trait] = ((slopes[0], slopes[1]), spread)
    return out


def colour_spread(people: People) -> dict[str, float]:
    """Pooled within-person SD of ITA° and iris Lab (no pose correction: light, not pose, moves them)."""
    values: dict[str, dict[str, list[float]]] = {}
    for who, photos in people.items():
        for p in photos:
            for name, v in raw_traits(None, p.appearance, p.reasons).items():
                values.setdefault(name, {}).setdefault(who, []).append(v)
    return {name: _within(by_person) for name, by_person in values.items()}


def blur_change(clean: People, blurred: Sequence[People]) -> dict[str, float]:
    """RMS change of each (corrected) measurement from a clean photo to its blurred copy flagged low_sharpness."""
    before = {p.file: photo_traits(p.geometry, p.appearance, p.reasons) for ps in clean.values() for p in ps}
    changes: dict[str, list[float]] = {}
    for people in blurred:
        for p in (p for ps in people.values() for p in ps):
            if "low_sharpness" not in p.reasons or p.file not in before:
                continue
            after = photo_traits(p.geometry, p.appearance, p.reasons)
            for name in after.keys() & before[p.file].keys():
                changes.setdefault(name, []).append(after[name].value - before[p.file][name].value)
    return {name: math.sqrt(float(np.mean(np.square(d)))) for name, d in changes.items()}


def measure(clean: People, blurred: Sequence[People]) -> AttributeFit:
    """The reader's constants from the clean photos and their blurred copies (one mapping per blur damage)."""
    pose = np.array(
        [(p.geometry["pitch"], p.geometry["mouth_openness"]) for ps in clean.values() for p in ps if p.geometry]
    )
    geometry = fit_geometry(clean)
    sharp = {name: spread for name, (_, spread) in geometry.items()} | colour_spread(clean)
    change = blur_change(clean, blurred)
    return AttributeFit(
        photos=sum(map(len, clean.values())),
        people=len(clean),
        reference=(float(np.median(pose[:, 0])), float(np.median(pose[:, 1]))),
        slopes={name: slopes for name, (slopes, _) in geometry.items()},
        spread={name: (sd, math.hypot(sd, change.get(name, 0.0))) for name, sd in sharp.items()},
    )


def _g(value: float) -> str:
    """``value`` to 4 significant digits, as a Python float literal."""
    return repr(float(f"{value:.4g}"))


def constants(fit: AttributeFit) -> str:
    """The constants of :mod:`faceproof.profile.attributes` as Python source, to paste there."""
    lines = [
        f"# measured on {fit.photos} clean photos of {fit.people} dev people",
        f"REFERENCE_PITCH = {_g(fit.reference[0])}",
        f"REFERENCE_MOUTH_OPENNESS = {_g(fit.reference[1])}",
    ]
    for constant, values in (("POSE_SLOPES", fit.slopes), ("TRAIT_SPREAD", fit.spread)):
        lines.append(f"{constant}: dict[str, tuple[float, float]] = {{")
        lines += [f'    "{name}": ({_g(a)}, {_g(b)}),' for name, (a, b) in values.items()]
        lines.append("}")
    return "\n".join(lines)


def _scale(value: float, low: float, high: float, names: tuple[str, str, str]) -> str:
    return names[0] if value < low else names[2] if value > high else names[1]


def previous_words(photo: DevPhoto) -> dict[str, Reading]:
    """The classes the previous describe.py named for this photo: hard per-photo thresholds, no pose correction,
    the colour name of each eye (both named when they differed)."""
    g, a = photo.geometry, photo.appearance
    if g is None or a is None:
        return {}
    words = {"face_shape": (g["face_shape"],)}
    for part, (low, high) in THIRD_RANGES.items():
        words[f"{part}_third"] = (_scale(g[f"{part}_third"], low, high, ("short", "balanced", "long")),)
    words["eye_spacing"] = (
        _scale(g["intercanthal_ratio"], CLOSE_SET_BELOW, WIDE_SET_ABOVE, ("close-set", "average", "wide-set")),
    )
    names = tuple(dict.fromkeys(i["name"] for i in (a["iris_right"], a["iris_left"]) if i))
    if names:
        words["eye_colour"] = names
    if a["ita_category"]:
        words["skin_tone"] = (a["ita_category"],)
    return {k: Reading(k, v, 1.0, dict.fromkeys(v, 1.0 / len(v)), 1) for k, v in words.items()}


def readings(people: People, confidence: float = CONFIDENCE) -> dict[str, list[dict[str, Reading]]]:
    """Per person, each photo's readings by the shipped reader."""
    return {
        who: [read_attributes(photo_traits(p.geometry, p.appearance, p.reasons), confidence) for p in photos]
        for who, photos in people.items()
    }


def profile_readings(photos: Sequence[DevPhoto]) -> dict[str, Reading]:
    """The readings of a profile enrolled from ``photos`` (median of the measurements, then classified)."""
    return read_attributes(aggregate_traits([photo_traits(p.geometry, p.appearance, p.reasons) for p in photos]))


def _cell(stability: Stability) -> str:
    return f"{stability.stable}/{stability.people}"


def stability_tables(conditions: Mapping[str, People]) -> str:
    """The three tables of docs/profile.md (markdown): per condition, clean mixed with each damage, and profiles.
    ``conditions`` holds ``"clean"`` and any damages, as :func:`load_conditions` returns them."""
    names = list(ATTRIBUTES)
    header = "| " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    lines = ["Per condition: people stable (after: % of photos read as one class / % not read)", ""]
    lines.append("| photos | words " + header)
    for condition, people in conditions.items():
        variants = {
            "before": {who: [previous_words(p) for p in photos] for who, photos in people.items()},
            "hard": readings(people, confidence=0.0),
            "after": readings(people),
        }
        for variant, per_person in variants.items():
            table = attribute_stability(per_person)
            cells = [_cell(table[n]) for n in names]
            if variant == "after":
                cells = [
                    f"{c} ({table[n].decisive:.0%} / {table[n].withheld:.0%})"
                    for c, n in zip(cells, names, strict=True)
                ]
            lines.append(f"| {condition} | {variant} | " + " | ".join(cells) + " |")
    clean = conditions["clean"]
    lines += ["", "Each person's clean photos together with their damaged copies: people stable", ""]
    lines.append("| damage | words " + header)
    for condition, people in conditions.items():
        if condition != "clean":
            mixed = {who: [*clean[who], *people.get(who, [])] for who in clean}
            table = attribute_stability(readings(mixed))
            lines.append(f"| {condition} | after | " + " | ".join(_cell(table[n]) for n in names) + " |")
    halves = {who: [profile_readings(photos[0::2]), profile_readings(photos[1::2])] for who, photos in clean.items()}
    whole = {who: [profile_readings(photos)] for who, photos in clean.items()}
    split, full = attribute_stability(halves), attribute_stability(whole)
    lines += [
        "",
        "Profiles: two profiles of each person from alternate clean photos agree / whole profile one class",
        "",
    ]
    lines.append("| profiles | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    lines.append("| halves agree | " + " | ".join(_cell(split[n]) for n in names) + " |")
    lines.append("| one class | " + " | ".join(f"{full[n].decisive:.0%}" for n in names) + " |")
    return "\n".join(lines)
