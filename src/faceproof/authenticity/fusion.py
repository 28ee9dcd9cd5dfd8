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

The model ships as the artefact ``authenticity_fusion`` (:mod:`faceproof.models.artifact`, written by ``faceproof
train fusion``, :mod:`faceproof.training.fit_fusion`): ONE ONNX graph with one logistic head per kind over one
feature vector (each head reads its own columns), so the kinds, whose thresholds were chosen together, are always
updated together and an image costs one ``run``. The card's parameters hold the feature order, each kind's output
tensors, the neutral value of each feature (used when a signal could not measure it), which signal measured
each feature, and each feature's spread over the training images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceproof.models import artifact
from faceproof.models.lazy import Lazy

ARTIFACT = "authenticity_fusion"
THRESHOLD = 0.5


@dataclass(frozen=True)
class KindModel:
    """One kind of fake: its features and the graph outputs holding its logit and per-feature terms."""

    kind: str
    features: tuple[str, ...]
    logit: str
    terms: str


@dataclass(frozen=True)
class FusionResult:
    fake_probability: float
    kind: str
    kind_probabilities: dict[str, float]
    contributions: dict[str, float]  # per signal, of the most suspicious kind (log-odds; positive = fake)


@dataclass(frozen=True)
class FusionModel:
    version: str
    artifact: artifact.Artifact
    features: tuple[str, ...]  # the graph input's columns
    kinds: tuple[KindModel, ...]
    signal_of: dict[str, str]
    neutral: dict[str, float]
    population_scale: dict[str, float]  # each feature's standard deviation over the training images
    threshold: float = THRESHOLD
    #: Per kind, a log-odds shift applied after the graph (``faceproof train operating-point``): the operating
    #: point re-set on real photos of people the fit never saw, keeping 0.5 as every kind's threshold.
    kind_offsets: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_artifact(cls, model: artifact.Artifact) -> FusionModel:
        p: dict[str, Any] = model.parameters
        kinds = tuple(KindModel(k["kind"], tuple(k["features"]), k["logit"], k["terms"]) for k in p["kinds"])
        features = tuple(p["features"])
        neutral = {k: float(v) for k, v in p["neutral"].items()}
        if missing := set(features) - set(neutral):
            raise artifact.ArtifactError(f"fusion model lacks neutral values of {sorted(missing)}")
        return cls(
            version=model.card.version,
            artifact=model,
            features=features,
            kinds=kinds,
            signal_of=dict(p["signal_of"]),
            neutral=neutral,
            population_scale={k: float(v) for k, v in p["population_scale"].items()},
            threshold=float(p["threshold"]),
            kind_offsets={k: float(v) for k, v in p.get("kind_offsets", {}).items()},
        )

    def evaluate(self, values: dict[str, float]) -> FusionResult:
        """Every kind's probability from the measured ``values`` (a feature a signal did not measure takes its
        neutral value); the most suspicious kind wins and reports its terms summed per signal."""
        x = np.array([[float(values.get(n, self.neutral[n])) for n in self.features]], np.float64)
        out = self.artifact.run({"x": x})
        probabilities: dict[str, float] = {}
        for k in self.kinds:
            z = max(-40.0, min(40.0, float(out[k.logit][0]) - self.kind_offsets.get(k.kind, 0.0)))
            probabilities[k.kind] = 1.0 / (1.0 + math.exp(-z))
        top = max(self.kinds, key=lambda k: probabilities[k.kind])
        contributions: dict[str, float] = {}
        for name, term in zip(top.features, out[top.terms][0], strict=True):
            signal = self.signal_of.get(name, name)
            contributions[signal] = contributions.get(signal, 0.0) + float(term)
        return FusionResult(probabilities[top.kind], top.kind, probabilities, contributions)


_model: Lazy[FusionModel] = Lazy(lambda: FusionModel.from_artifact(artifact.load(ARTIFACT)))


def load_fusion() -> FusionModel:
    return _model.get()
