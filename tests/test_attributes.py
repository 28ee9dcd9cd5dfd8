"""The description's categorical words stay the same person's: readings with a confidence, "between" near a class
boundary, and per-attribute stability on the development people, clean and under every everyday damage (real
photos through the real pipeline; docs/profile.md, "Attribute stability")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import faceproof
from faceproof.evaluation.stability import DevPhoto, attribute_stability, dev_photos, is_stable
from faceproof.measure.geometry import SHAPE_OBLONG_LENGTH
from faceproof.profile.attributes import (
    ATTRIBUTES,
    CONFIDENCE,
    POSE_SLOPES,
    TRAIT_SPREAD,
    Reading,
    Trait,
    aggregate_traits,
    photo_traits,
    probabilities,
    read_attributes,
)
from faceproof.training import fit_attributes
from faceproof.training.augment import DEGRADATIONS
from tests.conftest import fixture_path

#: The (damage, attribute) pairs where fewer than 90 % of the dev people keep one reading, and why: a synthetic
#: mask covers the lower face and cheeks, so the mesh guesses the jaw and chin and the skin sample is partly the
#: mask; a random exposure change (gamma 0.45-2.2, contrast, offset) moves the colour of skin and irides by more
#: than a person's own spread. Neither is flagged by the quality gate, so the reader cannot widen its readings.
KNOWN_LIMITS = {
    ("mask", "face_shape"),
    ("mask", "upper_third"),
    ("mask", "lower_third"),
    ("mask", "eye_spacing"),
    ("mask", "skin_tone"),
    ("photometric", "eye_colour"),
    ("photometric", "skin_tone"),
}
STABLE = 0.9  # the bar: one class (or an explicit "between") across the photos of >= 90 % of the people


def traits(**values: float) -> dict[str, Trait]:
    """A sharp photo's measurements, each in the middle of a class unless given."""
    middle = {
        "face_length": 1.2,
        "forehead_width": 0.865,
        "jaw_width": 0.79,
        "upper_third": 0.1955,
        "middle_third": 0.386,
        "lower_third": 0.4175,
        "eye_spacing": 0.5415,
        "ita": 48.0,
        "iris_L": 10.0,
        "iris_a": 10.0,
        "iris_b": 10.0,
    }
    return {k: Trait(v, TRAIT_SPREAD[k][0]) for k, v in (middle | values).items()}


def shape_reading(*classes: str) -> dict[str, Reading]:
    return {"face_shape": Reading("face_shape", classes, 1.0, dict.fromkeys(classes, 1 / len(classes)), 1)}


def test_the_metric_counts_a_flip_as_unstable_and_between_as_agreeing() -> None:
    assert not is_stable([("oval",), ("oblong",)])
    assert not is_stable([("oval",), ("oval", "oblong"), ("oblong",)])  # a "between" does not excuse a flip
    assert is_stable([("oval",), ("oblong", "oval"), ("oval",)])
    assert is_stable([])
    table = attribute_stability(
        {"a": [shape_reading("oval"), shape_reading("oblong")], "b": [shape_reading("oval", "oblong"), {}]}
    )["face_shape"]
    assert (table.people, table.stable, table.unstable) == (2, 1, ("a",))
    assert table.decisive == pytest.approx(2 / 4) and table.withheld == pytest.approx(1 / 4)


def test_hard_boundaries_flip_where_the_reader_says_between() -> None:
    # Two photos of one face whose length lies a hair either side of the oval/oblong boundary.
    photos = [traits(face_length=SHAPE_OBLONG_LENGTH - 0.005), traits(face_length=SHAPE_OBLONG_LENGTH + 0.005)]
    hard = [read_attributes(t, confidence=0.0) for t in photos]
    assert [r["face_shape"].classes for r in hard] == [("oval",), ("oblong",)]
    assert attribute_stability({"p": hard})["face_shape"].stable == 0
    soft = [read_attributes(t) for t in photos]
    assert all(set(r["face_shape"].classes) == {"oval", "oblong"} for r in soft)
    assert all(r["face_shape"].confidence >= 0.95 for r in soft)
    assert attribute_stability({"p": soft})["face_shape"].stable == 1


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_probabilities_sum_to_one_and_agree_with_the_rule(name: str) -> None:
    attribute = ATTRIBUTES[name]
    rng = np.random.default_rng(7)
    for _ in range(40):
        point = {
            t: float(rng.uniform(b[0] - (b[-1] - b[0]), b[-1] + (b[-1] - b[0])))
            for t, b in zip(attribute.traits, attribute.bounds, strict=True)
        }
        spread = probabilities(attribute, {t: Trait(v, TRAIT_SPREAD[t][0]) for t, v in point.items()})
        assert sum(spread.values()) == pytest.approx(1.0)
        sharp = probabilities(attribute, {t: Trait(v, 1e-9) for t, v in point.items()})
        assert sharp[attribute.rule(*point.values())] == pytest.approx(1.0)


