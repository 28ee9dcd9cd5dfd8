"""The detection retry ladder, through the real YuNet: it finds a face the first pass misses, puts its box where
the face is, runs only when the first pass found nothing, and still finds no face where there is none. And the order
faces are numbered in (largest first, a face cut by the border at its whole size)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.datasets import load_sample_image

from faceproof.api.schemas import FaceOut
from faceproof.detect import FIRST_PASS, detect_faces
from faceproof.detect_ladder import RUNGS, Rung, Views
from faceproof.models.yunet import SCORE_THRESHOLD, get_yunet
from faceproof.training.augment import gaussian_blur, sensor_noise
from tests.conftest import load_rgb

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def close_up_under_noise(seed: int) -> tuple[np.ndarray, Box]:
    """The astronaut's face cropped to its box less the forehead (so it touches the frame), shrunk to 200 px,
    blurred and noisy as a dim phone photo; and where the clean face box lies in it."""
    rgb = load_rgb("astronaut_01.jpg")
    x, y, w, h = detect_faces(rgb)[0].box
    x0, y0 = max(0, int(x)), max(0, int(y + 0.15 * h))
    crop = rgb[y0 : int(y + h), x0 : int(x + w)]
    f = 200 / max(crop.shape[:2])
    small = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    damaged = sensor_noise(gaussian_blur(small, rng, sigma_rel=0.03), rng, sigma=25.0)
    return damaged, ((x - x0) * f, (y - y0) * f, w * f, h * f)


@pytest.mark.parametrize("seed", [0, 1])
def test_ladder_finds_the_face_the_first_pass_misses(seed: int) -> None:
    img, clean_box = close_up_under_noise(seed)
    assert get_yunet().detect(img) == [], "the first pass must miss this face, or the test proves nothing"
    faces = detect_faces(img)
    assert len(faces) == 1
    assert faces[0].rung in {r.name for r in RUNGS}
    assert iou(faces[0].box, clean_box) > 0.5
    # The keypoints come back in the same pixels: the eyes lie in the upper half of the box, left of right.
    kp, (bx, by, bw, bh) = faces[0].keypoints, faces[0].box
    assert kp[0, 0] < kp[1, 0] and by <= kp[0, 1] <= by + bh / 2 and bx <= kp[2, 0] <= bx + bw


@pytest.mark.parametrize("name", ["astronaut_01.jpg", "df01_01.jpg"])
@pytest.mark.parametrize("rung", RUNGS, ids=lambda r: r.name)
def test_every_rung_maps_its_box_back_to_the_face(name: str, rung: Rung) -> None:
    """Each view (bordered, scaled down or up, smoothed; df01 is 1024 px, brought down first) puts the face
    where the first pass does, or finds nothing; most rungs must find it on a clean photo. Only faces at the
    usual threshold: below it a view may also report the astronaut's flag, which the ladder takes only when no
    rung finds anything better."""
    rgb = load_rgb(name)
    face = detect_faces(rgb)[0]
    found = [f for f in Views(rgb).detect(rung) if f.score >= SCORE_THRESHOLD]
    if rung.view(rgb) is not None and rung.side >= 160:
        assert found, f"{rung.name} should find a clean face"
    for f in found:
        assert iou(f.box, face.box) > 0.7
        assert np.abs(f.keypoints - face.keypoints).max() < 0.25 * face.box[2]


def test_a_face_the_first_pass_finds_never_enters_the_ladder() -> None:
    faces = detect_faces(load_rgb("group_01.jpg"))
    assert len(faces) == 2 and {f.rung for f in faces} == {FIRST_PASS}
    assert FaceOut.of(0, faces[0]).rung == FIRST_PASS


@pytest.mark.parametrize(
    "image",
    [
        load_sample_image("china.jpg"),
        load_sample_image("flower.jpg"),
        np.full((300, 400, 3), 128, np.uint8),
        np.full((64, 2000, 3), 90, np.uint8),  # 20 px high at 640: unpadded, YuNet reports garbage "faces"
    ],
    ids=["temple", "flower", "grey", "thin strip"],
)
def test_no_face_where_there_is_none(image: np.ndarray) -> None:
    assert detect_faces(np.ascontiguousarray(image)) == []


def test_a_face_cut_by_the_border_ranks_at_its_whole_size() -> None:
    from faceproof.detect import order_faces
    from faceproof.models.yunet import RawDetection

    kp = np.zeros((5, 2))
    # a subject cut through the face at the bottom of a 1000 x 460 photo (box 320 x 300, shortened by the cut)
    # and a whole bystander face of 330 x 320: the bystander's box is larger, the subject's face is not
    subject = RawDetection(box=(100.0, 180.0, 320.0, 300.0), keypoints=kp, score=0.93)
    bystander = RawDetection(box=(600.0, 100.0, 330.0, 320.0), keypoints=kp, score=0.8)
    assert [f.box for f in order_faces([bystander, subject], (1000, 460))] == [subject.box, bystander.box]
    # uncut, the larger box comes first as before
    inside = RawDetection(box=(100.0, 100.0, 320.0, 300.0), keypoints=kp, score=0.93)
    assert [f.box for f in order_faces([inside, bystander], (1000, 460))] == [bystander.box, inside.box]
