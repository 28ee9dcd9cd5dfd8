"""The description is deterministic and made only of measured values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from faceproof.intake import decode_image
from faceproof.measure.appearance import Appearance, measure_appearance
from faceproof.measure.geometry import Geometry, measure_geometry
from faceproof.measure.quality import Quality, assess_quality
from faceproof.models.facemesh import get_facemesh
from faceproof.profile.describe import describe
from tests.conftest import largest_box

IMAGES = Path(__file__).parent / "fixtures" / "images"


def measure(name: str) -> tuple[Geometry, Appearance, Quality]:
    rgb = decode_image((IMAGES / name).read_bytes()).rgb
    box = largest_box(rgb)
    lm = get_facemesh().landmarks(rgb, box)
    assert lm is not None
    g = measure_geometry(lm, (rgb.shape[1], rgb.shape[0]))
    return g, measure_appearance(rgb, lm), assess_quality(rgb, box, lm, g)


def test_deterministic_and_mentions_measured_values() -> None:
    g, a, q = measure("df01_02.jpg")
    text = describe(g, a, q)
    assert text == describe(*measure("df01_02.jpg"))
    assert text.startswith(f"{g.face_shape.capitalize()} face")
    assert f"ITA {a.ita_deg:.0f}° ({a.ita_category})" in text
    assert a.iris_right is not None and a.iris_right.name in text
    assert "frontal" in text and "sharp" in text
    assert "Not usable" not in text


def test_relative_words_follow_the_measurements() -> None:
    g, a, q = measure("df01_01.jpg")
    assert "wide-set" in describe(dataclasses.replace(g, intercanthal_ratio=0.60), a, q)
    assert "close-set" in describe(dataclasses.replace(g, intercanthal_ratio=0.50), a, q)
    assert "a long lower third" in describe(dataclasses.replace(g, lower_third=0.47), a, q)
    turned = describe(dataclasses.replace(g, yaw=30.0, pitch=0.0), a, q)
    assert "turned 30° to the image right" in turned


def test_unusable_photo_says_why() -> None:
    g, a, q = measure("df02_01.jpg")
    bad = dataclasses.replace(q, usable_for_identity=False, reasons=("low_sharpness", "face_too_small"))
    text = describe(g, a, bad)
    assert "blurred" in text and text.endswith("Not usable for identity: blurred, face too small.")


def test_missing_measurements_are_not_invented() -> None:
    g, a, q = measure("df02_02.jpg")
    empty = dataclasses.replace(a, skin_L=None, ita_deg=None, ita_category=None, iris_right=None, iris_left=None)
    text = describe(g, empty, q)
    assert "ITA" not in text and "skin tone not measurable" in text and "unmeasured colour" in text
