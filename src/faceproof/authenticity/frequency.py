"""Frequency-domain traces of generative up-sampling in the face region.

Why: generators build images by repeated up-sampling (transposed convolutions, nearest/bilinear up-sampling,
latent-decoder up-blocks). That leaves (a) a power spectrum whose high-frequency tail does not follow the
power law of natural images (Durall et al., "Watch your up-convolution", CVPR 2020), (b) periodic artefacts
that show as isolated peaks at N/2 and N/4 in the spectrum of a high-pass residual, and (c) correlations
between neighbouring pixels that repeat with the up-sampling period (Tan et al., "Rethinking the up-sampling
operations ... neighbouring pixel relationships" (NPR), CVPR 2024).

How we keep it honest about scale: the azimuthal spectrum is taken on a crop resampled so the face box is
``FACE_PX`` wide; peaks and NPR need the original pixel grid, so they are taken at native resolution but
reported only as scale-free contrasts. JPEG's 8x8 grid also puts peaks at N/2 and N/4 (they are harmonics of
N/8), so the up-sampling peak is reported *relative* to the JPEG-only harmonics N/8 and 3N/8: re-compressing a
photo must not raise it.

Features (all dimensionless):
- ``freq_slope``: slope of log10 power vs log10 frequency over 0.1..0.5 of Nyquist (real photos
  measured -3.7..-2.8; smooth, generated or up-sampled faces steeper).
- ``freq_tail``: mean log10 excess of the 0.6..0.95 Nyquist tail over that power law (Durall's tail
  deviation).
- ``freq_up_peak``: log10 contrast of the strongest peak at the up-sampling positions (N/2, N/4) over its
  neighbourhood, minus the same for the JPEG-only positions (N/8, 3N/8).
- ``freq_npr``: period-2 asymmetry of neighbouring-pixel differences, |log(mean|d_even| / mean|d_odd|)|,
  averaged over rows and columns (0 for a natural image; > 0 when pixels were made in 2x2 groups). The crop is
  aligned on the JPEG block grid and differences across block borders are left out, so block artefacts do not
  count as up-sampling.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from faceproof.authenticity._region import (
    box_ok,
    grey,
    logistic,
    native_crop,
    normalised_crop,
    size_confidence,
)
from faceproof.authenticity.base import Finding, SignalInput

log = logging.getLogger(__name__)

# Returned (with confidence 0) when the face region cannot be analysed: about the median of real photos, so
# a fusion model reads them as "no evidence".
NEUTRAL: dict[str, float] = {"freq_slope": -3.3, "freq_tail": -0.15, "freq_up_peak": 0.0, "freq_npr": 0.02}
FEATURES = tuple(NEUTRAL)
SIGNAL = "frequency"
FACE_PX = 128
EXPAND = 1.25
NATIVE_MAX = 512
_UP_POSITIONS = ((0.5, 0.0), (0.0, 0.5), (0.5, 0.5), (0.25, 0.0), (0.0, 0.25), (0.25, 0.25))
_JPEG_POSITIONS = ((0.125, 0.0), (0.0, 0.125), (0.375, 0.0), (0.0, 0.375), (0.125, 0.125), (0.375, 0.375))
# Score mapping (see docs/authenticity.md), from the measured distributions: the slope part is 0.5 at -4.0 (no
# clean real photo and 9 % of augmented ones are steeper), the peak part at 0.7 (above every real photo
# measured).
_SLOPE_CENTRE, _SLOPE_WIDTH = -4.0, -0.2
_PEAK_CENTRE, _PEAK_WIDTH = 0.7, 0.1
# NPR: real photos measured at most 0.13 (augmented), a 2x nearest-neighbour up-sampling gives about 1.5.
_NPR_CENTRE, _NPR_WIDTH = 0.3, 0.05


def analyze(inp: SignalInput) -> Finding:
    """Frequency features of the face region and a 0..1 score of up-sampling evidence."""
    try:
        if not box_ok(inp.rgb, inp.face_box):
            return _empty("no usable face region for the frequency analysis")
        features = frequency_features(inp.rgb, inp.face_box)
    except (ValueError, cv2.error, FloatingPointError) as exc:
        log.debug("frequency analysis failed: %s", exc)
        return _empty("frequency analysis failed on this image")
    smooth = logistic(features["freq_slope"], _SLOPE_CENTRE, _SLOPE_WIDTH)
    periodic = max(
        logistic(features["freq_up_peak"], _PEAK_CENTRE, _PEAK_WIDTH),
        logistic(features["freq_npr"], _NPR_CENTRE, _NPR_WIDTH),
    )
    score = max(smooth, periodic)
    confidence = size_confidence(max(inp.face_box[2], inp.face_box[3]))
    if periodic >= 0.5:
        what = (
            f"periodic up-sampling traces in the face region (peak {features['freq_up_peak']:.2f}, "
            f"NPR {features['freq_npr']:.2f})"
        )
    elif smooth >= 0.5:
        what = f"face spectrum falls off unusually fast (slope {features['freq_slope']:.2f})"
    else:
        what = "face spectrum looks like a camera photo's"
    return Finding(signal=SIGNAL, score=score, confidence=confidence, kind="generated", message=what, features=features)


def frequency_features(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> dict[str, float]:
    """The four frequency features (see the module docstring) of the face in ``rgb``."""
    crop, _ = normalised_crop(rgb, face_box, EXPAND, FACE_PX)
    slope, tail = _spectrum_shape(grey(crop))
    native = grey(native_crop(rgb, face_box, EXPAND, align=8))[:NATIVE_MAX, :NATIVE_MAX]
    native = native[: native.shape[0] // 8 * 8, : native.shape[1] // 8 * 8]
    return {
        "freq_slope": slope,
        "freq_tail": tail,
        "freq_up_peak": _upsampling_peak(native),
        "freq_npr": _npr_asymmetry(native),
    }


def azimuthal_spectrum(gray: np.ndarray) -> np.ndarray:
    """Azimuthally averaged power spectrum (Hann-windowed), index = radius in frequency bins up to Nyquist."""
    n = min(gray.shape)
    g = gray[:n, :n].astype(np.float64)
    g = g - g.mean()
    win = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2(g * win))) ** 2
    yy, xx = np.indices(power.shape)
    radius = np.hypot(yy - n // 2, xx - n // 2).round().astype(int)
    counts = np.bincount(radius.ravel())
    sums = np.bincount(radius.ravel(), weights=power.ravel())
    return (sums / np.maximum(counts, 1))[: n // 2 + 1]


def _spectrum_shape(gray: np.ndarray) -> tuple[float, float]:
    spec = azimuthal_spectrum(gray)
    nyq = len(spec) - 1
    freq = np.arange(len(spec)) / nyq
    logp = np.log10(spec + 1e-8)
    fit = (freq >= 0.1) & (freq <= 0.5)
    tail = (freq >= 0.6) & (freq <= 0.95)
    slope, intercept = np.polyfit(np.log10(freq[fit]), logp[fit], 1)
    predicted = slope * np.log10(freq[tail]) + intercept
    return float(slope), float(np.mean(logp[tail] - predicted))


def _peak_contrast(spectrum: np.ndarray, fy: float, fx: float) -> float:
    """log10 of the max power within 1 bin of (fy, fx) (cycles per pixel) over its ring's median, in the complex
    ``spectrum`` (only the 9x9 bins read are turned into log power)."""
    h, w = spectrum.shape
    cy, cx = round(fy * h), round(fx * w)
    rows = [(cy + d) % h for d in range(-4, 5)]
    cols = [(cx + d) % w for d in range(-4, 5)]
    patch = np.log10(np.abs(spectrum[np.ix_(rows, cols)]) ** 2 + 1e-6)
    centre = patch[3:6, 3:6].max()
    ring = np.concatenate([patch[:3].ravel(), patch[6:].ravel(), patch[3:6, :3].ravel(), patch[3:6, 6:].ravel()])
    return float(centre - np.median(ring))


def _upsampling_peak(gray: np.ndarray) -> float:
    """Up-sampling peak contrast minus JPEG-grid peak contrast of a high-pass residual."""
    if min(gray.shape) < 32:
        return 0.0
    residual = gray - cv2.blur(gray, (3, 3))
    win = np.outer(np.hanning(gray.shape[0]), np.hanning(gray.shape[1]))
    spectrum = np.fft.fft2(residual * win)
    up = max(_peak_contrast(spectrum, fy, fx) for fy, fx in _UP_POSITIONS)
    jpeg = max(_peak_contrast(spectrum, fy, fx) for fy, fx in _JPEG_POSITIONS)
    return up - max(jpeg, 0.0)


def _npr_asymmetry(gray: np.ndarray) -> float:
    """Period-2 asymmetry of neighbouring-pixel differences (NPR-style, see module docstring).

    ``gray`` starts on the JPEG block grid: differences across block borders (index 7 mod 8) are left out, and
    so is one even position (6 mod 8), so that both phases count three differences per block.
    """
    if min(gray.shape) < 16:
        return 0.0
    values = []
    for diff in (np.abs(np.diff(gray, axis=1)), np.abs(np.diff(gray, axis=0)).T):
        phase = np.arange(diff.shape[1]) % 8
        even, odd = diff[:, np.isin(phase, (0, 2, 4))].mean(), diff[:, np.isin(phase, (1, 3, 5))].mean()
        values.append(abs(float(np.log((even + 1e-3) / (odd + 1e-3)))))
    return float(np.mean(values))


def _empty(message: str) -> Finding:
    return Finding(signal=SIGNAL, score=0.0, confidence=0.0, kind="generated", message=message, features=dict(NEUTRAL))
