"""Where the boundary map of a swap lies: the table of docs/authenticity.md ("Evidence pictures").

Why: the boundary map (:func:`faceproof.authenticity.evidence.noise_deficit`) should light up the pasted face and not
the anatomy of a real one. Swaps are made here between fixture photos of different people
(:func:`faceproof.training.manipulate.swap_faces`, both blends), once with the source face at its own size and once
rendered at 40 % of the destination face's height first (a swap generator's output warped into a portrait); the
map of each swap and of the untouched destination is read over the same region: the pixels the paste changed,
against the rest of the face's mesh hull.

Usage: ``.venv/bin/python scripts/evidence_swaps.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceproof.analysis import Analysis, analyze
from faceproof.authenticity.evidence import noise_deficit
from faceproof.training.manipulate import swap_faces

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "images"

#: (source of the inner face, head it is pasted onto): every head and every source a different person.
PAIRS = (
    ("df02_01.jpg", "df01_01.jpg"),
    ("df01_01.jpg", "df10_01.jpg"),
    ("df10_01.jpg", "df03_01.jpg"),
    ("df03_01.jpg", "df02_02.jpg"),
    ("df01_02.jpg", "df02_01.jpg"),
    ("df02_02.jpg", "df01_03.jpg"),
)
SHARES = (None, 0.4)


def hull(analysis: Analysis) -> np.ndarray:
    assert analysis.subject.landmarks is not None
    mask = np.zeros(analysis.image.rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(analysis.subject.landmarks[:468, :2].astype(np.float32)).astype(int), 1)
    return mask > 0


def read(analysis: Analysis, pasted: np.ndarray) -> tuple[float, bool]:
    """(mean of the map on the pasted pixels / mean on the rest of the face, whether its peak is pasted)."""
    assert analysis.subject.landmarks is not None
    heat = noise_deficit(analysis.image.rgb, analysis.subject.landmarks)
    face = hull(analysis)
    ratio = float(heat[face & pasted].mean() / max(heat[face & ~pasted].mean(), 1e-6))
    return ratio, bool(pasted[np.unravel_index(np.argmax(heat), heat.shape)])


def main() -> None:
    faces = {name: analyze(FIXTURES / name, with_dlib=False) for pair in PAIRS for name in pair}
    print("| source -> head | blend | source size | swap: inside / outside | peak inside | untouched head |")
    print("| --- | --- | --- | ---: | --- | ---: |")
    for src_name, dst_name in PAIRS:
        src, dst = faces[src_name], faces[dst_name]
        assert src.subject.landmarks is not None and dst.subject.landmarks is not None
        for share in SHARES:
            for method in ("alpha", "poisson"):
                swapped = swap_faces(
                    src.image.rgb, src.subject.landmarks, dst.image.rgb, dst.subject.landmarks, 1, method, share
                )
                pasted = np.abs(swapped.astype(int) - dst.image.rgb.astype(int)).sum(axis=2) > 6
                ratio, peak = read(analyze(swapped, with_dlib=False), pasted)
                untouched, _ = read(dst, pasted)
                size = "own" if share is None else f"{share:.0%} of the head's"
                print(
                    f"| {src_name} -> {dst_name} | {method} | {size} | {ratio:.2f} | {'yes' if peak else 'no'} | "
                    f"{untouched:.2f} |"
                )


if __name__ == "__main__":
    main()
