"""Pictures of the evidence (faceproof.authenticity.evidence, drawn by faceproof.annotate): on real models and real
fixture photos, a swap made here, through the engine, the API and the CLI."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faceproof.analysis import Analysis, analyze
from faceproof.annotate import PANEL_PX, TONE_INK, render_evidence
from faceproof.api.app import create_app
from faceproof.authenticity import crop_model, engine, evidence, recapture
from faceproof.authenticity.engine import assess
from faceproof.authenticity.evidence import EvidenceMap, evidence_maps
from faceproof.cli.main import app
from faceproof.config import Settings
from faceproof.decision import wording
from faceproof.intake import load_image
from faceproof.models import artifact
from faceproof.training.manipulate import replay, swap_faces
from tests.conftest import fixture_path

#: A FLUX face the shipped engine flags as generated (tests/fixtures/images/manifest.csv).
GENERATED = "diffusion_054.jpg"
#: A swapped face rendered at 40 % of the head's face height: a generator's 256 px face in a 640 px portrait.
GENERATOR_SHARE = 0.4


@pytest.fixture(scope="module")
def generated() -> Analysis:
    return analyze(fixture_path(GENERATED), with_dlib=False)


@pytest.fixture(scope="module")
def head() -> Analysis:
    return analyze(fixture_path("df03_01.jpg"), with_dlib=False)


def _hull(analysis: Analysis) -> np.ndarray:
    assert analysis.subject.landmarks is not None
    mask = np.zeros(analysis.image.rgb.shape[:2], np.uint8)
    hull = cv2.convexHull(analysis.subject.landmarks[:468, :2].astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask > 0


def _only(maps: list[EvidenceMap], kind: str) -> EvidenceMap:
    (found,) = [m for m in maps if m.kind == kind]
    return found


@pytest.mark.parametrize("method", ["alpha", "poisson"])
def test_the_boundary_map_of_a_swap_peaks_on_the_swapped_region(head: Analysis, method: str) -> None:
    # Another person's inner face, rendered at a generator's size, pasted onto df03_01's head here.
    src = analyze(fixture_path("df10_01.jpg"), with_dlib=False)
    assert src.subject.landmarks is not None and head.subject.landmarks is not None
    swapped = swap_faces(
        src.image.rgb, src.subject.landmarks, head.image.rgb, head.subject.landmarks, 1, method, GENERATOR_SHARE
    )
    pasted = np.abs(swapped.astype(int) - head.image.rgb.astype(int)).sum(axis=2) > 6  # what the paste changed
    result = analyze(swapped, with_dlib=False)
    report = assess(result)
    boundary = _only(evidence_maps(result, report, "all"), "boundary")
    assert boundary.explains in {"blending", "noise"} and boundary.heat is not None
    assert boundary.caption.title == wording.SIGNAL_NAMES[boundary.explains]
    face = _hull(result)
    inside, outside = boundary.heat[face & pasted].mean(), boundary.heat[face & ~pasted].mean()
    assert inside > 2 * outside, (inside, outside)  # measured: 10.8x (alpha), 7.0x (poisson)
    peak = np.unravel_index(np.argmax(boundary.heat), boundary.heat.shape)
    assert pasted[peak], "the map peaks inside the pasted face"
    assert not boundary.heat[~face].any(), "nothing is drawn outside the face"

    # The untouched photo, over the same region: the map is the paste's, not the face's anatomy (measured 0.7x).
    untouched = _only(evidence_maps(head, assess(head), "all"), "boundary")
    assert untouched.heat is not None
    face = _hull(head)
    assert untouched.heat[face & pasted].mean() < 2 * untouched.heat[face & ~pasted].mean()


def test_the_generated_detectors_map_follows_the_face_into_the_image(generated: Analysis) -> None:
    report = assess(generated)
    assert report.verdict == "suspected_fake" and report.suspected_kind == "generated"
    maps = evidence_maps(generated, report, "flagged")
    (cam,) = [m for m in maps if m.explains == "generated_net"]
    assert cam.kind == "activation" and cam.caption.tone == "warn"
    assert cam.heat is not None and cam.heat.shape == generated.image.rgb.shape[:2]
    assert cam.heat.min() >= 0.0 and cam.heat.max() == pytest.approx(1.0, abs=0.02)
    # The peak is where the strongest cell of the head's map lands in the image (within one cell).
    (finding,) = [f for f in report.findings if f.signal == "generated_net"]
    activation = finding.activation
    assert activation is not None
    row, col = np.unravel_index(np.argmax(activation.cam), activation.cam.shape)
    cell = activation.view_size / activation.cam.shape[0]
    centre = activation.view_to_image @ np.array([(col + 0.5) * cell, (row + 0.5) * cell, 1.0])
    peak = np.unravel_index(np.argmax(cam.heat), cam.heat.shape)
    assert np.hypot(peak[1] - centre[0], peak[0] - centre[1]) < cell * activation.view_to_image[0, 0]

    # The same photo on a canvas four times its area: the map stays on the photo, about the face (measured 92.9 %
    # with the two-view head, 98.7 % with the one-view head: its weights on the grey border's channels differ).
    h, w = generated.image.rgb.shape[:2]
    canvas = np.full((2 * h, 2 * w, 3), 128, np.uint8)
    top, left = 150, 300
    canvas[top : top + h, left : left + w] = generated.image.rgb
    placed = analyze(canvas, with_dlib=False)
    (moved,) = [m for m in evidence_maps(placed, assess(placed), "all") if m.explains == "generated_net"]
    assert moved.heat is not None
    assert moved.heat[top : top + h, left : left + w].sum() > 0.9 * moved.heat.sum()


def test_the_activation_map_costs_no_second_backbone_pass(generated: Analysis, monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = crop_model.backbone_of(artifact.load("generated_detector"))
    calls: list[int] = []
    run = backbone.run

    def counted(*args: object, **kwargs: object) -> dict[str, np.ndarray]:
        calls.append(1)
        return run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backbone, "run", counted)
    report = engine.assess(generated)
    assert calls == [1], "both crop detectors read the pass the analysis made; the generated one adds its tight view"
    maps = evidence_maps(generated, report, "all")
    assert {m.explains for m in maps} >= {"generated_net", "replay_net"}
    assert calls == [1], "the pictures read the findings' maps"


def test_the_spectrum_picture_is_what_the_replay_feature_read() -> None:
    rgb = replay(load_image(fixture_path("df01_01.jpg")).rgb, "screen", seed=1)
    result = analyze(rgb, with_dlib=False)
    box = result.subject.face.box
    picture, (x, y, w, h) = recapture.spectrum(rgb, box)
    features = recapture.recapture_features(rgb, box)
    assert np.mean(np.sort(picture.ravel())[-10:]) == pytest.approx(features["recap_peak"], abs=1e-4)
    assert min(x, y) >= 0 and x + w <= rgb.shape[1] and y + h <= rgb.shape[0]
    report = assess(result)
    spectrum = _only(evidence_maps(result, report, "all"), "spectrum")
    assert spectrum.explains == "recapture" and spectrum.region == (x, y, w, h)
    assert spectrum.spectrum is not None and spectrum.spectrum.max() > 2.5 / evidence.SPECTRUM_FULL


def test_the_panel_shows_the_photo_the_map_and_the_findings_words(generated: Analysis) -> None:
    report = assess(generated)
    (cam,) = [m for m in evidence_maps(generated, report, "flagged") if m.explains == "generated_net"]
    panel = render_evidence(cam, generated)
    assert panel.shape[1] == PANEL_PX and panel.dtype == np.uint8
    (finding,) = [f for f in report.findings if f.signal == "generated_net"]
    assert cam.caption == wording.evidence_caption(finding, "activation")
    assert "points to an AI-generated face" in cam.caption.text
    # The caption's title and side bar are drawn in the finding's colour (the page's warn colour).
    ink = np.array(TONE_INK["warn"])
    assert (np.abs(panel.astype(int) - ink).sum(axis=2) < 10).sum() > 200


def test_nothing_is_pictured_for_a_real_photo_unless_asked() -> None:
    result = analyze(fixture_path("df02_01.jpg"), with_dlib=False)
    report = assess(result)
    assert report.verdict == "likely_real"
    assert evidence_maps(result, report, "flagged") == []
    kinds = {m.kind for m in evidence_maps(result, report, "all")}
    assert kinds == {"activation", "boundary", "spectrum", "mesh"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("evidence")))) as c:
        yield c


def _decoded(document: dict) -> np.ndarray:
    png = np.frombuffer(base64.b64decode(document["png_base64"]), np.uint8)
    picture = cv2.imdecode(png, cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (document["height"], document["width"])
    return picture


def test_the_api_returns_the_pictures_asked_for(client: TestClient) -> None:
    photo = {"file": (GENERATED, fixture_path(GENERATED).read_bytes(), "image/jpeg")}
    plain = client.post("/authenticity", files=photo).json()
    assert plain["verdict"] == "suspected_fake" and plain["evidence"] is None
    body = client.post("/authenticity", files=photo, params={"evidence": "flagged"}).json()
    (picture,) = body["evidence"]
    assert picture["explains"] == "generated_net" and picture["kind"] == "activation"
    assert picture["headline"]["tone"] == "warn" and picture["width"] == PANEL_PX
    _decoded(picture)

    # Verification: every finding that could see something, and the mesh its geometry check read.
    files = [("files", (n, fixture_path(n).read_bytes(), "image/jpeg")) for n in ("df01_01.jpg", "df01_02.jpg")]
    pid = client.post("/profiles", files=files).json()["profile"]["id"]
    probe = {"file": ("df01_03.jpg", fixture_path("df01_03.jpg").read_bytes(), "image/jpeg")}
    verdict = client.post(f"/profiles/{pid}/verify", files=probe, params={"evidence": "all"}).json()
    assert verdict["verdict"] == "genuine"
    explained = {p["explains"] for p in verdict["evidence"]}
    assert {"geometry", "generated_net", "replay_net", "recapture"} <= explained
    assert all(_decoded(p).shape[1] == PANEL_PX for p in verdict["evidence"])
    refused = client.post(f"/profiles/{pid}/verify", files=probe, params={"evidence": "some"})
    assert refused.status_code == 422


def test_analyze_annotate_writes_the_evidence_beside_the_annotation(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "face.png"
    result = runner.invoke(app, ["analyze", str(fixture_path(GENERATED)), "--annotate", str(out)])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(tmp_path / "face.evidence.png"))
    assert sheet is not None and sheet.shape[1] == PANEL_PX  # one finding flagged: one panel
    assert "evidence pictures written to" in result.output

    real = tmp_path / "real.png"
    result = runner.invoke(app, ["analyze", str(fixture_path("df02_01.jpg")), "--annotate", str(real)])
    assert result.exit_code == 0, result.output
    assert real.exists() and not (tmp_path / "real.evidence.png").exists(), "nothing flagged, nothing pictured"
    every = ["analyze", str(fixture_path("df02_01.jpg")), "--annotate", str(real), "--evidence", "all"]
    assert runner.invoke(app, every).exit_code == 0
    assert cv2.imread(str(tmp_path / "real.evidence.png")).shape[1] > 3 * PANEL_PX
