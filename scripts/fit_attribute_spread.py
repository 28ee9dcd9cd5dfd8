"""Measure the constants of the description's attribute reader on the dev set, and its stability table.

Why a script: ``faceproof.profile.attributes`` ships the pose slopes, the reference pose and the within-person
spreads as named constants; this is where they come from, so anyone can re-measure them (nothing is fitted at run
time). The same run prints the per-attribute stability table of docs/profile.md, before (the previous hard
per-photo words) and after, clean and under every everyday damage.

What it measures, on the 61 real photos of the 13 dev people with two or more:
- reference pose: the median pitch and mouth openness of the clean photos;
- slopes: within-person least squares of each geometric measurement on pitch and mouth openness, for each subset
  of those two covariates; the subset with the smallest leave-one-person-out spread is kept (a covariate left out
  gets slope 0);
- spread (sharp): the pooled within-person SD of the corrected measurements, each person corrected with slopes
  fitted without them;
- spread (blurred): that SD combined with the RMS change of the measurement between each clean photo and its
  Gaussian-blurred, motion-blurred or downscaled copy, where the quality gate flagged the copy ``low_sharpness``.

Usage: ``.venv/bin/python scripts/fit_attribute_spread.py [--data ../shared/data] [--table]`` (about 1 minute
per damage on 2 CPUs).
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Mapping, Sequence
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
from faceproof.training.augment import DEGRADATIONS

BLUR_DAMAGES = ("gaussian_blur", "motion_blur", "lowres")


def _within(values: Mapping[str, Sequence[float]]) -> float:
    """Pooled within-person SD: sqrt(sum of squared deviations from each person's mean / (n - people))."""
    ss = dof = 0.0
    for xs in values.values():
        if len(xs) > 1:
            arr = np.asarray(xs, dtype=np.float64)
            ss += float(((arr - arr.mean()) ** 2).sum())
            dof += len(arr) - 1
    return math.sqrt(ss / dof)


Centred = dict[str, tuple[np.ndarray, np.ndarray]]


def _centred(people: Mapping[str, list[DevPhoto]], trait: str, cols: Sequence[int]) -> Centred:
    """Per person: covariates and raw values of ``trait``, each centred on the person's mean."""
    out = {}
    for who, photos in people.items():
        rows = [(pose_covariates(p.geometry), raw_traits(p.geometry, None, p.reasons)) for p in photos if p.geometry]
        rows = [(c, v[trait]) for c, v in rows if trait in v]
        x = np.array([[c[i] for i in cols] for c, _ in rows], dtype=np.float64).reshape(len(rows), len(cols))
        y = np.array([v for _, v in rows], dtype=np.float64)
        out[who] = (x - x.mean(axis=0), y - y.mean())
    return out


def _slopes(centred: Centred, people: Sequence[str]) -> np.ndarray:
    x = np.vstack([centred[w][0] for w in people])
    y = np.concatenate([centred[w][1] for w in people])
    return np.linalg.lstsq(x, y, rcond=None)[0] if x.shape[1] else np.zeros(0)


def fit_geometry(people: Mapping[str, list[DevPhoto]]) -> dict[str, tuple[tuple[float, float], float]]:
    """Per geometric measurement: (pitch slope, mouth slope) and the held-out within-person SD, for the subset of
    the two covariates (none, pitch, mouth openness, both) with the smallest held-out SD."""
    out = {}
    for trait in POSE_SLOPES:
        best = None
        for cols in itertools.chain.from_iterable(itertools.combinations(range(2), k) for k in range(3)):
            centred = _centred(people, trait, cols)
            residuals = {}
            for who, (x, y) in centred.items():
                slopes = _slopes(centred, [w for w in centred if w != who])
                residuals[who] = list(y - x @ slopes)
            spread = _within(residuals)
            if best is None or spread < best[1]:
                full = _slopes(centred, list(centred))
                slopes = [0.0, 0.0]
                for i, col in enumerate(cols):
                    slopes[col] = float(full[i])
                best = ((slopes[0], slopes[1]), spread)
        out[trait] = best
    return out


def colour_spread(people: Mapping[str, list[DevPhoto]]) -> dict[str, float]:
    """Pooled within-person SD of ITA° and iris Lab (no pose correction: light, not pose, moves them)."""
    values: dict[str, dict[str, list[float]]] = {}
    for who, photos in people.items():
        for p in photos:
            for name, v in raw_traits(None, p.appearance, p.reasons).items():
                values.setdefault(name, {}).setdefault(who, []).append(v)
    return {name: _within(by_person) for name, by_person in values.items()}


def blur_change(
    clean: Mapping[str, list[DevPhoto]], blurred: Sequence[Mapping[str, list[DevPhoto]]]
) -> dict[str, float]:
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


def readings(people: Mapping[str, list[DevPhoto]], confidence: float = CONFIDENCE) -> dict[str, list]:
    """Per person, each photo's readings by the shipped reader."""
    return {
        who: [read_attributes(photo_traits(p.geometry, p.appearance, p.reasons), confidence) for p in photos]
        for who, photos in people.items()
    }


def _cell(stability: Stability) -> str:
    return f"{stability.stable}/{stability.people}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--table", action="store_true", help="also print the stability table for the docs")
    args = parser.parse_args()
    manifest = args.data / "manifest.csv"
    conditions = {"clean": dev_photos(manifest, args.data)}
    clean = conditions["clean"]
    cov = np.array([pose_covariates(p.geometry) for ps in clean.values() for p in ps if p.geometry])
    print(f"photos {sum(map(len, clean.values()))}, people {len(clean)}")
    print("median pitch, mouth openness (relative to the shipped reference):", np.median(cov, axis=0).round(4))
    geometry = fit_geometry(clean)
    colour = colour_spread(clean)
    others = tuple(d for d in sorted(DEGRADATIONS) if d not in BLUR_DAMAGES) if args.table else ()
    for damage in BLUR_DAMAGES + others:
        conditions[damage] = dev_photos(manifest, args.data, (damage,))
    change = blur_change(clean, [conditions[d] for d in BLUR_DAMAGES])
    print("POSE_SLOPES (pitch per degree, mouth openness) and TRAIT_SPREAD (sharp, blurred):")
    sharp = {name: spread for name, (_, spread) in geometry.items()} | colour
    for name, sd in sharp.items():
        slopes = geometry[name][0] if name in geometry else None
        print(f"  {name:15s} slopes {slopes}  spread ({sd:.4g}, {math.hypot(sd, change.get(name, 0.0)):.4g})")
    if args.table:
        print_tables(conditions)


