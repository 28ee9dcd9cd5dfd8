"""Score fusion and operating thresholds for identity verification, learnt from data (``scripts/calibrate.py``).

Why a shipped calibration: a cosine similarity is not a decision. Its meaning depends on the model, and where
to cut depends on how many impostors one is willing to accept. The parameters here were fitted on genuine and
impostor pairs of the development set *and* of damaged copies of it (low resolution, blur, noise, heavy JPEG,
crops, masks, exposure), with identity-grouped cross-validation; see docs/calibration.md for data and figures.

What the numbers mean:

- ``fused_score``: the natural-log likelihood ratio "same person" vs "different people" given the cosine
  similarities available (logistic regression with equal class weights on SFace's and dlib's cosines, or on
  SFace's alone when dlib was not computed). 0 means the scores are as likely for either; +2.3 means ten times
  as likely for the same person.
- ``match_probability`` = sigmoid(fused_score): the probability of "same person" at even prior odds. With other
  prior odds, add their log to ``fused_score`` first.
- Thresholds are chosen for a false accept rate (FAR) on impostor pairs - 1e-2, 1e-3 or 1e-4 - not for a
  probability: a pair matches when its score is at or above the threshold. ``threshold(far, "fused")`` is on the
  fused-score scale, ``threshold(far, "sface"|"dlib")`` on that model's cosine scale.
- The uncertain band is the SFace cosine interval where SFace alone can disagree with the fusion; outside it
  the second model (dlib, ~125 ms) cannot change the decision on >= 99.5 % of pairs and can be skipped.

Pure and thread-safe: the JSON is read once from package data (lazily, under a lock) into frozen objects.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

ModelName = Literal["fused", "sface", "dlib"]
SUPPORTED_FARS: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
DEFAULT_FAR = 1e-3
_RESOURCE = "calibration.json"


@dataclass(frozen=True)
class LogisticModel:
    """``score = intercept + sum(coef[i] * value[features[i]])`` over cosine similarities (a log-likelihood ratio)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def score(self, values: Mapping[str, float]) -> float:
        return self.intercept + sum(c * values[f] for f, c in zip(self.features, self.coef, strict=True))


@dataclass(frozen=True)
class MatchDecision:
    """The verdict on one pair of faces (or a probe against a profile's mean similarities).

    ``sface`` and ``dlib`` are the per-model cosine similarities (``dlib`` None when it was not computed);
    ``models_used`` says which score the decision rests on: ``("sface", "dlib")`` for the fusion, ``("sface",)``
    when dlib was not computed (then ``fused_score`` and ``threshold`` are SFace's own calibrated score and
    threshold). ``threshold`` is on the ``fused_score`` scale; ``same_person`` is ``fused_score >= threshold``.
    """

    same_person: bool
    match_probability: float
    fused_score: float
    threshold: float
    far: float
    sface: float
    dlib: float | None
    models_used: tuple[str, ...]
    calibration_version: str

    @property
    def per_model(self) -> dict[str, float]:
        """Cosine similarity per model used, e.g. ``{"sface": 0.61, "dlib": 0.95}``."""
        return {"sface": self.sface} if self.dlib is None else {"sface": self.sface, "dlib": self.dlib}


def _far_key(far: float) -> str:
    for supported in SUPPORTED_FARS:
        if math.isclose(far, supported, rel_tol=1e-9):
            return str(supported)
    raise ValueError(
        f"unsupported false accept rate {far!r}: calibrated operating points are "
        + ", ".join(f"{f:g}" for f in SUPPORTED_FARS)
    )


