"""Skin tone and iris colour on real photos: sane ranges, category rules, colour conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceproof.intake import decode_image
from faceproof.measure.appearance import iris_colour_name, ita_category, measure_appearance, rgb_to_lab
from faceproof.models.facemesh import get_facemesh
from tests.conftest import largest_box

IMAGES = Path(__file__).parent / "fixtures" / "images"


def face(name: str) -> tuple[np.ndarray, np.ndarray]:
    rgb = decode_image((IMAGES / name).read_bytes()).rgb
    lm = get_facemesh().landmarks(rgb, largest_box(rgb))
    assert lm is not None
    return rgb, lm


@pytest.mark.parametrize("name", ["astronaut_01.jpg", "df01_01.jpg", "df03_01.jpg", "diffusion_001.jpg"])
def test_values_in_sane_ranges(name: str) -> None:
    a = measure_appearance(*face(name))
    assert a.skin_pixels > 200
    assert a.skin_L is not None and 20 < a.skin_L < 95
    assert a.ita_deg is not None and -90 <= a.ita_deg <= 90
    assert a.ita_category == ita_category(a.ita_deg)
    for iris in (a.iris_right, a.iris_left):
        assert iris is not None and iris.pixels >= 8
        assert 0 < iris.L < 80 and abs(iris.a) < 40 and abs(iris.b) < 40
        assert iris.name == iris_colour_name(iris.L, iris.a, iris.b)
    assert a.iris_delta_e is not None and 0 <= a.iris_delta_e < 30
    assert set(a.measurements()) >= {"skin_L", "ita_deg", "iris_right_L", "iris_left_b", "iris_delta_e"}


def test_astronaut_is_light_skinned_with_matching_brown_eyes() -> None:
    a = measure_appearance(*face("astronaut_01.jpg"))
    assert a.ita_category in {"very light", "light"}
    assert a.iris_right is not None and a.iris_left is not None
    assert a.iris_right.name == a.iris_left.name and "brown" in a.iris_right.name
    assert a.iris_delta_e is not None and a.iris_delta_e < 6


def test_darker_photo_gives_lower_ita() -> None:
    rgb, lm = face("df01_01.jpg")
    dark = (rgb.astype(np.float32) * 0.6).astype(np.uint8)
    assert measure_appearance(dark, lm).ita_deg < measure_appearance(rgb, lm).ita_deg - 10


def test_lab_conversion_units() -> None:
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], dtype=np.uint8))
    assert lab[0, 0] == pytest.approx(100, abs=0.5) and lab[1, 0] == pytest.approx(0, abs=0.5)
    assert lab[2] == pytest.approx([53.2, 80.1, 67.2], abs=0.6)


def test_category_and_colour_rules() -> None:
    assert [ita_category(v) for v in (60, 45, 30, 20, 0, -40)] == [
        "very light",
        "light",
        "intermediate",
        "tan",
        "brown",
        "dark",
    ]
    assert iris_colour_name(15, 5, 5) == "dark brown"
    assert iris_colour_name(35, 6, 15) == "brown"
    assert iris_colour_name(48, 5, 14) == "light brown/hazel"
    assert iris_colour_name(40, 0, -5) == "blue"
    assert iris_colour_name(35, 0, 7) == "green"
    assert iris_colour_name(40, 2, 3) == "grey"


def test_no_visible_skin_gives_none() -> None:
    rgb, lm = face("df01_01.jpg")
    black = np.zeros_like(rgb)
    a = measure_appearance(black, lm)
    assert a.ita_deg is None and a.iris_right is None and a.iris_delta_e is None
    assert a.measurements() == {}
