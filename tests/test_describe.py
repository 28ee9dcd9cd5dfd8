"""The description is deterministic, made only of measured values, and says "between" where a photo cannot
decide (the readings themselves are tested in test_attributes.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

from faceproof.intake import decode_image
from faceproof.measure.appearance import Appearance, measure_appearance
from faceproof.measure.geometry import Geometry, measure_geometry
from faceproof.measure.quality import Quality, assess_quality
from faceproof.models.facemesh import get_facemesh
from faceproof.profile.attributes import photo_traits, read_attributes
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
    readings = read_attributes(photo_traits(asdict(g), asdict(a), q.reasons))
    shape = readings["face_shape"]
    assert len(shape.classes) == 2 and text.startswith(f"Face {shape.text} with")  # one photo: between two
    assert f"ITA {a.ita_deg:.0f}° ({readings['skin_tone'].text}) skin tone" in text
    assert "frontal" in text and "sharp" in text
    assert "Not usable" not in text


def test_one_class_is_named_without_between() -> None:
    g, a, q = measure("df01_02.jpg")
    # Measurements far inside one class: cheekbones dominate (diamond), a long upper third, very dark irides.
    g = dataclasses.replace(g, face_width_ratio=2.2, face_height_ratio=2.5, forehead_width_ratio=1.5)
    g = dataclasses.replace(g, jaw_width_ratio=1.3, upper_third=0.25)
    iris = dataclasses.replace(a.iris_right, L=10.0, a=10.0, b=10.0)  # type: ignore[arg-type]
    text = describe(g, dataclasses.replace(a, iris_right=iris, iris_left=iris), q)
    assert text.startswith("Diamond face with a long upper third") and " dark brown eyes" in text


def test_relative_words_follow_the_measurements() -> None:
    g, a, q = measure("df01_01.jpg")
    assert "wide-set" in describe(dataclasses.replace(g, intercanthal_ratio=0.60), a, q)
    assert "close-set" in describe(dataclasses.replace(g, intercanthal_ratio=0.50), a, q)
    # df01_01 smiles with an open mouth (openness 0.26), which lengthens the lower third: the words correct for it.
    assert "a long lower third" in describe(dataclasses.replace(g, lower_third=0.47, mouth_openness=0.04), a, q)
    assert "a balanced to long lower third" in describe(dataclasses.replace(g, lower_third=0.47), a, q)
    turned = describe(dataclasses.replace(g, yaw=30.0, pitch=0.0), a, q)
    assert "turned 30° to the image right" in turned


def test_unusable_photo_says_why() -> None:
    g, a, q = measure("df02_01.jpg")
    bad = dataclasses.replace(q, usable_for_identity=False, reasons=("low_sharpness", "face_too_small"))
    text = describe(g, a, bad)
    assert "blurred" in text and text.endswith("Not usable for identity: blurred, face too small.")
    noisy = describe(g, a, dataclasses.replace(q, usable_for_identity=False, reasons=("noisy",)))
    assert "noisy, well-exposed photo" in noisy and "sharp" not in noisy  # noise is not sharpness
    assert noisy.endswith("Not usable for identity: noisy (sensor noise).")


def test_missing_measurements_are_not_invented() -> None:
    g, a, q = measure("df02_02.jpg")
    empty = dataclasses.replace(a, skin_L=None, ita_deg=None, ita_category=None, iris_right=None, iris_left=None)
    text = describe(g, empty, q)
    assert "ITA" not in text and "skin tone not measurable" in text and "unmeasured colour" in text
