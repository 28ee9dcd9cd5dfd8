"""Score fusion and operating thresholds for identity verification, learnt from data (``faceproof train calibration``).

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
- Thresholds and the uncertain band exist per **condition** of the pair: the two faces' states, each ``open``,
  ``noisy`` (sensor noise, :func:`faceproof.measure.identity.face_noise`) or ``covered`` (the lower face: a mask,
  a scarf, a hand; the cover head's reading, :mod:`faceproof.measure.cover`), e.g. ``open/covered``. A covered or
  noisy face moves both genuine and impostor scores - a clean photo against a masked one ran at a quarter of the
  target FAR under one shared threshold, two masked or two noisy photos at two to five times it - so each condition
  has the threshold that holds the target FAR on its own impostors (docs/calibration.md).
- The uncertain band is the SFace cosine interval where SFace alone can disagree with the fusion; outside it
  the second model (dlib, ~125 ms) cannot change the decision on >= 99.5 % of pairs and can be skipped.

What ships: the model artefact ``verification_calibration`` (:mod:`faceproof.models.artifact`, written by
:mod:`faceproof.training.fit_calibration`). Its ONNX graph reads one row ``x = [sface, dlib]`` and has three
logistic heads - ``logit_sface`` and ``logit_dlib`` (each model alone) and ``logit_fused`` (both) - because the
three were fitted on the same pairs and their thresholds only mean something together; the operating-point tables
(thresholds per FAR, SFace's uncertain band) are plain numbers in the card's parameters. Thread-safe: loaded once
(lazily, under a lock) into a frozen object; ONNX Runtime sessions may be run from any thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from faceproof.models import artifact
from faceproof.models.lazy import Lazy

ModelName = Literal["fused", "sface", "dlib"]
FaceState = Literal["open", "noisy", "covered"]
#: What a face is read as (:attr:`faceproof.measure.quality.Quality.face_state`): a covered lower face first, then
#: sensor noise.
FACE_STATES: tuple[FaceState, ...] = ("open", "noisy", "covered")
Condition = Literal["open/open", "open/noisy", "open/covered", "noisy/noisy", "noisy/covered", "covered/covered"]
#: Every unordered pair of face states, named in :data:`FACE_STATES` order.
CONDITIONS: tuple[Condition, ...] = (
    "open/open",
    "open/noisy",
    "open/covered",
    "noisy/noisy",
    "noisy/covered",
    "covered/covered",
)
OPEN: Condition = "open/open"
SUPPORTED_FARS: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
DEFAULT_FAR = 1e-3
#: The share of genuine pairs with a photo the quality gate doubts (blurred, small) that may fall below a condition's
#: reject threshold (:attr:`Calibration.reject_below`): the SFace similarity under which such a photo is still
#: answered "different person" rather than "inconclusive". Set on genuine pairs, as the FAR thresholds are on
#: impostors (``training.fit_calibration.reject_thresholds``).
DIFFERENT_PERSON_FRR = 0.01
ARTIFACT = "verification_calibration"
#: The graph heads (output ``logit_<name>``) and the columns of ``x`` each reads.
HEADS = {"sface": ("sface",), "dlib": ("dlib",), "fused": ("sface", "dlib")}


@dataclass(frozen=True)
class MatchDecision:
    """The verdict on one pair of faces (or a probe against a profile's mean similarities).

    ``sface`` and ``dlib`` are the per-model cosine similarities (``dlib`` None when it was not computed);
    ``models_used`` says which score the decision rests on: ``("sface", "dlib")`` for the fusion, ``("sface",)``
    when dlib was not computed (then ``fused_score`` and ``threshold`` are SFace's own calibrated score and
    threshold). ``threshold`` is on the ``fused_score`` scale; ``same_person`` is ``fused_score >= threshold``.
    ``condition`` names whose threshold it is (:data:`CONDITIONS`: the two faces' states). ``reject_below`` is the
    condition's reject threshold (an SFace cosine, :attr:`Calibration.reject_below`).
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
    condition: Condition = OPEN
    reject_below: float = -1.0

    @property
    def clearly_different(self) -> bool:
        """No match, and SFace's similarity below the reject threshold, which nearly every photo of the same person
        exceeds even damaged: "different person" holds however poor the photo (else a miss on a photo the quality
        gate doubts is only "inconclusive")."""
        return not self.same_person and self.sface < self.reject_below

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


def pair_condition(a: str, b: str) -> Condition:
    """The condition of a pair of faces in states ``a`` and ``b`` (:data:`FACE_STATES`, in either order)."""
    if a not in FACE_STATES or b not in FACE_STATES:
        raise ValueError(f"a face state is one of {FACE_STATES}, got {a!r} and {b!r}")
    first, second = sorted((a, b), key=FACE_STATES.index)
    return f"{first}/{second}"  # type: ignore[return-value]


def _check_condition(condition: str) -> str:
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}: one of {CONDITIONS}")
    return condition


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Calibration:
    """Fitted fusion, thresholds and uncertain band. Build with :func:`load_calibration` (or ``from_artifact``).

    Every table is per condition (:data:`CONDITIONS`); methods take the pair's ``condition``
    (:func:`pair_condition`; two open faces by default).
    """

    version: str
    model: artifact.Artifact  # x = [sface, dlib] -> logit_sface, logit_dlib, logit_fused (log-likelihood ratios)
    thresholds: Mapping[str, Mapping[str, Mapping[str, float]]]  # condition -> model -> FAR key -> threshold
    sface_band: Mapping[str, Mapping[str, tuple[float, float]]]  # condition -> FAR key -> (lo, hi) SFace cosines
    sface_threshold_scores: Mapping[str, Mapping[str, float]]  # condition -> FAR key -> SFace's calibrated score
    #: condition -> the SFace cosine under which only DIFFERENT_PERSON_FRR of genuine pairs with a doubted photo fall
    #: (:attr:`MatchDecision.clearly_different`)
    reject_below: Mapping[str, float]
    #: condition -> the model its pairs are decided with: "fused", or "sface" where SFace alone accepted more genuine
    #: pairs than the fusion at the same FAR (the fit's choice; dlib is then neither needed nor read)
    decide_with: Mapping[str, str]

    @classmethod
    def from_artifact(cls, model: artifact.Artifact) -> Calibration:
        """Validate the card's tables and the graph's heads (raises ValueError on a malformed artefact)."""
        raw = model.parameters
        fars = {str(f) for f in SUPPORTED_FARS}
        if not math.isclose(float(raw.get("reject_target_frr", math.nan)), DIFFERENT_PERSON_FRR):
            raise ValueError(
                f"calibration's reject thresholds are not set for DIFFERENT_PERSON_FRR {DIFFERENT_PERSON_FRR}"
            )
        thresholds, bands, rejects, deciders = {}, {}, {}, {}
        for condition in CONDITIONS:
            try:
                rejects[condition] = _check_cosine("reject", raw["reject_below"][condition]["sface"])
                deciders[condition] = str(raw["decide_with"][condition])
                per_model = {
                    name: MappingProxyType({_far_key(float(k)): float(v) for k, v in per_far.items()})
                    for name, per_far in raw["thresholds"][condition].items()
                }
                band = {
                    _far_key(float(k)): (float(v[0]), float(v[1]))
                    for k, v in raw["uncertain_band"][condition]["sface"].items()
                }
            except (KeyError, TypeError, IndexError) as exc:
                raise ValueError(f"malformed calibration ({condition}): {exc!r}") from exc
            for name in HEADS:
                if f"logit_{name}" not in model.output_names or name not in per_model:
                    raise ValueError(f"calibration lacks the {name!r} model or its {condition} thresholds")
                if set(per_model[name]) != fars:
                    raise ValueError(
                        f"calibration lacks {condition} thresholds of {name!r} for some of {SUPPORTED_FARS}"
                    )
            if set(band) != fars:
                raise ValueError(f"calibration lacks SFace's {condition} uncertain band for some supported FAR")
            if deciders[condition] not in ("fused", "sface"):
                raise ValueError(f"calibration decides {condition} with {deciders[condition]!r}: not fused or sface")
            thresholds[condition] = MappingProxyType(per_model)
            bands[condition] = MappingProxyType(band)
        # A linear score must rise with each similarity it reads, or a closer match could score lower.
        origin = _logits(model, 0.0, 0.0)
        for col, step in enumerate(((1.0, 0.0), (0.0, 1.0))):
            stepped = _logits(model, *step)
            for name, reads in HEADS.items():
                if ("sface", "dlib")[col] in reads and not stepped[name] > origin[name]:
                    raise ValueError(f"calibration model {name!r} is not monotone in its similarities")
        sface_scores = {
            condition: MappingProxyType(
                {key: _logits(model, thr, 0.0)["sface"] for key, thr in per_model["sface"].items()}
            )
            for condition, per_model in thresholds.items()
        }
        return cls(
            version=model.card.version,
            model=model,
            thresholds=MappingProxyType(thresholds),
            sface_band=MappingProxyType(bands),
            sface_threshold_scores=MappingProxyType(sface_scores),
            reject_below=MappingProxyType(rejects),
            decide_with=MappingProxyType(deciders),
        )

    def fused_score(self, sface: float, dlib: float | None) -> float:
        """Log-likelihood ratio of "same person" from both cosines, or from SFace's alone when ``dlib`` is None."""
        s = _check_cosine("sface", sface)
        if dlib is None:
            return _logits(self.model, s, math.nan, "sface")["sface"]  # the SFace head never reads the dlib column
        return _logits(self.model, s, _check_cosine("dlib", dlib), "fused")["fused"]

    def match_probability(self, sface: float, dlib: float | None) -> float:
        """Probability of "same person" at even prior odds: sigmoid of :meth:`fused_score`."""
        return _sigmoid(self.fused_score(sface, dlib))

    def threshold(self, far: float, model: ModelName = "fused", condition: str = OPEN) -> float:
        """Score at or above which a pair is accepted at the given FAR: fused score for "fused", cosine otherwise."""
        per_model = self.thresholds[_check_condition(condition)]
        if model not in per_model:
            raise ValueError(f"unknown model {model!r}: one of {sorted(per_model)}")
        return per_model[model][_far_key(far)]

    def strictest_condition(
        self, state: str, others: Iterable[str], far: float = DEFAULT_FAR, model: ModelName = "fused"
    ) -> Condition:
        """The condition a face in ``state`` is decided at against photos in the states ``others`` (a profile's
        enrolment photos; none: one open photo): of the pairs' conditions, the one with the highest ``model``
        threshold at ``far`` (fused for verification, SFace for the 1:N search), so that a similarity over photos
        of several states is held to the target FAR of each."""
        key = _far_key(far)
        conditions = {pair_condition(state, other) for other in others} or {pair_condition(state, "open")}
        return max(sorted(conditions), key=lambda c: self.thresholds[c][model][key])

    def needs_second_model(self, sface: float, far: float = DEFAULT_FAR, condition: str = OPEN) -> bool:
        """True when SFace's cosine lies in the uncertain band, where dlib's score may change the decision; never
        for a condition decided with SFace alone (:attr:`decide_with`)."""
        condition = _check_condition(condition)
        if self.decide_with[condition] == "sface":
            return False
        lo, hi = self.sface_band[condition][_far_key(far)]
        return lo <= _check_cosine("sface", sface) <= hi

    def decide(
        self, sface: float, dlib: float | None, far: float = DEFAULT_FAR, condition: str = OPEN
    ) -> MatchDecision:
        """Same person or not at the operating point ``far`` of the pair's condition, with the fusion when dlib's
        cosine is given.

        Without dlib the decision is SFace's own (its calibrated score against its own threshold). That equals the
        fused decision on >= 99.5 % of pairs whenever :meth:`needs_second_model` is False. A condition decided
        with SFace alone (:attr:`decide_with`) ignores ``dlib``.
        """
        key = _far_key(far)
        condition = _check_condition(condition)
        if self.decide_with[condition] == "sface":
            dlib = None
        score = self.fused_score(sface, dlib)
        if dlib is None:
            models_used: tuple[str, ...] = ("sface",)
            thr = self.sface_threshold_scores[condition][key]
        else:
            models_used = ("sface", "dlib")
            thr = self.thresholds[condition]["fused"][key]
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
            condition=condition,  # type: ignore[arg-type]
            reject_below=self.reject_below[condition],
        )


def _logits(model: artifact.Artifact, sface: float, dlib: float, *heads: str) -> dict[str, float]:
    """The logits of ``heads`` (default: all) for one pair of cosines."""
    names = heads or tuple(HEADS)
    out = model.run({"x": np.array([[sface, dlib]], np.float64)}, [f"logit_{h}" for h in names])
    return {h: float(out[f"logit_{h}"][0]) for h in names}


_cached: Lazy[Calibration] = Lazy(lambda: Calibration.from_artifact(artifact.load(ARTIFACT)))


def load_calibration() -> Calibration:
    """The shipped calibration (the ``verification_calibration`` artefact), read once per process."""
    return _cached.get()
