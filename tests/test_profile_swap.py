"""Swaps against the profile: a face swap onto an enrolled person's face is never ``genuine``, the person's own
photos still are (real models, real fixture photos, the service's own enrolment and verification)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import faceproof
from faceproof.authenticity import consistency
from faceproof.authenticity.engine import assess
from faceproof.config import Settings
from faceproof.decision.calibration import load_calibration
from faceproof.decision.verify import decide_verdict, geometry_agreement
from faceproof.models import artifact
from faceproof.service import Service, prepare_probe, verify_probe
from faceproof.training.manipulate import swap_faces
from tests.conftest import fixture_path


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    service = Service.open(Settings(data_dir=Path(tmp_path_factory.mktemp("profile_swap"))))
    photos = [fixture_path(n).read_bytes() for n in ("df01_01.jpg", "df01_02.jpg")]
    profile, _ = service.create_profile(photos, name="df01")
    yield service, profile.id
    service.close()


def evidence(inner: float, outer: float, sface: float, dlib: float, agreement: float = 1.0) -> dict[str, float]:
    return {
        "sface_similarity": sface,
        "dlib_similarity": dlib,
        "model_disagreement": consistency.model_disagreement(sface, dlib),
        "inner_similarity": inner,
        "outer_similarity": outer,
        "region_gap": inner - outer,
        "geometry_agreement": agreement,
        "quality_issues": 0.0,
        # Unknown agreement between the enrolment photos: the model assumes a typical person's (its card).
        "sface_below_enrolment": float("nan"),
        "outer_below_enrolment": float("nan"),
    }


def test_the_model_ships_with_its_card() -> None:
    model = consistency.load_swap_model()
    card = artifact.load(consistency.ARTIFACT).card
    assert set(model.features) <= set(consistency.FEATURES) and model.features
    assert set(card.parameters["neutral"]) >= set(model.features)
    val = card.metrics["validation"]
    assert val["genuine"]["probes"] > 0 and val["swap"]["probes"] > 0
    assert "LFW" in card.licence["data"] and card.training["seed"]


def test_genuine_photo_of_the_enrolled_person_passes(enrolled: tuple[Service, str]) -> None:
    service, pid = enrolled
    outcome = service.verify(pid, fixture_path("df01_03.jpg").read_bytes()).outcome
    assert outcome.verdict == "genuine", outcome.reasons
    finding = next(f for f in outcome.findings if f.signal == consistency.SIGNAL)
    assert finding.score < 0.5 and "swap_probability" in finding.features
    assert "consistent with the profile" in finding.message


@pytest.mark.parametrize("head", ["df02_01.jpg", "df10_01.jpg", "df03_01.jpg"])
@pytest.mark.parametrize("method", ["poisson", "alpha"])
@pytest.mark.parametrize("region", ["inner", "face"])
def test_a_swap_onto_the_enrolled_persons_face_is_never_genuine(
    enrolled: tuple[Service, str], head: str, method: str, region: str
) -> None:
    service, pid = enrolled
    # The enrolled person's inner face, or whole face to its outline (from a photo not used for enrolment), on
    # another person's head.
    src, dst = faceproof.analyze(fixture_path("df01_03.jpg")), faceproof.analyze(fixture_path(head))
    assert src.subject.landmarks is not None and dst.subject.landmarks is not None
    swapped = swap_faces(
        src.image.rgb, src.subject.landmarks, dst.image.rgb, dst.subject.landmarks, 7, method, region=region
    )
    outcome = service.verify(pid, jpeg(swapped)).outcome
    assert outcome.verdict != "genuine", outcome.reasons
    if outcome.match.same_person:  # it fooled the identity models: the swap model must have said why
        finding = next(f for f in outcome.findings if f.signal == consistency.SIGNAL)
        assert finding.score >= 0.5, finding.message
        assert "swap onto the enrolled person's face" in " ".join(outcome.reasons)


def test_the_reported_failure_is_decisive_and_limited_by_quality() -> None:
    # One person enrolled from two photos, their inner face pasted onto another man's portrait: SFace 0.35, dlib
    # 0.94 (a fused match of ~96 %), inner 0.53 / outer 0.22 - answered "genuine" by the hand-set rule.
    analysis = faceproof.analyze(fixture_path("df01_03.jpg"))
    match = load_calibration().decide(0.35, 0.94)
    assert match.same_person
    clean = consistency.identity_consistency(evidence(0.53, 0.22, 0.35, 0.94))
    assert clean.score >= 0.5 and clean.confidence == 0.9
    assert "0.53" in clean.message and "0.22" in clean.message and "0.35" in clean.message
    accused = decide_verdict(match, True, (), geometry_agreement({}, {}), assess(analysis, conditioned=[clean]))
    assert accused.verdict == "suspected_fake"
    assert "swap onto the enrolled person's face" in accused.reasons[0]

    limited = consistency.identity_consistency(evidence(0.53, 0.22, 0.35, 0.94), ("low_sharpness",))
    assert limited.score == clean.score and limited.confidence == consistency.LIMITED_CONFIDENCE
    doubted = decide_verdict(
        match, False, ("low_sharpness",), geometry_agreement({}, {}), assess(analysis, conditioned=[limited])
    )
    assert doubted.verdict == "inconclusive"


def test_agreeing_evidence_and_another_person_are_not_flagged() -> None:
    genuine = consistency.identity_consistency(evidence(0.80, 0.72, 0.75, 0.97))
    assert genuine.score < 0.5 and "consistent with the profile" in genuine.message
    other = consistency.identity_consistency(evidence(0.20, 0.15, 0.05, 0.85))
    assert other.score == 0.0 and "nothing to check" in other.message
    assert consistency.identity_consistency(None).confidence == 0.0


def test_the_outer_face_is_taken_only_where_the_swap_check_runs(enrolled: tuple[Service, str]) -> None:
    service, pid = enrolled
    enrolled_templates = [img.embeddings for img in service.store.list_images(pid)]
    outcomes = {}
    for name in ("df01_03.jpg", "df02_01.jpg"):  # the enrolled person, and someone else
        probe = prepare_probe(faceproof.analyze(fixture_path(name), with_dlib=False))
        assert consistency.INNER_KEY in probe.embeddings and consistency.OUTER_KEY not in probe.embeddings
        outcomes[name] = verify_probe(probe, service.get_profile(pid), enrolled_templates, 1e-3)
        applies = consistency.swap_check_applies(
            consistency.region_scores(probe.embeddings, enrolled_templates), outcomes[name].match.same_person
        )
        assert (consistency.OUTER_KEY in probe.embeddings) == applies
    assert outcomes["df01_03.jpg"].verdict == "genuine" and outcomes["df02_01.jpg"].verdict == "different_person"
    # Where it applies, the swap check refuses to run without the outer face rather than guess it.
    with pytest.raises(ValueError, match="outer-face template"):
        consistency.identity_consistency(evidence(0.80, float("nan"), 0.75, 0.97))


def whole_image_regions(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inner-only and outer-only images blended over the whole image (what region_images computes in a window)."""
    mask = consistency.inner_mask(rgb.shape[:2], landmarks)
    soft = cv2.GaussianBlur(mask, (0, 0), 3).astype(np.float32)[:, :, None] / 255.0
    ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) & ~mask
    skin = np.median(rgb[ring > 0], axis=0) if ring.any() else np.array([128, 128, 128])
    fill = np.empty_like(rgb)
    fill[:] = skin.astype(np.uint8)
    inner = (rgb * soft + np.full_like(rgb, 128) * (1 - soft)).astype(np.uint8)
    outer = (fill * soft + rgb * (1 - soft)).astype(np.uint8)
    return inner, outer


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.5], ids=["in the image", "half out", "all out"])
def test_region_images_in_a_window_equal_the_whole_image_blend(shift: float) -> None:
    result = faceproof.analyze(fixture_path("df01_01.jpg"))
    assert result.subject.landmarks is not None
    rgb, landmarks = result.image.rgb, result.subject.landmarks.copy()
    inner_x = landmarks[list(consistency.INNER_LANDMARKS), 0]
    landmarks[:, 0] -= shift * (inner_x.max() - inner_x.min()) + (inner_x.min() if shift else 0.0)
    for got, want in zip(consistency.region_images(rgb, landmarks), whole_image_regions(rgb, landmarks), strict=True):
        assert np.array_equal(got, want)
    # one region asked for alone is the same image
    inner, outer = whole_image_regions(rgb, landmarks)
    assert np.array_equal(consistency.region_images(rgb, landmarks, (consistency.INNER_KEY,))[0], inner)
    assert np.array_equal(consistency.region_images(rgb, landmarks, (consistency.OUTER_KEY,))[0], outer)
