"""The whole analysis through the real models, on real photos."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

import faceproof
from faceproof.align import ARCFACE_TEMPLATE, align_face
from faceproof.errors import FaceIndexOutOfRange, NoFace
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, cosine
from faceproof.models.sface import model_path as sface_path
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def analyses() -> dict[str, faceproof.Analysis]:
    names = ["df01_01.jpg", "df01_02.jpg", "df01_03.jpg", "df02_01.jpg", "df03_01.jpg", "astronaut_01.jpg"]
    return {n: faceproof.analyze(fixture_path(n)) for n in names}


def test_python_api_accepts_path_bytes_and_array() -> None:
    path = fixture_path("df02_01.jpg")
    a = faceproof.analyze(path)
    b = faceproof.analyze(path.read_bytes())
    c = faceproof.analyze(np.asarray(Image.open(path).convert("RGB")))
    assert a.description == b.description
    assert cosine(a.embedding(SFACE_KEY).vector, c.embedding(SFACE_KEY).vector) > 0.999


def test_detection_counts(analyses: dict[str, faceproof.Analysis]) -> None:
    assert len(analyses["df01_01.jpg"].faces) == 1
    group = faceproof.analyze(fixture_path("group_01.jpg"))
    assert len(group.faces) >= 2
    areas = [f.area for f in group.faces]
    assert areas == sorted(areas, reverse=True)  # largest first: face_index 0 is the main subject
    second = faceproof.analyze(fixture_path("group_01.jpg"), face_index=1)
    assert second.subject.face_index == 1
    assert cosine(second.embedding(SFACE_KEY).vector, group.embedding(SFACE_KEY).vector) < 0.5
    with pytest.raises(FaceIndexOutOfRange):
        faceproof.analyze(fixture_path("df01_01.jpg"), face_index=3)


def test_no_face() -> None:
    sky = np.full((300, 400, 3), (120, 170, 230), np.uint8)
    with pytest.raises(NoFace) as info:
        faceproof.analyze(sky)
    assert info.value.code == "no_face" and info.value.status_code == 422


def test_embeddings_normalised_and_tagged(analyses: dict[str, faceproof.Analysis]) -> None:
    emb = analyses["df01_01.jpg"].subject.embeddings
    assert set(emb) == {SFACE_KEY, DLIB_KEY}
    for e in emb.values():
        assert e.vector.shape == (128,) and e.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(e.vector)) - 1.0) < 1e-5


@pytest.mark.parametrize("key", [SFACE_KEY, DLIB_KEY])
def test_same_person_scores_above_different_person(analyses: dict[str, faceproof.Analysis], key: str) -> None:
    v = {n: a.embedding(key).vector for n, a in analyses.items()}
    same = [
        cosine(v["df01_01.jpg"], v["df01_02.jpg"]),
        cosine(v["df01_01.jpg"], v["df01_03.jpg"]),
        cosine(v["df01_02.jpg"], v["df01_03.jpg"]),
    ]
    different = [cosine(v["df01_01.jpg"], v[o]) for o in ("df02_01.jpg", "df03_01.jpg", "astronaut_01.jpg")]
    assert min(same) > max(different)


def test_sface_matches_opencv_reference(analyses: dict[str, faceproof.Analysis]) -> None:
    """Our alignment + onnxruntime SFace must equal cv2.FaceRecognizerSF (alignCrop + feature)."""
    a = analyses["df01_01.jpg"]
    f = a.subject.face
    rec = cv2.FaceRecognizerSF.create(str(sface_path()), "")
    bgr = cv2.cvtColor(a.image.rgb, cv2.COLOR_RGB2BGR)
    row = np.array([*f.box, *f.keypoints.reshape(-1), f.score], dtype=np.float32)
    crop = rec.alignCrop(bgr, row)
    ours = align_face(a.image.rgb, f.keypoints)
    assert np.abs(crop.astype(int) - ours[:, :, ::-1].astype(int)).max() <= 2
    ref = rec.feature(crop).reshape(-1)
    assert cosine(ref, a.embedding(SFACE_KEY).vector) > 0.9999


def test_alignment_puts_keypoints_on_template(analyses: dict[str, faceproof.Analysis]) -> None:
    from faceproof.align import similarity_transform

    kps = analyses["df02_01.jpg"].subject.face.keypoints
    m = similarity_transform(kps, ARCFACE_TEMPLATE)
    mapped = kps @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 6.0


def test_mesh_has_478_points_inside_face(analyses: dict[str, faceproof.Analysis]) -> None:
    s = analyses["df01_01.jpg"].subject
    assert s.landmarks is not None and s.landmarks.shape == (478, 3)
    x, _, w, _ = s.face.box
    inside = (s.landmarks[:, 0] > x - 0.3 * w) & (s.landmarks[:, 0] < x + 1.3 * w)
    assert inside.mean() > 0.99


def test_flipped_image_mirrors_pose() -> None:
    rgb = np.asarray(Image.open(fixture_path("df02_01.jpg")).convert("RGB"))
    a = faceproof.analyze(rgb)
    b = faceproof.analyze(np.ascontiguousarray(rgb[:, ::-1]))
    ya, yb = a.subject.geometry.yaw, b.subject.geometry.yaw
    assert abs(ya) > 3, "fixture must be visibly turned for this test to mean something"
    assert np.sign(ya) == -np.sign(yb)
    assert abs(ya + yb) < 0.35 * abs(ya) + 2.0


def test_exif_rotated_upload_equals_upright() -> None:
    path = fixture_path("df03_01.jpg")
    upright = faceproof.analyze(path)
    img = Image.open(path)
    exif = Image.Exif()
    exif[0x0112] = 8  # pixels stored turned; orientation 8 tells the viewer (and faceproof) to undo it
    buf = io.BytesIO()
    img.transpose(Image.Transpose.ROTATE_270).save(buf, format="JPEG", quality=95, exif=exif)
    rotated = faceproof.analyze(buf.getvalue())
    assert rotated.image.rgb.shape == upright.image.rgb.shape
    assert cosine(rotated.embedding(SFACE_KEY).vector, upright.embedding(SFACE_KEY).vector) > 0.97
    assert abs(rotated.subject.geometry.roll - upright.subject.geometry.roll) < 3.0
    assert rotated.subject.geometry.face_shape == upright.subject.geometry.face_shape


def test_description_generated_from_measurements(analyses: dict[str, faceproof.Analysis]) -> None:
    a = analyses["df01_01.jpg"]
    assert all(c in a.description.lower() for c in a.subject.attributes["face_shape"].classes)
    assert faceproof.analyze(fixture_path("df01_01.jpg")).description == a.description  # deterministic


def test_without_dlib_only_sface() -> None:
    a = faceproof.analyze(fixture_path("df02_01.jpg"), with_dlib=False)
    assert set(a.subject.embeddings) == {SFACE_KEY}
