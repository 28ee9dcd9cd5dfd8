"""Learned detector: loads, runs, separates the fixtures, is deterministic and honest about tiny faces.

The fixture images were part of the training data (``faceproof train learned`` uses the whole dev set), so these
tests only check that the shipped weights and the inference path agree with training - they are *not* a measure
of accuracy. The honest, cross-generator figures (held-out identities and held-out generators) are in
``docs/authenticity.md``, section "Learned detector".
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import cv2
import numpy as np
import pytest

from faceproof.authenticity import learned
from faceproof.authenticity.base import Finding, SignalInput
from faceproof.detect import detect_faces
from faceproof.intake import ImageMetadata
from faceproof.models import artifact
from tests.conftest import load_rgb

REAL = ("df01_01.jpg", "df01_02.jpg", "df01_03.jpg", "df02_01.jpg", "df02_02.jpg", "df03_01.jpg", "df10_01.jpg")
REAL += ("astronaut_01.jpg",)
GENERATED = ("stylegan2_001.jpg", "stylegan2_002.jpg", "diffusion_001.jpg", "diffusion_041.jpg")


def make_input(rgb: np.ndarray) -> SignalInput:
    face = detect_faces(rgb)[0]
    return SignalInput(
        rgb=rgb, face_box=face.box, keypoints=face.keypoints, landmarks=None, metadata=ImageMetadata(format="ARRAY")
    )


@lru_cache(maxsize=16)
def finding(name: str) -> Finding:
    return learned.analyze(make_input(load_rgb(name)))


def test_artifact_matches_the_taps() -> None:
    probe = artifact.load(learned.ARTIFACT)
    p = probe.parameters
    assert tuple(p["pools"]) == learned.POOLS
    assert np.isfinite(p["threshold"]) and p["neutral_margin"] < 0
    taps = learned.SFaceTaps(p["tensors"], p["pools"])
    assert probe.card.inputs["x"].startswith(f"float64 [N, {len(taps.feature_names())}]")


@pytest.mark.parametrize("name", REAL)
def test_real_fixtures_below_threshold(name: str) -> None:
    f = finding(name)
    assert f.signal == learned.SIGNAL
    assert f.kind == "generated"
    assert f.confidence > 0.5
    assert f.score < 0.5, f.message


def test_generated_fixtures_score_higher_than_real() -> None:
    real = np.mean([finding(n).score for n in REAL])
    generated = np.mean([finding(n).score for n in GENERATED])
    assert generated > real
    assert np.mean([finding(n).features["learned_margin"] for n in GENERATED]) > 0


def test_tiny_face_gives_low_confidence() -> None:
    rgb = load_rgb("df02_01.jpg")
    factor = 40 / max(detect_faces(rgb)[0].box[2:])
    small = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    f = learned.analyze(make_input(small))
    assert 0.0 <= f.score <= 1.0
    assert f.confidence < 0.35


def test_deterministic() -> None:
    inp = make_input(load_rgb("stylegan2_001.jpg"))
    first, second = learned.analyze(inp), learned.analyze(inp)
    assert first.score == second.score
    assert first.features == second.features


def test_odd_input_never_raises() -> None:
    rgb = load_rgb("df01_01.jpg")
    bad = SignalInput(
        rgb=rgb,
        face_box=(10.0, 10.0, 100.0, 100.0),
        keypoints=np.zeros((5, 2), np.float32),
        landmarks=None,
        metadata=ImageMetadata(format="ARRAY"),
    )
    f = learned.analyze(bad)
    assert f.confidence == 0.0
    grey = SignalInput(
        rgb=np.zeros((8, 8), np.uint8),
        face_box=(0.0, 0.0, 8.0, 8.0),
        keypoints=np.zeros((5, 2)),
        landmarks=None,
        metadata=ImageMetadata(format="ARRAY"),
    )
    assert learned.analyze(grey).confidence == 0.0


def test_the_identity_pass_feeds_the_probe_what_its_own_pass_would() -> None:
    """The analysis pools the probe's input from SFace's identity pass and the engine hands it to the probe: the
    same numbers, to the bit, as the probe's own pass over the photo, and the same finding."""
    from faceproof.analysis import analyze
    from faceproof.authenticity.engine import signal_input

    result = analyze(load_rgb("df02_01.jpg"), with_dlib=False)
    s = result.subject
    assert s.probe_features is not None
    assert np.array_equal(s.probe_features, learned.probe_features(result.image.rgb, s.face.keypoints))
    inp = signal_input(result)
    assert learned.analyze(inp) == learned.analyze(dataclasses.replace(inp))  # a replaced input computes its own
