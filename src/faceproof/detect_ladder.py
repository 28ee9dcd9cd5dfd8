"""Second looks for a face that YuNet's first pass missed: a short ladder of other views of the same photo.

Why: a person sees a face in nearly every photo that reaches the service, but YuNet's single pass at its own size
misses faces that fill or overflow the frame (tight crops, masked faces cut by the border), faces under heavy
sensor noise, and small photos. On 13,965 clean and damaged real photos the first pass answered "no face" for
9.4 % of them; the tables and how to reproduce them are in docs/reliability.md.

Each rung is one extra YuNet run on a view of the image, and each answer is mapped back to the original pixels:

- a **grey border** (a quarter of the longer side on each side) gives a face that fills or is cut by the frame
  the context YuNet was trained with; grey, not reflected, because mirrored edges make face-like symmetric
  patterns (reflected borders found faces in non-face images, grey ones did not);
- **multi-scale**: the bordered image brought down to a longer side of 96-320 px, where a close-up face is
  the size YuNet detects best and downscaling averages noise away;
- **smoothing** (a Gaussian of 1 % of the longer side) before that removes the sensor noise that hides a face;
  a **stronger smoothing** (2 %) comes last, for close-ups under heavy blur and noise that nothing else finds;
- **upscaling** a small photo (x2 at most) inside a wide border, for faces smaller than YuNet's smallest anchors;
- **contrast equalisation** (CLAHE on the lightness) last, for under- and overexposed photos.

The ladder only runs when the first pass found nothing, so an image that already works is untouched and pays
nothing. It stops at the first rung that finds a face at the usual score threshold. Only when no rung does, it
takes the first rung's faces at the lowered :data:`LOW_SCORE_THRESHOLD`: a lower score is accepted last, and the
face says so (its score is below the usual threshold, and its ``rung`` names the view). Such a face then goes
through the whole quality gate like any other (a face without a fitted mesh is never usable for identity).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.models.yunet import DETECT_MAX_SIDE, SCORE_THRESHOLD, RawDetection, get_yunet

#: Score accepted when no rung finds a face at :data:`~faceproof.models.yunet.SCORE_THRESHOLD`. Measured
#: (docs/reliability.md): 0.45 answers "no face" for 63 fewer of the 13,965 real photos than the ladder at 0.6,
#: for 3 more false faces in 200 non-face images (4 in all; 0.50: 49 fewer, also 4; 0.55: 29 fewer, 2). None of
#: those false faces passes the quality gate, and only 1 of the 63 faces it adds does: a face this weak is
#: reported (not "no face"), and the gate keeps it out of identity decisions.
LOW_SCORE_THRESHOLD = 0.45
#: Smoothing of the "smoothed" rungs: Gaussian sigma as a fraction of the (at most 640 px) image's longer side.
SMOOTH_SIGMA = 0.01
#: The last rungs' stronger smoothing (docs/reliability.md: it finds faces that fill the frame under heavy blur and
#: sensor noise, which the 1 % views miss, and no face in the non-face images at the usual threshold).
STRONG_SMOOTH_SIGMA = 0.02
_GREY = (128, 128, 128)


@dataclass(frozen=True)
class Rung:
    """One view of the image: smoothed by a Gaussian of ``smooth`` times its longer side (0: not smoothed),
    contrast-equalised or not, with a grey ``border`` (fraction of the longer side, each side), scaled so the
    bordered image's longer side is ``side`` px, enlarging by at most ``max_upscale``. A rung that would have to
    enlarge more than that is skipped (the image is already that small)."""

    name: str
    side: int
    border: float
    smooth: float
    max_upscale: float = 1.0
    equalise: bool = False

    def view(self, base: np.ndarray) -> tuple[np.ndarray, float, int] | None:
        """The view of ``base``, its scale and its border in view pixels (None: skipped); a point ``v`` of the
        view is ``(v - border) / scale`` in ``base``."""
        h, w = base.shape[:2]
        scale = self.side / ((1.0 + 2.0 * self.border) * max(h, w))
        if scale > self.max_upscale:
            if self.max_upscale <= 1.0:
                return None
            scale = self.max_upscale
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        shrink = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        img = cv2.resize(base, size, interpolation=shrink) if scale != 1.0 else base
        pad = round(self.border * max(size))
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=_GREY)
        return img, scale, pad


#: Cheapest first, then by what each adds: the small smoothed views cost 2-3 ms each, the wide-border 640 px
#: view ~20 ms; the contrast-equalised views come late, for badly exposed photos that nothing else finds, and the
#: strongly smoothed ones last, for heavy blur and noise on a close-up.
RUNGS: tuple[Rung, ...] = (
    *(Rung(f"smoothed {side}", side, 0.25, smooth=SMOOTH_SIGMA) for side in (96, 128, 160, 224, 320)),
    Rung("bordered 320", 320, 0.25, smooth=0.0),
    Rung("wide border 640", 640, 0.5, smooth=0.0, max_upscale=2.0),
    Rung("equalised 128", 128, 0.25, smooth=0.0, equalise=True),
    Rung("equalised smoothed 320", 320, 0.25, smooth=SMOOTH_SIGMA, equalise=True),
    *(Rung(f"strongly smoothed {side}", side, 0.25, smooth=STRONG_SMOOTH_SIGMA) for side in (96, 128)),
)


@dataclass(frozen=True)
class LadderFind:
    """What the ladder found: the rung's name and its faces in original-image pixels."""

    rung: str
    faces: list[RawDetection]


