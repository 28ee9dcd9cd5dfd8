"""Self-blended images and landmark face swaps: deterministic, face-local, and the right shape."""

from __future__ import annotations

import numpy as np
import pytest

from faceproof.training.manipulate import hull_points, self_blend, swap_faces
from tests.conftest import largest_box, load_rgb


@pytest.fixture(scope="module")
def faces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from faceproof.models.facemesh import get_facemesh

    out = {}
    for name in ("df01_01.jpg", "df02_01.jpg"):
        rgb = load_rgb(name)
        lm = get_facemesh().landmarks(rgb, largest_box(rgb))
        assert lm is not None
        out[name] = (rgb, lm)
    return out


def test_self_blend_is_deterministic_and_face_local(faces: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    rgb, lm = faces["df01_01.jpg"]
    a, b, c = self_blend(rgb, lm, 3), self_blend(rgb, lm, 3), self_blend(rgb, lm, 4)
    assert np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.rgb, c.rgb)
    assert a.rgb.shape == rgb.shape and a.rgb.dtype == np.uint8
    assert a.mask.max() == pytest.approx(1.0) and a.hull in {"full", "no_forehead", "inner"}
    nose = np.round(lm[1, :2]).astype(int)
    assert a.mask[nose[1], nose[0]] > 0.9 and a.mask[0, 0] == 0.0 and a.mask[-1, -1] == 0.0
    diff = np.abs(a.rgb.astype(int) - rgb).mean(axis=2)
    # Either the pasted face or its surroundings were altered: the two sides of the mask differ.
    assert abs(diff[a.mask > 0.95].mean() - diff[a.mask == 0].mean()) > 1.0


def test_hull_variants_nest(faces: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    _, lm = faces["df01_01.jpg"]
    areas = {v: float(np.ptp(hull_points(lm, v)[:, 1])) for v in ("full", "no_forehead", "inner")}
    assert areas["full"] > areas["no_forehead"] > areas["inner"]


def test_swap_faces_is_deterministic_and_changes_the_face(faces: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    (src, src_lm), (dst, dst_lm) = faces["df02_01.jpg"], faces["df01_01.jpg"]
    a = swap_faces(src, src_lm, dst, dst_lm, seed=1)
    assert np.array_equal(a, swap_faces(src, src_lm, dst, dst_lm, seed=1))
    assert a.shape == dst.shape
    x0, y0 = np.floor(dst_lm[:468, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil(dst_lm[:468, :2].max(axis=0)).astype(int)
    inside = np.abs(a[y0:y1, x0:x1].astype(int) - dst[y0:y1, x0:x1]).mean()
    outside = np.abs(a[: max(1, y0 - 20)].astype(int) - dst[: max(1, y0 - 20)]).mean()
    assert inside > 5.0 and outside < 0.5


def test_a_whole_face_swap_replaces_more_than_an_inner_one(faces: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    (src, src_lm), (dst, dst_lm) = faces["df02_01.jpg"], faces["df01_01.jpg"]
    changed = {
        region: (np.abs(swap_faces(src, src_lm, dst, dst_lm, 1, "alpha", region=region).astype(int) - dst) > 8).sum()
        for region in ("inner", "face")
    }
    assert changed["face"] > 1.1 * changed["inner"]
