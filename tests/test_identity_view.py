"""What the recognizers see: a noisy face is smoothed before embedding, a clean one is left alone (real models,
real fixture photos; the noise is added here)."""

from __future__ import annotations

import numpy as np
import pytest

from faceproof.align import align_face
from faceproof.detect import detect_faces
from faceproof.measure import identity
from faceproof.models import dlib_resnet, sface
from tests.conftest import load_rgb

REAL = ("df01_01.jpg", "df01_02.jpg", "df02_01.jpg", "df03_01.jpg", "df10_01.jpg", "astronaut_01.jpg")


def _noisy(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, rgb.shape)
    return np.clip(rgb.astype(np.float64) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", REAL)
def test_clean_photos_are_shown_unchanged(name: str) -> None:
    rgb = load_rgb(name)
    face = detect_faces(rgb)[0]
    assert identity.noise_level(align_face(rgb, face.keypoints)) < identity.NOISE_FROM
    assert identity.identity_view(rgb, face) is rgb


def test_noise_estimate_follows_the_added_noise() -> None:
    rgb = load_rgb("df01_01.jpg")
    face = detect_faces(rgb)[0]
    levels = [identity.noise_level(align_face(_noisy(rgb, s), face.keypoints)) for s in (0.0, 8.0, 16.0, 32.0)]
    assert levels == sorted(levels)
    assert levels[-1] > identity.NOISE_FULL


def test_a_noisy_face_is_smoothed_only_around_the_face() -> None:
    rgb = _noisy(load_rgb("df02_02.jpg"), 24.0)
    face = detect_faces(rgb)[0]
    view = identity.identity_view(rgb, face)
    assert view is not rgb and view.shape == rgb.shape
    changed = np.argwhere(np.any(view != rgb, axis=2))
    x, y, w, h = face.box
    (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
    assert x0 <= x and y0 <= y and x1 >= x + w - 1 and y1 >= y + h - 1, "the whole face is smoothed"
    assert np.any(view == rgb), "pixels far from the face are untouched"
    # the smoothed face is much less noisy than the noisy one
    before = identity.noise_level(align_face(rgb, face.keypoints))
    after = identity.noise_level(align_face(view, face.keypoints))
    assert after < 0.6 * before


def test_smoothing_brings_a_noisy_copy_closer_to_the_clean_photo() -> None:
    """Both recognizers, a clean photo against its noisy copy: the view's similarity beats the raw image's."""
    clean = load_rgb("df01_02.jpg")
    noisy = _noisy(clean, 28.0, seed=3)
    ref = detect_faces(clean)[0]
    face = detect_faces(noisy)[0]
    s_ref = identity.sface_embedding(clean, ref).vector
    d_ref = identity.dlib_embedding(clean, ref).vector
    s_raw = sface.get_sface().embed(align_face(noisy, face.keypoints))
    d_raw = dlib_resnet.get_dlib_resnet().embed(noisy, face.box)
    assert float(s_ref @ identity.sface_embedding(noisy, face).vector) > float(s_ref @ s_raw)
    assert float(d_ref @ identity.dlib_embedding(noisy, face).vector) > float(d_ref @ d_raw)