def profile_readings(photos: Sequence[DevPhoto]) -> dict[str, Reading]:
    """The readings of a profile enrolled from ``photos`` (median of the measurements, then classified)."""
    return read_attributes(aggregate_traits([photo_traits(p.geometry, p.appearance, p.reasons) for p in photos]))


def print_tables(conditions: Mapping[str, Mapping[str, list[DevPhoto]]]) -> None:
    """The three tables of docs/profile.md: per condition, clean mixed with each damage, and profiles."""
    names = list(ATTRIBUTES)
    header = "| " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    print("\nPer condition: people stable (after: % of photos read as one class / % not read)\n")
    print("| photos | words " + header)
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
            print(f"| {condition} | {variant} | " + " | ".join(cells) + " |")
    clean = conditions["clean"]
    print("\nEach person's clean photos together with their damaged copies: people stable\n")
    print("| damage | words " + header)
    for condition, people in conditions.items():
        if condition != "clean":
            mixed = {who: clean[who] + people.get(who, []) for who in clean}
            table = attribute_stability(readings(mixed))
            print(f"| {condition} | after | " + " | ".join(_cell(table[n]) for n in names) + " |")
    halves = {who: [profile_readings(photos[0::2]), profile_readings(photos[1::2])] for who, photos in clean.items()}
    whole = {who: [profile_readings(photos)] for who, photos in clean.items()}
    split, full = attribute_stability(halves), attribute_stability(whole)
    print("\nProfiles: two profiles of each person from alternate clean photos agree / whole profile one class\n")
    print("| profiles | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    print("| halves agree | " + " | ".join(_cell(split[n]) for n in names) + " |")
    print("| one class | " + " | ".join(f"{full[n].decisive:.0%}" for n in names) + " |")


if __name__ == "__main__":
    main()
