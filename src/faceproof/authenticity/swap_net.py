"""Learned swap/blend detector: EfficientNet-Lite0 fine-tuned on self-blended images of real photos.

What it learns (``faceproof train swap``, :mod:`faceproof.training.fit_swap`): real photos against the same photos
blended into a slightly altered copy of themselves through a face-shaped mask (Shiohara & Yamasaki, CVPR 2022).
No swap tool and no generator is in its training data, only what every face swap leaves: a blending boundary, a
colour or sharpness step across it, misalignment ghosts. It is validated on swap methods it never saw (a 3D-model
face-swap app, landmark-warped Poisson and alpha swaps, hand edits) against real photos of people it never saw;
figures on its model card and in docs/authenticity.md.

``swap_net_margin`` is the logit minus the operating threshold (0 flags ~1 % of held-out real photos).
"""

from __future__ import annotations

from faceproof.authenticity.base import Finding, SignalInput
from faceproof.authenticity.crop_model import CropSignal

SIGNAL = "swap_net"
DETECTOR = CropSignal(
    model="swap_detector",
    signal=SIGNAL,
    kind="swapped",
    feature="swap_net_margin",
    flagged="a blending boundary around the face, as a face swap leaves (margin {margin})",
    clear="no blending boundary around the face (margin {margin})",
)


def analyze(inp: SignalInput) -> Finding:
    return DETECTOR.analyze(inp)