def _check_cosine(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not -1.0001 <= v <= 1.0001:
        raise ValueError(f"{name} similarity must be a finite cosine in [-1, 1], got {value!r}")
    return v


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Calibration:
    """Fitted fusion, thresholds and uncertain band. Build with :func:`load_calibration` (or ``from_dict``)."""

    version: str
    models: Mapping[str, LogisticModel]
    thresholds: Mapping[str, Mapping[str, float]]  # model -> FAR key ("0.001") -> threshold
    sface_band: Mapping[str, tuple[float, float]]  # FAR key -> (lo, hi) SFace cosines

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibration:
        """Validate and freeze the parsed calibration.json (raises ValueError on a malformed file)."""
        try:
            models = {
                name: LogisticModel(
                    features=tuple(m["features"]),
                    coef=tuple(float(c) for c in m["coef"]),
                    intercept=float(m["intercept"]),
                )
                for name, m in raw["models"].items()
            }
            thresholds = {
                model: MappingProxyType({_far_key(float(k)): float(v) for k, v in per_far.items()})
                for model, per_far in raw["thresholds"].items()
            }
            band = {_far_key(float(k)): (float(v[0]), float(v[1])) for k, v in raw["uncertain_band"]["sface"].items()}
            version = str(raw["version"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed calibration: {exc!r}") from exc
        for name in ("fused", "sface", "dlib"):
            if name not in models or name not in thresholds:
                raise ValueError(f"calibration lacks the {name!r} model or its thresholds")
            if any(c <= 0 for c in models[name].coef):
                raise ValueError(f"calibration model {name!r} is not monotone in its similarities")
            if set(thresholds[name]) != {str(f) for f in SUPPORTED_FARS}:
                raise ValueError(f"calibration lacks thresholds of {name!r} for some of {SUPPORTED_FARS}")
        if set(band) != {str(f) for f in SUPPORTED_FARS}:
            raise ValueError("calibration lacks SFace's uncertain band for some supported FAR")
        return cls(
            version=version,
            models=MappingProxyType(models),
            thresholds=MappingProxyType(thresholds),
            sface_band=MappingProxyType(band),
        )

    def fused_score(self, sface: float, dlib: float | None) -> float:
        """Log-likelihood ratio of "same person" from both cosines, or from SFace's alone when ``dlib`` is None."""
        s = _check_cosine("sface", sface)
        if dlib is None:
            return self.models["sface"].score({"sface": s})
        return self.models["fused"].score({"sface": s, "dlib": _check_cosine("dlib", dlib)})

    def match_probability(self, sface: float, dlib: float | None) -> float:
        """Probability of "same person" at even prior odds: sigmoid of :meth:`fused_score`."""
        return _sigmoid(self.fused_score(sface, dlib))

    def threshold(self, far: float, model: ModelName = "fused") -> float:
        """Score at or above which a pair is accepted at the given FAR: fused score for "fused", cosine otherwise."""
        if model not in self.thresholds:
            raise ValueError(f"unknown model {model!r}: one of {sorted(self.thresholds)}")
        return self.thresholds[model][_far_key(far)]

    def needs_second_model(self, sface: float, far: float = DEFAULT_FAR) -> bool:
        """True when SFace's cosine lies in the uncertain band, where dlib's score may change the decision."""
        lo, hi = self.sface_band[_far_key(far)]
        return lo <= _check_cosine("sface", sface) <= hi

    def decide(self, sface: float, dlib: float | None, far: float = DEFAULT_FAR) -> MatchDecision:
        """Same person or not at the operating point ``far``, with the fusion when dlib's cosine is given.

        Without dlib the decision is SFace's own (its calibrated score against its own threshold). That equals the
        fused decision on >= 99.5 % of pairs whenever :meth:`needs_second_model` is False.
        """
        key = _far_key(far)
        score = self.fused_score(sface, dlib)
        if dlib is None:
            models_used: tuple[str, ...] = ("sface",)
            thr = self.models["sface"].score({"sface": self.thresholds["sface"][key]})
        else:
            models_used = ("sface", "dlib")
            thr = self.thresholds["fused"][key]
        return MatchDecision(
            same_person=score >= thr,
            match_probability=_sigmoid(score),
            fused_score=score,
            threshold=thr,
            far=float(key),
            sface=float(sface),
            dlib=None if dlib is None else float(dlib),
            models_used=models_used,
            calibration_version=self.version,
        )


_lock = threading.Lock()
_cached: Calibration | None = None


def load_calibration() -> Calibration:
    """The shipped calibration (``faceproof/data/calibration.json``), read once per process."""
    global _cached  # noqa: PLW0603 - a process-wide, read-only cache
    if _cached is None:
        with _lock:
            if _cached is None:
                text = importlib.resources.files("faceproof").joinpath("data", _RESOURCE).read_text("utf-8")
                _cached = Calibration.from_dict(json.loads(text))
    return _cached