def test_a_profile_takes_the_median_and_sharpens_with_more_photos() -> None:
    photo = traits(face_length=1.215)
    assert set(read_attributes(photo)["face_shape"].classes) == {"oval", "oblong"}
    profile = aggregate_traits([photo] * 4 + [traits(face_length=1.4)])  # one odd photo among five
    assert profile["face_length"] == Trait(1.215, TRAIT_SPREAD["face_length"][0] / np.sqrt(5), 5)
    assert read_attributes(profile)["face_shape"].classes == ("oval",)


def test_unreadable_measurements_are_left_out_and_blur_widens_the_reading() -> None:
    subject = faceproof.analyze(fixture_path("df01_02.jpg"), with_dlib=False).subject
    geometry, appearance = asdict(subject.geometry), asdict(subject.appearance)  # type: ignore[arg-type]
    assert subject.attributes == read_attributes(photo_traits(geometry, appearance, subject.quality.reasons))
    colour = {"eye_colour", "skin_tone"}
    assert set(read_attributes(photo_traits(geometry, appearance, ("face_cut_by_border",)))) == colour
    assert set(read_attributes(photo_traits(geometry, appearance, ("overexposed",)))) == set(ATTRIBUTES) - colour
    sharp, blurred = photo_traits(geometry, appearance, ()), photo_traits(geometry, appearance, ("low_sharpness",))
    assert all(blurred[k].value == sharp[k].value and blurred[k].sigma > sharp[k].sigma for k in sharp)


@pytest.fixture(scope="module")
def dev(shared_data: Path) -> Callable[[str], dict[str, list[DevPhoto]]]:
    """The dev people's analysed photos per condition ("clean" or a damage), each analysed once per module."""
    cache: dict[str, dict[str, list[DevPhoto]]] = {}

    def get(condition: str) -> dict[str, list[DevPhoto]]:
        if condition not in cache:
            damage = () if condition == "clean" else (condition,)
            cache[condition] = dev_photos(shared_data / "manifest.csv", shared_data, damage)
        return cache[condition]

    return get


def readings(people: dict[str, list[DevPhoto]], confidence: float = CONFIDENCE) -> dict[str, list[dict[str, Reading]]]:
    return {
        who: [read_attributes(photo_traits(p.geometry, p.appearance, p.reasons), confidence) for p in photos]
        for who, photos in people.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["clean", *sorted(DEGRADATIONS)])
def test_each_attribute_keeps_one_class_for_the_dev_people(
    dev: Callable[[str], dict[str, list[DevPhoto]]], condition: str
) -> None:
    people = dev(condition)
    assert len(people) == 13 and sum(map(len, people.values())) == 61
    table = attribute_stability(readings(people))
    below = {(condition, name): s.unstable for name, s in table.items() if s.rate < STABLE}
    assert set(below) <= KNOWN_LIMITS, below
    if condition == "clean":
        assert not below and all(s.withheld == 0 for s in table.values())


@pytest.mark.slow
def test_hard_boundaries_would_fail_on_the_same_photos(dev: Callable[[str], dict[str, list[DevPhoto]]]) -> None:
    # The metric is not satisfied by construction: one class per photo (no "between") flips for many people.
    table = attribute_stability(readings(dev("clean"), confidence=0.0))
    assert {name for name, s in table.items() if s.rate < STABLE} == set(ATTRIBUTES)


def test_the_fit_measures_every_constant_on_a_few_dev_people(shared_data: Path, tmp_path: Path) -> None:
    # faceproof train attributes on 3 people of 2 photos each (the whole dev set takes minutes): every constant the
    # reader ships is measured, finite, and printed as Python that defines them.
    rows = (shared_data / "manifest.csv").read_text().splitlines()
    people = ("df07", "df08", "df09")
    keep = [rows[0], *(r for r in rows[1:] if r.split(",")[2] in people)]
    (tmp_path / "manifest.csv").write_text("\n".join(keep) + "\n")
    clean = dev_photos(tmp_path / "manifest.csv", shared_data)
    blurred = dev_photos(tmp_path / "manifest.csv", shared_data, ("gaussian_blur",))
    assert sorted(clean) == list(people)
    fit = fit_attributes.measure(clean, [blurred])
    assert (fit.photos, fit.people) == (6, 3)
    assert fit.slopes.keys() == POSE_SLOPES.keys() and fit.spread.keys() == TRAIT_SPREAD.keys()
    assert all(np.isfinite(v) for pair in [fit.reference, *fit.slopes.values()] for v in pair)
    assert all(0 < sharp <= blur < np.inf for sharp, blur in fit.spread.values())
    pasted: dict[str, Any] = {}
    exec(fit_attributes.constants(fit), pasted)
    assert pasted["POSE_SLOPES"].keys() == POSE_SLOPES.keys() and pasted["TRAIT_SPREAD"].keys() == TRAIT_SPREAD.keys()
    assert pasted["REFERENCE_PITCH"] == pytest.approx(fit.reference[0], rel=1e-3)
    tables = fit_attributes.stability_tables({"clean": clean, "gaussian_blur": blurred})
    assert all(f"| {condition} | after |" in tables for condition in ("clean", "gaussian_blur"))
