"""The README tour's swap and replay, made from fixture photos by a fixed recipe: ``swap_001.jpg`` and
``replay_001.jpg`` in tests/fixtures/images.

Why committed and not made in each test: the tour's ``curl`` commands must run as written from a fresh clone, so
the files must be there; this module is their provenance (tests/fixtures/images/manifest.csv names it), and
``tests/test_readme_tour.py`` checks that the committed files are what it makes.

The recipes were fixed before the shipped models saw the results, not searched for an answer: the swap is the one
the browser test had drawn its evidence picture from (df01_03's inner face, rendered at 40 % of the head's face
height as a swap generator's output would be, Poisson-blended onto df03_01's head, seed 7), the replay is the
first seed of the training simulator's screen replay (:func:`faceproof.training.manipulate.replay`) of df01_03.
Both photos are in the development set the detectors trained on: the tour shows what each answer looks like, not
how well the detectors generalise (docs/authenticity.md has held-out figures).

Usage: ``.venv/bin/python -m tests.tour_fixtures`` (rewrites both files).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from faceproof.analysis import analyze
from faceproof.training.manipulate import replay, swap_faces
from tests.conftest import fixture_path, load_rgb

SWAP = "swap_001.jpg"
REPLAY = "replay_001.jpg"
#: The person whose face is attacked (df01, "Ada" in the tour) and the head the swap pastes it onto.
SOURCE, HEAD = "df01_03.jpg", "df03_01.jpg"
#: The JPEG quality of the other fixture photos.
QUALITY = 90


def made_swap() -> np.ndarray:
    src, dst = (analyze(fixture_path(n), with_dlib=False) for n in (SOURCE, HEAD))
    assert src.subject.landmarks is not None and dst.subject.landmarks is not None
    return swap_faces(src.image.rgb, src.subject.landmarks, dst.image.rgb, dst.subject.landmarks, 7, "poisson", 0.4)


def made_replay() -> np.ndarray:
    return replay(load_rgb(SOURCE), "screen", 0)


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=QUALITY)
    return buffer.getvalue()


def main() -> None:
    for name, rgb in ((SWAP, made_swap()), (REPLAY, made_replay())):
        fixture_path(name).write_bytes(jpeg(rgb))
        print(f"wrote {fixture_path(name)} ({rgb.shape[1]}x{rgb.shape[0]})")


if __name__ == "__main__":
    main()
