"""Quality checks on real photos and degraded copies: good photos pass, each defect gets its reason code."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceproof.detect import detect_faces, whole_face_size
from faceproof.intake import decode_image
from faceproof.measure.geometry import measure_geometry
from faceproof.measure.quality import Quality, assess_quality, cut_face_sharpness, face_grey, sharpness
from faceproof.models.facemesh import get_facemesh
from tests.conftest import largest_box

IMAGES = Path(__file__).parent / "fixtures" / "images"
Box = tuple[float, float, float, float]


def load(name: str) -> tuple[np.ndarray, Box]:
    rgb = decode_image((IMAGES / name).read_bytes()).rgb
    return rgb, largest_box(rgb)


def quality(rgb: np.ndarray, box: Box) -> Quality:
    lm = get_facemesh().landmarks(rgb, box)
    assert lm is not None
    return assess_quality(rgb, box, lm, measure_geometry(lm, (rgb.shape[1], rgb.shape[0])))


@pytest.mark.parametrize("name", ["astronaut_01.jpg", "df01_01.jpg", "df02_02.jpg", "df10_01.jpg"])
def test_normal_photos_pass(name: str) -> None:
    q = quality(*load(name))
    assert q.usable_for_identity, q.reasons
    assert q.reasons == ()


def test_heavy_blur_is_low_sharpness() -> None:
    rgb, box = load("df01_01.jpg")
    blurred = cv2.GaussianBlur(rgb, (0, 0), 0.04 * box[2])
    q = quality(blurred, box)
    assert "low_sharpness" in q.reasons and not q.usable_for_identity
    assert q.sharpness < quality(rgb, box).sharpness / 10


@pytest.mark.parametrize("name", ["df01_01.jpg", "df10_01.jpg", "astronaut_01.jpg"])
def test_downscaled_sharp_photo_is_not_low_sharpness(name: str) -> None:
    """A photo brought down until its face is ~90 px keeps its detail at its own scale: not "blurred" (the quality
    gate must not make every small upload inconclusive), while the same small photo blurred still is."""
    rgb, box = load(name)
    f = 90.0 / box[2]
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    small_box = largest_box(small)
    assert "low_sharpness" not in quality(small, small_box).reasons
    blurred = cv2.GaussianBlur(small, (0, 0), 0.04 * small_box[2])
    assert "low_sharpness" in quality(blurred, small_box).reasons


def test_darkened_copy_is_underexposed() -> None:
    rgb, box = load("astronaut_01.jpg")
    dark = (rgb.astype(np.float32) * 0.25).astype(np.uint8)
    q = quality(dark, box)
    assert "underexposed" in q.reasons and "overexposed" not in q.reasons


def test_brightened_copy_is_overexposed() -> None:
    rgb, box = load("astronaut_01.jpg")
    bright = np.clip(rgb.astype(np.float32) * 2.5, 0, 255).astype(np.uint8)
    assert "overexposed" in quality(bright, box).reasons


def test_crop_through_the_face_is_cut_by_border() -> None:
    rgb, (x, y, w, h) = load("df01_01.jpg")
    right = int(x + 0.6 * w)  # keep only the image-left 60 % of the face
    q = quality(np.ascontiguousarray(rgb[:, :right]), (x, y, w, h))
    assert "face_cut_by_border" in q.reasons
    assert q.box_outside_fraction > 0.3


def test_a_cut_face_keeps_its_sharpness_at_its_whole_size() -> None:
    """A crop from below shortens the detector's box, and squared to SHARPNESS_SIZE from that shorter box the same
    pixels read blurred (here 0.56x the uncut face); measured at the whole face's estimated size they read about
    as sharp as uncut (0.84x: the estimate errs towards a smaller face). Blur still reads as blur."""
    rgb, (x, y, w, h) = load("df10_01.jpg")
    soft = cv2.GaussianBlur(rgb, (0, 0), 0.009 * w)
    uncut = sharpness(face_grey(soft, (x, y, w, h)))
    cut = np.ascontiguousarray(soft[: int(y + 0.7 * h)])
    box = largest_box(cut)
    assert box[3] < 0.9 * h  # the box is shortened by the cut
    assert sharpness(face_grey(cut, box)) < 0.7 * uncut
    assert cut_face_sharpness(cut, box) > 0.75 * uncut
    blurred = np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), 0.04 * w)[: int(y + 0.7 * h)])
    assert cut_face_sharpness(blurred, largest_box(blurred)) < uncut / 4


def test_whole_face_size_extends_only_a_shortened_box() -> None:
    assert whole_face_size((0.0, 0.0, 100.0, 130.0)) == (100.0, 130.0)  # an ordinary detector box
    width, height = whole_face_size((0.0, 0.0, 100.0, 70.0))  # cut across the height
    assert width == 100.0 and height == pytest.approx(119.0)
    width, height = whole_face_size((0.0, 0.0, 50.0, 143.0))  # cut across the width
    assert width == pytest.approx(100.0) and height == 143.0


def test_downscaled_face_is_too_small() -> None:
    rgb, (x, y, w, h) = load("astronaut_01.jpg")
    f = 0.4
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    q = quality(small, (x * f, y * f, w * f, h * f))
    assert "face_too_small" in q.reasons


def test_without_mesh_is_unusable_but_measured() -> None:
    rgb, box = load("df01_01.jpg")
    kps = detect_faces(rgb)[0].keypoints
    q = assess_quality(rgb, box, None, None, kps)
    assert not q.usable_for_identity and "no_mesh" in q.reasons
    assert q.ipd_px > 30 and q.sharpness > 60  # what could be measured still is
