"""Everyday damage applied to an evaluation's images, so one manifest also measures robustness.

Why: the development images are clean, while the photos a service meets are masked, blurred, noisy, badly exposed,
heavily compressed or cropped. ``--damage NAME`` on ``faceproof eval authenticity`` / ``eval profiles`` runs the
same manifest through :mod:`faceproof.training.augment` first: deterministically (seeded by the file name and the
damage), placed with the face found in the *undamaged* image (a mask needs the keypoints), real and fake alike.
Nothing is fitted either way.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceproof.errors import NoFace
from faceproof.training.augment import DEGRADATIONS, FaceHint, degrade


def check_damage(damage: Sequence[str]) -> tuple[str, ...]:
    """``damage`` as a tuple; raises ``ValueError`` naming the unknown names and the known ones."""
    unknown = sorted(set(damage) - set(DEGRADATIONS))
    if unknown:
        raise ValueError(f"unknown damage {unknown}; known: {sorted(DEGRADATIONS)}")
    return tuple(damage)


def face_hint(rgb: np.ndarray) -> FaceHint | None:
    """Where the largest face of the undamaged ``rgb`` is, for placing damage (None: no face found)."""
    from faceproof.detect import detect_faces

    faces = detect_faces(rgb)  # largest first
    return FaceHint(box=faces[0].box, keypoints=faces[0].keypoints) if faces else None


def damaged(path: Path, damage: Sequence[str]) -> np.ndarray:
    """The image at ``path`` (RGB) with ``damage`` applied; raises :class:`~faceproof.errors.NoFace` when the
    undamaged image has no face to place the damage with."""
    from faceproof.intake import load_image

    rgb = load_image(path).rgb
    hint = face_hint(rgb)
    if hint is None:
        raise NoFace("no face in the undamaged image")
    seed = zlib.crc32(f"{path.name}|{'+'.join(damage)}".encode())
    return degrade(rgb, list(damage), seed, hint)
