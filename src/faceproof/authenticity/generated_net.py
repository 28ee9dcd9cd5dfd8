"""Learned generated-face detector: a linear probe on frozen EfficientNet-Lite0 features, trained on real photos of
thousands of people and faces of eight generators (GAN, diffusion, VAE).

What it learns (``faceproof train generated``, :mod:`faceproof.training.fit_generated`): faces no camera took
against real photos, each class seen clean and through the everyday damage. Validated by leaving each generator,
each family of generators and each real source out of the fit; figures on its model card and in
docs/authenticity.md.

``generated_net_margin`` is the logit minus the operating threshold (0 flags ~1 % of held-out real photos).
"""

from __future__ import annotations

from faceproof.authenticity.base import Finding, SignalInput
from faceproof.authenticity.crop_model import CropSignal

SIGNAL = "generated_net"
DETECTOR = CropSignal(
    model="generated_detector",
    signal=SIGNAL,
    kind="generated",
    feature="generated_net_margin",
    flagged="the face has the statistics of a generated image (margin {margin})",
    clear="the face has the statistics of a camera photo, not of a generated image (margin {margin})",
)


def analyze(inp: SignalInput) -> Finding:
    return DETECTOR.analyze(inp)
