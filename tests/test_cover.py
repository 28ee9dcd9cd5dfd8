"""The lower-face cover reading (measure/cover.py, artefact lower_face_cover) on real fixture photos through the real
analysis: uncovered faces read uncovered and stay usable; the same faces under a drawn mask read covered, the quality
gate makes them unusable for enrolment (which refuses them), and a masked probe is decided at the threshold of its own
condition: someone else is a different person, the enrolled person is genuine."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import faceproof
from faceproof.decision import wording
from faceproof.decision.calibration import load_calibration
from faceproof.detect import detect_faces
from faceproof.errors import EnrolmentRefused
from faceproof.measure import cover
from faceproof.models import artifact
from faceproof.service import Service, stored_face_state
from faceproof.training.augment import FaceHint, face_mask
from tests.conftest import fixture_path, load_rgb

UNCOVERED = ("df01_01.jpg", "df02_01.jpg", "df10_01.jpg", "astronaut_01.jpg", "group_01.jpg")


def masked(name: str, patterned: bool, colour: tuple[int, int, int]) -> np.ndarray:
    rgb = load_rgb(name)
    face = detect_faces(rgb)[0]
    hint = FaceHint(box=face.box, keypoints=face.keypoints.astype(np.float64))
    return face_mask(rgb, np.random.default_rng(7), hint, colour=colour, patterned=patterned)


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_the_head_ships_with_its_validation_on_real_masks() -> None:
    model = artifact.load(cover.ARTIFACT)
    metrics = model.card.metrics
    assert metrics["real_masks_never_seen"]["auc"] > 0.95 and metrics["real_masks_held_out"]["found"] > 0.9
    assert all(r["uncovered_called_covered"] <= 0.01 for r in metrics["per_source"].values())
    assert model.parameters["threshold_share"] == pytest.approx(0.005)


@pytest.mark.parametrize("name", UNCOVERED)
def test_uncovered_faces_read_uncovered(name: str) -> None:
    q = faceproof.analyze(fixture_path(name)).subject.quality
    assert q.lower_face_cover is not None and q.lower_face_cover < 0.5
    assert "lower_face_covered" not in q.reasons


@pytest.mark.parametrize(
    ("name", "patterned", "colour"),
    [
        ("df01_01.jpg", False, (120, 170, 220)),
        ("df02_01.jpg", True, (40, 40, 45)),
        ("df10_01.jpg", False, (235, 235, 235)),
    ],
)
def test_a_drawn_mask_reads_covered_and_unusable(name: str, patterned: bool, colour: tuple[int, int, int]) -> None:
    q = faceproof.analyze(masked(name, patterned, colour)).subject.quality
    assert q.lower_face_cover is not None and q.lower_face_cover >= 0.5
    assert "lower_face_covered" in q.reasons and not q.usable_for_identity
    # the calibration has a condition for it: still decided as a probe, and the words say both
    assert q.usable_for_verification == (q.reasons == ("lower_face_covered",))
    if q.usable_for_verification:
        headline = wording.quality(q)
        assert headline.tone == "warn" and "not usable for enrolment: lower face covered" in headline.text
        assert "threshold for a covered lower face" in headline.text


def test_enrolment_refuses_a_masked_photo(df01_profile: tuple[Service, str]) -> None:
    service, _ = df01_profile
    with pytest.raises(EnrolmentRefused) as refused:
        service.create_profile([jpeg(masked("df02_01.jpg", False, (120, 170, 220)))], name="masked")
    details = refused.value.details
    assert details["reason"] == "unusable_image" and "lower_face_covered" in details["quality_reasons"]


def test_a_masked_probe_of_someone_else_is_another_person_at_its_threshold(df01_profile: tuple[Service, str]) -> None:
    service, pid = df01_profile
    outcome = service.verify(pid, jpeg(masked("df10_01.jpg", False, (120, 170, 220)))).outcome
    assert not outcome.match.same_person and outcome.match.condition == "open/covered"
    assert outcome.match.threshold == pytest.approx(
        load_calibration().decide(outcome.match.sface, outcome.match.dlib, 1e-3, "open/covered").threshold
    )
    assert outcome.verdict == "different_person", outcome.reasons
    assert any("threshold for a covered lower face" in r for r in outcome.reasons)


def test_a_masked_probe_of_the_enrolled_person_is_genuine(df01_profile: tuple[Service, str]) -> None:
    service, pid = df01_profile
    outcome = service.verify(pid, jpeg(masked("df01_02.jpg", True, (40, 40, 45)))).outcome
    assert outcome.match.same_person and outcome.match.condition == "open/covered"
    assert outcome.verdict == "genuine", outcome.reasons


def test_a_profile_seeded_from_a_masked_photo_is_decided_as_covered(df01_profile: tuple[Service, str]) -> None:
    # The classic /create-profile takes any photo: the profile's side of the pair is then covered, not open.
    service, _ = df01_profile
    profile, seed = service.create_profile_from_image(jpeg(masked("df01_01.jpg", False, (120, 170, 220))))
    assert seed.subject.quality.face_state == "covered"
    both = service.verify(profile.id, jpeg(masked("df01_02.jpg", True, (40, 40, 45)))).outcome.match
    assert both.condition == "covered/covered"
    assert both.threshold == pytest.approx(
        load_calibration().decide(both.sface, both.dlib, 1e-3, both.condition).threshold
    )
    assert (
        service.verify(profile.id, fixture_path("df01_03.jpg").read_bytes()).outcome.match.condition == "open/covered"
    )
    # and a good photo added to it is checked against the seed at that condition's lenient threshold
    updated, _, _ = service.add_image(profile.id, fixture_path("df01_02.jpg").read_bytes())
    assert updated.image_count == 2
    with pytest.raises(EnrolmentRefused) as refused:
        service.add_image(profile.id, fixture_path("df10_01.jpg").read_bytes())
    assert refused.value.details["reason"] == "identity_mismatch"


def test_identify_holds_each_candidate_to_its_profiles_condition(df01_profile: tuple[Service, str]) -> None:
    # 1:N: a masked probe against an open profile is decided open/covered, against a profile seeded from a masked
    # photo covered/covered, each at the SFace threshold of its own condition (not the open gallery's)
    service, pid = df01_profile
    seeded, _ = service.create_profile_from_image(jpeg(masked("df01_01.jpg", False, (120, 170, 220))))
    found = service.identify(jpeg(masked("df01_02.jpg", True, (40, 40, 45))), top_k=10)
    by_profile = {c.profile.id: c for c in found.candidates}
    calibration = load_calibration()
    for profile_id, condition in ((pid, "open/covered"), (seeded.id, "covered/covered")):
        candidate = by_profile[profile_id]
        assert candidate.condition == condition
        assert candidate.threshold == pytest.approx(calibration.threshold(1e-3, "sface", condition))
        assert candidate.above_threshold == (candidate.similarity >= candidate.threshold)
    assert by_profile[pid].above_threshold and by_profile[seeded.id].above_threshold
    assert found.threshold == pytest.approx(calibration.threshold(1e-3, "sface", "open/covered"))
    assert calibration.threshold(1e-3, "sface", "covered/covered") > found.threshold  # the old answer was lenient


def test_a_stored_photo_reads_its_state_from_its_readings() -> None:
    assert stored_face_state({}) == "open"  # stored before the cover and noise readings existed
    assert stored_face_state({"quality": {"lower_face_cover": 0.9, "noise_level": 12.0}}) == "covered"
    assert stored_face_state({"quality": {"lower_face_cover": 0.1, "noise_level": 12.0}}) == "noisy"
    assert stored_face_state({"quality": {"lower_face_cover": None, "noise_level": 2.0}}) == "open"


def test_a_smoke_fit_separates_covered_faces_and_keeps_its_false_share() -> None:
    """fit_cover's fit, threshold and validation on small made-up features (seconds; the real fit reads the crop
    cache): a cover shifts some features, real masks shift them the same way."""
    from faceproof.training import fit_cover

    rng = np.random.default_rng(0)
    feats = {}
    for k, name in enumerate((*fit_cover.SOURCES, fit_cover.REAL_MASKS)):
        n = 200
        uncovered = rng.normal(size=(n, 16)) + k * 0.1
        shift = np.r_[np.full(4, 3.0), np.zeros(12)]
        real = np.arange(n) % 3 == 0 if name == fit_cover.REAL_MASKS else np.zeros(n, bool)
        feats[name] = fit_cover.SourceFeatures(
            uncovered=np.where(real[:, None], uncovered + shift, uncovered),
            drawn=uncovered + shift,
            real_mask=real,
            held=np.arange(n) % 5 == 0,
        )
    model = fit_cover.fit(feats)
    thr = fit_cover.threshold(model, feats)
    report = fit_cover.validate(model, feats, thr, seed=0)
    assert all(r["uncovered_called_covered"] <= 0.03 for r in report["per_source"].values())
    assert report["real_masks_held_out"]["auc"] > 0.95 and report["real_masks_never_seen"]["auc"] > 0.95