def equalised(rgb: np.ndarray) -> np.ndarray:
    """Local contrast equalisation (CLAHE) of the lightness only: a dark, washed-out or backlit face gets the
    contrast YuNet needs, and the colours stay as they were."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def smoothed(rgb: np.ndarray, sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """A Gaussian of ``sigma`` times the longer side: sensor noise goes, a face's shape stays."""
    return cv2.GaussianBlur(rgb, (0, 0), sigma * max(rgb.shape[:2]))


class Views:
    """The image prepared once for every rung: brought down to the first pass's size, then smoothed and
    equalised as the rungs ask, each variant made once."""

    def __init__(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        self.scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        size = (round(w * self.scale), round(h * self.scale))
        base = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if self.scale < 1.0 else rgb
        self._variants: dict[tuple[float, bool], np.ndarray] = {(0.0, False): base}

    def variant(self, smooth: float, equalise: bool) -> np.ndarray:
        key = (smooth, equalise)
        if key not in self._variants:
            img = self.variant(0.0, equalise) if smooth else equalised(self._variants[(0.0, False)])
            self._variants[key] = smoothed(img, smooth) if smooth else img
        return self._variants[key]

    def detect(self, rung: Rung) -> list[RawDetection]:
        """YuNet's faces in ``rung``'s view scoring at least :data:`LOW_SCORE_THRESHOLD`, in original-image
        pixels."""
        view = rung.view(self.variant(rung.smooth, rung.equalise))
        if view is None:
            return []
        img, scale, pad = view
        to_original = scale * self.scale
        return [
            RawDetection(
                box=(
                    (r.box[0] - pad) / to_original,
                    (r.box[1] - pad) / to_original,
                    r.box[2] / to_original,
                    r.box[3] / to_original,
                ),
                keypoints=((r.keypoints - pad) / to_original).astype(np.float32),
                score=r.score,
            )
            for r in get_yunet().detect(img, LOW_SCORE_THRESHOLD)
        ]


def retry(rgb: np.ndarray) -> LadderFind | None:
    """The first rung's faces at the usual score threshold; failing that, the first rung's faces at
    :data:`LOW_SCORE_THRESHOLD`; None when no rung finds any."""
    views = Views(rgb)
    low: LadderFind | None = None
    for rung in RUNGS:
        found = views.detect(rung)
        confident = [f for f in found if f.score >= SCORE_THRESHOLD]
        if confident:
            return LadderFind(rung.name, confident)
        if found and low is None:
            low = LadderFind(rung.name, found)
    return low
