"""Authenticity through the API: single images, enrolment gating, and profile-conditioned verification."""

from __future__ import annotations

import io
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

import faceproof
from faceproof.api.app import create_app
from faceproof.authenticity import consistency
from faceproof.authenticity.engine import VOUCH_MIN_SHARPNESS, assess, feature_values, measure_signals, vouch_blockers
from faceproof.config import Settings
from faceproof.decision.calibration import load_calibration
from faceproof.decision.verify import decide_verdict, geometry_agreement
from faceproof.training.augment import FaceHint, sensor_noise
from faceproof.training.manipulate import swap_faces
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("auth")))) as c:
        yield c


def upload(data: bytes, name: str = "x.jpg", field: str = "file") -> dict:
    return {field: (name, data, "application/octet-stream")}


def png_with_generator_chunk(name: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "portrait photo of a man, Steps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1")
    buf = io.BytesIO()
    Image.open(fixture_path(name)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def test_real_photo_is_not_flagged(client: TestClient) -> None:
    r = client.post("/authenticity", files=upload(fixture_path("df02_02.jpg").read_bytes()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "likely_real"
    assert 0.0 <= body["fake_probability"] < body["threshold"]
    signals = {f["signal"] for f in body["findings"]}
    assert {"frequency", "noise", "recapture", "provenance"} <= signals
    provenance = next(f for f in body["findings"] if f["signal"] == "provenance")
    assert provenance["confidence"] == 0 and "not evidence" in provenance["message"]
    assert "generated" in body["kind_probabilities"]
    assert set(body["kind_probabilities"]) <= {"generated", "swapped", "recaptured"}
    assert max(body["kind_probabilities"].values()) == pytest.approx(body["fake_probability"], abs=1e-3)
    assert body["contributions"] and set(body["contributions"]) <= signals


def test_recompressed_real_photo_is_not_flagged(client: TestClient) -> None:
    img = Image.open(fixture_path("df02_02.jpg"))
    small = img.resize((img.width * 2 // 3, img.height * 2 // 3))
    body = client.post("/authenticity", files=upload(jpeg(small, 75))).json()
    assert body["verdict"] != "suspected_fake"


def test_generator_metadata_is_decisive(client: TestClient) -> None:
    body = client.post("/authenticity", files=upload(png_with_generator_chunk("df02_02.jpg"), "x.png")).json()
    assert body["verdict"] == "suspected_fake" and body["suspected_kind"] == "generated"
    assert any(r.startswith("provenance") for r in body["reasons"])


def test_low_quality_is_inconclusive_not_real(client: TestClient) -> None:
    img = Image.open(fixture_path("df02_02.jpg"))
    tiny = img.resize((img.width // 14, img.height // 14)).resize(img.size)
    body = client.post("/authenticity", files=upload(jpeg(tiny, 60))).json()
    assert body["quality"]["usable_for_identity"] is False
    assert body["verdict"] in {"inconclusive", "suspected_fake"}


def test_enrolment_refuses_a_declared_ai_image(client: TestClient) -> None:
    r = client.post("/profiles", files=[("files", ("a.png", png_with_generator_chunk("df02_01.jpg"), "image/png"))])
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["details"]["reason"] == "suspected_fake" and err["details"]["suspected_kind"] == "generated"


def test_profile_keeps_reality_baseline_and_catches_a_swap(client: TestClient) -> None:
    files = [("files", (n, fixture_path(n).read_bytes(), "image/jpeg")) for n in ("df01_01.jpg", "df01_02.jpg")]
    created = client.post("/profiles", files=files)
    assert created.status_code == 201, created.text
    profile = created.json()["profile"]
    baseline = profile["summary"]["reality_baseline"]
    assert baseline and all(v["n"] == 2 for v in baseline.values())
    pid = profile["id"]

    genuine = client.post(f"/profiles/{pid}/verify", files=upload(fixture_path("df01_03.jpg").read_bytes())).json()
    assert genuine["verdict"] == "genuine"
    consistency = next(f for f in genuine["findings"] if f["signal"] == "consistency")
    assert consistency["score"] < 0.5

    # The enrolled person's face (df01_03) pasted onto someone else's head (df10_01).
    src, dst = faceproof.analyze(fixture_path("df01_03.jpg")), faceproof.analyze(fixture_path("df10_01.jpg"))
    swapped = swap_faces(src.image.rgb, src.subject.landmarks, dst.image.rgb, dst.subject.landmarks, seed=3)
    verdict = client.post(f"/profiles/{pid}/verify", files=upload(jpeg(Image.fromarray(swapped)))).json()
    assert verdict["verdict"] != "genuine", verdict["reasons"]


def swap_evidence(inner: float, outer: float, sface: float, dlib: float) -> dict[str, float]:
    """What consistency.swap_evidence measures, for a probe with these similarities to the profile."""
    return {
        "sface_similarity": sface,
        "dlib_similarity": dlib,
        "model_disagreement": consistency.model_disagreement(sface, dlib),
        "inner_similarity": inner,
        "outer_similarity": outer,
        "region_gap": inner - outer,
        "geometry_agreement": 1.0,
        "quality_issues": 0.0,
    }


def test_a_swap_alarm_on_a_damaged_photo_makes_a_match_inconclusive() -> None:
    # The swap check compares the face's surroundings with the enrolment photos; on a blurred, cropped or
    # tiny face they differ for reasons of their own (measured: noisy or cropped genuine probes crossed the gap
    # threshold). So with quality problems the finding is reported but not decisive, and a matching identity is
    # then neither vouched for (`genuine`) nor accused (`suspected_fake`): `inconclusive`, with the reason.
    analysis = faceproof.analyze(fixture_path("df01_03.jpg"))
    match = load_calibration().decide(0.8, None)  # a clear SFace match
    assert match.same_person
    swapish = swap_evidence(inner=0.79, outer=0.15, sface=0.40, dlib=0.95)  # inner face only, dlib convinced

    clean = consistency.identity_consistency(swapish)
    limited = consistency.identity_consistency(swapish, ("low_sharpness",))
    assert clean.score == limited.score > 0.5
    assert clean.confidence == 0.9 and limited.confidence == consistency.LIMITED_CONFIDENCE
    assert "photo quality limits this check: low_sharpness" in limited.message

    accused = decide_verdict(match, True, (), geometry_agreement({}, {}), assess(analysis, conditioned=[clean]))
    assert accused.verdict == "suspected_fake"
    report = assess(analysis, conditioned=[limited])
    assert report.verdict != "suspected_fake"
    doubted = decide_verdict(match, False, ("low_sharpness",), geometry_agreement({}, {}), report)
    assert doubted.verdict == "inconclusive"
    assert doubted.reasons[0].startswith("identity matches, but a face swap cannot be ruled out on this photo")
    agreeing = consistency.identity_consistency(swap_evidence(0.79, 0.70, 0.75, 0.97), ("low_sharpness",))
    vouched = decide_verdict(
        match, False, ("low_sharpness",), geometry_agreement({}, {}), assess(analysis, conditioned=[agreeing])
    )
    assert vouched.verdict == "genuine"


def test_sensor_noise_limits_the_swap_check() -> None:
    # Noise raises no quality reason, so the swap check asks the noise signal: a clean fixture is not limited, the
    # same photo with heavy sensor noise is.
    clean = faceproof.analyze(fixture_path("df01_03.jpg"))
    features = feature_values(measure_signals(clean))
    assert features["noise_level"] < consistency.NOISY_LEVEL
    assert consistency.check_limits(clean.subject.quality.reasons, features) == clean.subject.quality.reasons
    face = clean.subject.face
    noisy_rgb = sensor_noise(clean.image.rgb, np.random.default_rng(0), FaceHint(face.box, face.keypoints), sigma=20)
    noisy = faceproof.analyze(noisy_rgb)
    noisy_features = feature_values(measure_signals(noisy))
    assert noisy_features["noise_level"] > consistency.NOISY_LEVEL
    assert "sensor_noise" in consistency.check_limits(noisy.subject.quality.reasons, noisy_features)


def test_blur_withholds_the_word_but_a_cut_face_does_not() -> None:
    """Blur hides what the detectors look for, so a blurred real photo is not vouched for; a sharp face cut by the
    image border limits identity only (the crop detectors were validated on such crops)."""
    rgb = faceproof.analyze(fixture_path("df02_02.jpg")).image.rgb
    _, y, w, h = faceproof.analyze(fixture_path("df02_02.jpg")).subject.face.box
    blurred = cv2.GaussianBlur(rgb, (0, 0), 0.04 * w)
    report = assess(faceproof.analyze(blurred))
    assert report.verdict == "inconclusive" and "low_sharpness" in report.reasons[-1]
    cut = np.ascontiguousarray(rgb[int(y + 0.25 * h) :, :])  # the forehead cut off at the eyebrows
    result = faceproof.analyze(cut)
    assert "face_cut_by_border" in result.subject.quality.reasons
    assert assess(result).verdict == "likely_real"


def test_a_cut_face_is_judged_at_its_whole_size() -> None:
    """The cut shortens the face box, and judged at that box the same pixels read blurred and the face too small;
    the vouch gate judges a cut face at its whole estimated size (docs/authenticity.md: a third of the real photos
    "inconclusive" under a crop through the face). A soft photo cut from below (identity's sharpness 24.6 < 30,
    the uncut soft face 44) is vouched for; the same photo blurred is still not. A face cut from the side to a box
    62 px wide (identity: "too small") with 43 px between the eyes is vouched for."""
    analysis = faceproof.analyze(fixture_path("df10_01.jpg"))
    rgb, (_, y, w, h) = analysis.image.rgb, analysis.subject.face.box
    for sigma, vouched in ((0.009, True), (0.04, False)):
        cut = np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), sigma * w)[: int(y + 0.7 * h)])  # the chin cut off
        result = faceproof.analyze(cut)
        assert "face_cut_by_border" in result.subject.quality.reasons
        assert result.subject.quality.sharpness < VOUCH_MIN_SHARPNESS  # identity's reading: blurred either way
        report = assess(result)
        if vouched:
            assert vouch_blockers(result) == [] and report.verdict == "likely_real", report.reasons
        else:
            assert report.verdict == "inconclusive" and "low_sharpness" in report.reasons[-1]

    astronaut = faceproof.analyze(fixture_path("astronaut_01.jpg"))
    x, _, w, _ = astronaut.subject.face.box
    side_cut = faceproof.analyze(np.ascontiguousarray(astronaut.image.rgb[:, int(x + 0.35 * w) :]))
    q = side_cut.subject.quality
    assert "face_too_small" in q.reasons and "face_cut_by_border" in q.reasons and q.ipd_px >= 30
    assert "face_too_small" not in vouch_blockers(side_cut)
    assert assess(side_cut).verdict == "likely_real"
