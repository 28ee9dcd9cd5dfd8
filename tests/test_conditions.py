"""A noisy probe through the real analysis and service: sensor noise reads ``noisy`` (the Laplacian sharpness alone
took it for detail), enrolment refuses such a photo, and a verification decides it at the threshold of its own
condition (``open/noisy``), like a covered lower face (tests/test_cover.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import faceproof
from faceproof.decision import wording
from faceproof.decision.calibration import load_calibration
from faceproof.errors import EnrolmentRefused
from faceproof.measure.identity import NOISE_FROM
from faceproof.service import Service
from faceproof.training.augment import FaceHint, sensor_noise
from tests.conftest import fixture_path


def noisy(name: str, sigma: float = 20.0) -> bytes:
    """The fixture photo under heavy sensor noise, as a JPEG upload."""
    clean = faceproof.analyze(fixture_path(name))
    face = clean.subject.face
    rgb = sensor_noise(clean.image.rgb, np.random.default_rng(0), FaceHint(face.box, face.keypoints), sigma=sigma)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_sensor_noise_reads_noisy_and_the_clean_photo_does_not() -> None:
    clean = faceproof.analyze(fixture_path("df10_01.jpg")).subject.quality
    assert clean.noise_level is not None and clean.noise_level < NOISE_FROM and clean.face_state == "open"
    q = faceproof.analyze(noisy("df10_01.jpg")).subject.quality
    assert q.noise_level is not None and q.noise_level >= NOISE_FROM
    assert "noisy" in q.reasons and q.face_state == "noisy" and not q.usable_for_identity
    assert "low_sharpness" not in q.reasons  # what the reason is for: the sharpness reads the noise as detail
    if q.usable_for_verification:
        assert "threshold for a noisy face" in wording.quality(q).text


def test_enrolment_refuses_a_noisy_photo(df01_profile: tuple[Service, str]) -> None:
    service, _ = df01_profile
    with pytest.raises(EnrolmentRefused) as refused:
        service.create_profile([noisy("df02_01.jpg")], name="noisy")
    assert "noisy" in refused.value.details["quality_reasons"]


def test_a_noisy_probe_is_decided_at_its_own_threshold(df01_profile: tuple[Service, str]) -> None:
    service, pid = df01_profile
    result = service.verify(pid, noisy("df10_01.jpg"))
    outcome, quality = result.outcome, result.analysis.subject.quality
    match = outcome.match
    assert match.condition == "open/noisy" and not match.same_person
    expected = load_calibration().decide(match.sface, match.dlib, 1e-3, "open/noisy")
    assert match.threshold == pytest.approx(expected.threshold)
    # someone else, decided where nothing but the noise is wrong with the photo
    decisive = quality.usable_for_verification or match.clearly_different
    assert outcome.verdict == ("different_person" if decisive else "inconclusive")
    assert any("threshold for a noisy face" in r for r in outcome.reasons) or not quality.usable_for_verification
