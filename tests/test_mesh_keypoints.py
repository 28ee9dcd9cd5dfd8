"""The alignment keypoints read from the face mesh (real YuNet, real MediaPipe mesh, the shipped map, real fixture
photos; the mask is drawn here): on a clean face they agree with YuNet's, under a mask they stay near where YuNet
put them on the unmasked photo, and the analysis aligns with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceproof.analysis import analyze
from faceproof.detect import detect_faces
from faceproof.models import artifact, mesh_keypoints
from faceproof.models.facemesh import get_facemesh
from faceproof.training import fit_keypoints
from faceproof.training.augment import FaceHint, face_mask
from tests.conftest import FIXTURES, load_rgb

REAL = ("df01_01.jpg", "df01_02.jpg", "df02_01.jpg", "df02_02.jpg", "df03_01.jpg", "df10_01.jpg")


def _error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Largest keypoint distance in eye distances."""
    return float(np.linalg.norm(estimate - truth, axis=1).max() / fit_keypoints.eye_distance(truth))


@pytest.mark.parametrize("name", REAL)
def test_on_a_clean_face_the_mesh_puts_the_keypoints_where_yunet_does(name: str) -> None:
    rgb = load_rgb(name)
    face = detect_faces(rgb)[0]
    predicted = mesh_keypoints.predict(get_facemesh().landmarks(rgb, face.box))
    assert predicted.shape == (5, 2)
    assert _error(predicted, face.keypoints) < 0.2  # held-out photos: 90th percentile 0.08-0.15


def test_under_a_mask_the_refined_keypoints_stay_nearer_the_unmasked_ones() -> None:
    """Summed over the fixture faces, each with three masks: YuNet's keypoints on the masked photo drift from
    where it put them on the clean photo; the refined ones drift less."""
    drift_yunet, drift_refined = [], []
    for name in REAL:
        rgb = load_rgb(name)
        clean = detect_faces(rgb)[0]
        for seed in range(3):
            masked = face_mask(rgb, np.random.default_rng(seed), FaceHint(box=clean.box, keypoints=clean.keypoints))
            face = detect_faces(masked)[0]
            refined = mesh_keypoints.refined_keypoints(face.keypoints, get_facemesh().landmarks(masked, face.box))
            drift_yunet.append(_error(face.keypoints, clean.keypoints))
            drift_refined.append(_error(refined, clean.keypoints))
    assert np.mean(drift_refined) < 0.8 * np.mean(drift_yunet), (drift_yunet, drift_refined)


def test_the_analysis_aligns_with_the_refined_keypoints() -> None:
    rgb = load_rgb("df01_02.jpg")
    result = analyze(rgb)
    detected = result.faces[0]
    expected = mesh_keypoints.refined_keypoints(detected.keypoints, result.subject.landmarks)
    np.testing.assert_allclose(result.subject.face.keypoints, expected, atol=1e-4)
    assert result.subject.face.box == detected.box
    assert not np.allclose(result.subject.face.keypoints, detected.keypoints)


def test_without_a_mesh_the_detector_keypoints_are_kept() -> None:
    face = detect_faces(load_rgb("df01_01.jpg"))[0]
    assert mesh_keypoints.refine(face, None) is face


def test_smoke_fit_writes_a_map_whose_rows_sum_to_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A seconds-long fit on the fixture photos: the artefact loads, its weights sum to one per keypoint (so the
    map commutes with moving and scaling the face), and it reproduces YuNet on the photos it was fitted to."""
    metrics = fit_keypoints.run(FIXTURES, FIXTURES / "manifest.csv", tmp_path, paths=list(REAL))
    assert metrics["held_out"]["photos"] == len(REAL)
    card = json.loads((tmp_path / f"{mesh_keypoints.ARTIFACT}.card.json").read_text())
    assert card["metrics"] == json.loads(json.dumps(metrics))
    model = artifact.read(mesh_keypoints.ARTIFACT, tmp_path)
    rgb = load_rgb("df02_01.jpg")
    face = detect_faces(rgb)[0]
    mesh = get_facemesh().landmarks(rgb, face.box)[:, :2].astype(np.float32)
    out = model.run({"landmarks": mesh})["keypoints"]
    moved = model.run({"landmarks": mesh * 2.0 + 30.0})["keypoints"]
    np.testing.assert_allclose(moved, out * 2.0 + 30.0, atol=1e-2)
    assert _error(out, face.keypoints) < 0.1
