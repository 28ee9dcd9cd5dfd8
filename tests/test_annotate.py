"""The annotated picture: drawn where the face is, nowhere else, and written by ``analyze --annotate``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faceproof.analysis import Analysis, analyze
from faceproof.annotate import OTHER_BOX, annotate, annotation_path, pose_axes
from faceproof.cli.main import app
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def portrait() -> Analysis:
    return analyze(fixture_path("df01_01.jpg"), with_dlib=False)


def test_annotate_draws_on_the_face_only(portrait: Analysis) -> None:
    rgb = portrait.image.rgb
    before = rgb.copy()
    out = annotate(rgb, portrait)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(rgb, before), "the input must not be modified"

    changed = np.any(out != rgb, axis=2)
    landmarks = portrait.subject.landmarks
    assert landmarks is not None
    xs = np.clip(np.rint(landmarks[:, 0]).astype(int), 0, rgb.shape[1] - 1)
    ys = np.clip(np.rint(landmarks[:, 1]).astype(int), 0, rgb.shape[0] - 1)
    assert changed[ys, xs].mean() > 0.95, "every mesh point should be drawn"

    x, y, w, h = portrait.subject.face.box
    margin = 0.3
    near = np.zeros_like(changed)
    top, left = max(0, int(y - margin * h)), max(0, int(x - margin * w))
    near[top : int(y + (1 + margin) * h), left : int(x + (1 + margin) * w)] = True
    assert changed[near].mean() > 0.05
    assert not changed[~near].any(), "nothing is drawn far from the face"


def test_every_face_gets_a_box(fixtures_dir: Path) -> None:
    group = analyze(fixtures_dir / "group_01.jpg", with_dlib=False)
    assert len(group.faces) >= 2
    out = annotate(group.image.rgb, group)
    x, y, _, h = (round(float(v)) for v in group.faces[1].box)
    left_edge = out[y + h // 4 : y + 3 * h // 4, x]
    assert np.all(np.abs(left_edge.astype(int) - OTHER_BOX).sum(axis=1) < 60), "the other face's box is drawn"


def test_pose_axes_follow_the_geometry_conventions() -> None:
    frontal = pose_axes(0, 0, 0)
    np.testing.assert_allclose(frontal, [[1, 0, 0], [0, -1, 0], [0, 0, -1]], atol=1e-12)
    assert pose_axes(20, 0, 0)[2][0] > 0.3  # yaw > 0: the nose points to the image right
    assert pose_axes(0, 20, 0)[2][1] < -0.3  # pitch > 0: the nose points up (y grows downwards)
    assert pose_axes(0, 0, 20)[0][1] > 0.3  # roll > 0: clockwise, the head's x axis dips on the image right
    rotation = pose_axes(17, -9, 31)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)


def test_annotate_rejects_a_non_rgb_array(portrait: Analysis) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        annotate(portrait.image.rgb[:, :, 0], portrait)


def test_annotation_path_for_one_or_several_images(tmp_path: Path) -> None:
    assert annotation_path(tmp_path / "out.png", Path("a/df01_01.jpg"), several=False) == tmp_path / "out.png"
    assert annotation_path(tmp_path, Path("a/df01_01.jpg"), several=True) == tmp_path / "df01_01.annotated.png"


def test_cli_analyze_writes_annotated_pngs(tmp_path: Path) -> None:
    runner = CliRunner()
    single = tmp_path / "one.png"
    result = runner.invoke(app, ["analyze", str(fixture_path("df02_01.jpg")), "--annotate", str(single)])
    assert result.exit_code == 0, result.output
    picture = cv2.imread(str(single))
    assert picture is not None
    assert picture.shape == cv2.imread(str(fixture_path("df02_01.jpg"))).shape

    folder = tmp_path / "many"
    images = [str(fixture_path(n)) for n in ("df02_01.jpg", "df03_01.jpg")]
    result = runner.invoke(app, ["analyze", *images, "--json", "--annotate", str(folder), "--evidence", "none"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["df02_01.annotated.png", "df03_01.annotated.png"]
    assert all(cv2.imread(str(folder / name)) is not None for name in written)
