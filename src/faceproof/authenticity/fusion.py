"""The fused authenticity model: one ``fake_probability`` from every signal, as the maximum over kinds of fake.

Why per kind and not one classifier: the signals of a generated face (spectral slope, noise statistics, the
learned detector), of a face swap (blending boundary, face/background noise mismatch) and of a recapture (moiré
and half-tone peaks, black level, glare) point in different directions - a single linear model trained on all of
them learned that a recapture looks *less* fake than a real photo (held-out AUC 0.01, docs/authenticity.md). So
each kind of fake has its own small logistic regression on its own features, trained against real photos, and
an image is as suspicious as its most suspicious kind. The kind with the highest probability is the suspected
kind; its terms (coefficient × standardised feature, summed per signal) are the reported contributions.

Each kind's intercept is shifted so that its operating threshold sits at probability 0.5: one image is flagged
when ``fake_probability >= 0.5``, and the per-kind thresholds were chosen together so that 1 % of real photos
(clean and processed) are flagged in all. ``fake_probability`` is therefore the probability of a fake at the
prior odds of that operating point, comparable across kinds.

Parameters ship as JSON (``faceproof/data/authenticity_fusion.json``, written by ``scripts/train_fusion.py``).
"""

from __future__ import annotations

import importlib.resources
import json
import math
from dataclasses import dataclass
from typing import Any

from faceproof.models.lazy import Lazy

RESOURCE = "authenticity_fusion.json"
THRESHOLD = 0.5


@dataclass(frozen=True)
class KindModel:
    kind: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def terms(self, values: dict[str, float], neutral: dict[str, float]) -> dict[str, float]:
        out = {}
        for name, mu, sd, c in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            x = float(values.get(name, neutral.get(name, mu)))
            out[name] = c * (x - mu) / (sd if sd > 0 else 1.0)
        return out


@dataclass(frozen=True)
class FusionResult:
    fake_probability: float
    kind: str
    kind_probabilities: dict[str, float]
    contributions: dict[str, float]  # per signal, of the most suspicious kind (log-odds; positive = fake)


@dataclass(frozen=True)
class FusionModel:
    version: str
    kinds: tuple[KindModel, ...]
    signal_of: dict[str, str]
    neutral: dict[str, float]
    threshold: float = THRESHOLD

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FusionModel:
        kinds = tuple(
            KindModel(
                kind=k["kind"],
                features=tuple(k["features"]),
                mean=tuple(float(x) for x in k["mean"]),
                scale=tuple(float(x) for x in k["scale"]),
                coef=tuple(float(x) for x in k["coef"]),
                intercept=float(k["intercept"]),
            )
            for k in raw["kinds"]
        )
        return cls(
            version=str(raw["version"]),
            kinds=kinds,
            signal_of=dict(raw["signal_of"]),
            neutral={k: float(v) for k, v in raw["neutral"].items()},
        )

    @property
    def population_scale(self) -> dict[str, float]:
        """Standard deviation of each feature over the training images (a yardstick for deviations)."""
        out: dict[str, float] = {}
        for k in self.kinds:
            out.update(zip(k.features, k.scale, strict=True))
        return out

    def evaluate(self, values: dict[str, float]) -> FusionResult:
        probabilities: dict[str, float] = {}
        terms_of: dict[str, dict[str, float]] = {}
        for k in self.kinds:
            terms = k.terms(values, self.neutral)
            z = max(-40.0, min(40.0, k.intercept + sum(terms.values())))
            probabilities[k.kind] = 1.0 / (1.0 + math.exp(-z))
            terms_of[k.kind] = terms
        top = max(probabilities, key=lambda kind: probabilities[kind])
        contributions: dict[str, float] = {}
        for name, term in terms_of[top].items():
            signal = self.signal_of.get(name, name)
            contributions[signal] = contributions.get(signal, 0.0) + term
        return FusionResult(probabilities[top], top, probabilities, contributions)


def _load() -> FusionModel:
    text = importlib.resources.files("faceproof").joinpath("data", RESOURCE).read_text("utf-8")
    return FusionModel.from_dict(json.loads(text))


_model: Lazy[FusionModel] = Lazy(_load)


def load_fusion() -> FusionModel:
    return _model.get()
