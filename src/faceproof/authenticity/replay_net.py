"""Learned replay detector: EfficientNet-Lite0 fine-tuned on real print captures and simulated screen and print
replays.

What it learns (``faceproof train replay``, :mod:`faceproof.training.fit_replay`): photos of faces against photos
of *pictures* of faces - NUAA's print captures and simulated replays (sub-pixel grid and moiré, half-tone and
paper, gamut and black level, the picture at an angle, glare, a bezel or paper edge). Validated on NUAA people it
never saw and on replays of people it never saw; figures on its model card and in docs/authenticity.md.

``replay_net_margin`` is the logit minus the operating threshold (0 flags ~1 % of held-out real photos).
"""

from __future__ import annotations

from faceproof.authenticity.base import Finding, SignalInput
from faceproof.authenticity.crop_model import CropSignal

SIGNAL = "replay_net"
DETECTOR = CropSignal(
    model="replay_detector",
    signal=SIGNAL,
    kind="recaptured",
    feature="replay_net_margin",
    flagged="the face looks photographed from a screen or a print (margin {margin})",
    clear="the face looks photographed directly, not from a screen or a print (margin {margin})",
)


def analyze(inp: SignalInput) -> Finding:
    return DETECTOR.analyze(inp)
