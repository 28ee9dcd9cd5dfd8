"""Run every authenticity signal on an analysed image and decide: ``likely_real``, ``suspected_fake`` or
``inconclusive``, with a calibrated ``fake_probability``, the suspected kind of fake, and one finding per signal.

Decision rules, in order (each is stated in the report's ``reasons``):

1. **Provenance that declares AI** (C2PA / IPTC ``trainedAlgorithmicMedia``, generator PNG chunks) is decisive:
   nobody stamps "AI-generated" on a real photo. Camera EXIF, by contrast, is only weak evidence (trivial to forge)
   and missing metadata is never evidence at all.
2. **The learned crop detectors** (:mod:`~faceproof.authenticity.generated_net` and
   :mod:`~faceproof.authenticity.replay_net`; the fine-tuned swap detector is not shipped: it stayed near chance
   on swap methods it never saw, docs/authenticity.md) flag on their own, at their own operating threshold (the
   logit that flags 1 % of held-out real photos of people never trained on, clean and damaged): each was
   validated at that point on thousands of people, which the dev-set fusion cannot match. Only when the face is
   large enough for them to see (confidence >= 0.5), and only on a photo without quality problems or heavy
   sensor noise: there blur and noise alone can cross their threshold, so a detection makes the verdict
   ``inconclusive`` instead.
3. **The fused probability** of the pixel signals (:mod:`faceproof.authenticity.fusion`) against its threshold,
   chosen so that 1 % of real photos - including resized, recompressed and cropped ones - are flagged.
4. **Low quality is not a clean bill of health**: a photo whose face the detectors cannot judge (blurred, tiny, no
   mesh, badly exposed: ``CANNOT_VOUCH``, ``VOUCH_MIN_SHARPNESS``) and that is not flagged is ``inconclusive``,
   never silently ``likely_real``. A face cut by the border, closed eyes or a turned head limit *identity*, not
   this: the crop detectors were validated on crops through the face, and on the held-out corpus those reasons
   alone made a third of tightly cropped real photos "inconclusive" (docs/authenticity.md). Nor may the cut
   itself pass for blur or a small face: on a cut face, blur and size are judged at the whole face's estimated
   size (:func:`vouch_blockers`). A missing mesh still withholds the word on a cut face: without it the
   blending and physiology signals are silent, and without them 12 of the 62 flagged held-out fakes lose the
   flag, 11 of the 13 flagged when cut through the face.

Profile-conditioned findings (face-swap consistency, reality baseline) are added by verification, which has the
profile; they can only raise suspicion.

When several rules flag, each is stated in the reasons, and the suspected kind is that of the strongest evidence
(the declared kind when the metadata declares AI): a screen replay of the enrolled person also changes the outer
face, so the swap check may fire beside the recapture signal, and the kind must not depend on which rule was
asked first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from faceproof.analysis import Analysis
from faceproof.authenticity import (
    blending,
    consistency,
    frequency,
    generated_net,
    learned,
    noise,
    physiology,
    provenance,
    recapture,
    replay_net,
)
from faceproof.authenticity.base import FakeKind, Finding, SignalInput
from faceproof.authenticity.fusion import load_fusion
from faceproof.decision import wording
from faceproof.detect import whole_face_size
from faceproof.measure.quality import MIN_BOX_PX, MIN_IPD_PX, cut_face_sharpness

AuthVerdict = Literal["likely_real", "suspected_fake", "inconclusive"]

#: The single-image signals, in report order. Each is ``analyze(SignalInput) -> Finding``.
SIGNALS: tuple[Callable[[SignalInput], Finding], ...] = (
    frequency.analyze,
    noise.analyze,
    recapture.analyze,
    blending.analyze,
    physiology.analyze,
    learned.analyze,
    generated_net.analyze,
    replay_net.analyze,
    provenance.analyze,
)
#: Signals that flag on their own at their own operating point (score >= 0.5), outside the fusion.
SELF_DECIDING = (generated_net.SIGNAL, replay_net.SIGNAL)
#: A provenance score at or above this means the metadata itself declares AI generation or AI compositing.
PROVENANCE_DECISIVE = 0.9
#: A profile-conditioned finding at or above this score (with confidence >= DECISIVE_CONFIDENCE) flags the image
#: on its own.
CONDITIONED_DECISIVE = 0.5
DECISIVE_CONFIDENCE = 0.5
#: Quality problems under which an unflagged face is not vouched for (the others limit identity only).
CANNOT_VOUCH = frozenset({"face_too_small", "no_mesh", "underexposed", "overexposed"})
#: Face sharpness (:func:`faceproof.measure.quality.sharpness`) under which an unflagged face is not vouched for:
#: blur hides what the detectors look for. Lower than identity's ``MIN_SHARPNESS`` (60, set on the dev set's
#: studio photos): on 25 held-out real photos per source, clean photos of soft sources (LFW, UTKFace) had a 10th
#: percentile of 31 and a median of 54-60, so identity's bar called half of them blurred; their Gaussian-blurred
#: copies (sigma 1-3 % of the face width) stayed below 19 at the 90th percentile (dev photos 47, Face-Mask 75).
VOUCH_MIN_SHARPNESS = 30.0


def vouch_blockers(analysis: Analysis) -> list[str]:
    """The quality problems under which an unflagged face is not vouched for (rule 4): those of
    :data:`CANNOT_VOUCH` and a face sharpness under :data:`VOUCH_MIN_SHARPNESS` (``low_sharpness``).

    On a face cut by the image border (``face_cut_by_border``) blur and size are judged at the whole face's
    estimated size (:func:`~faceproof.detect.whole_face_size`, which errs towards a smaller face), not
    at the box of what the cut left: the cut shortens the box, and a shortened box made the same pixels read
    blurred (:func:`~faceproof.measure.quality.cut_face_sharpness`) and the face too small, while the crop
    detectors were validated on such crops. The eyes' distance is still required, and the other reasons are
    unchanged; a face not cut by the border is judged exactly as before. On the 475 held-out real photos cut
    through the face this took "inconclusive" from 70 to 58 (docs/authenticity.md).
    """
    s = analysis.subject
    q = s.quality
    blocking = [r for r in q.reasons if r in CANNOT_VOUCH]
    sharp = q.sharpness
    if "face_cut_by_border" in q.reasons:
        sharp = cut_face_sharpness(analysis.image.rgb, s.face.box)
        width, height = whole_face_size(s.face.box)
        if "face_too_small" in blocking and q.ipd_px >= MIN_IPD_PX and min(width, height) >= MIN_BOX_PX:
            blocking.remove("face_too_small")
    if sharp < VOUCH_MIN_SHARPNESS:
        blocking.append("low_sharpness")
    return blocking


@dataclass(frozen=True)
class AuthenticityReport:
    verdict: AuthVerdict
    fake_probability: float
    threshold: float
    suspected_kind: FakeKind | None
    findings: list[Finding]
    contributions: dict[str, float]
    kind_probabilities: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    model_version: str = ""


def signal_input(analysis: Analysis) -> SignalInput:
    """The signals' input for the analysed face, with what the analysis computed for them already in its memo (the
    learned probe's pooled SFace activations, from the identity pass; the crop backbone's pass, from the cover
    reading)."""
    s = analysis.subject
    inp = SignalInput(
        rgb=analysis.image.rgb,
        face_box=s.face.box,
        keypoints=s.face.keypoints,
        landmarks=s.landmarks,
        metadata=analysis.image.metadata,
    )
    if s.probe_features is not None:
        inp.memo.put(learned.PROBE_MEMO, s.probe_features)
    if s.cover is not None:  # the crop backbone's pass, made for the cover reading: the crop detectors read it too
        inp.memo.put(s.cover.key, s.cover.backbone)
    return inp


def measure_signals(analysis: Analysis) -> list[Finding]:
    inp = signal_input(analysis)
    return [signal(inp) for signal in SIGNALS]


def feature_values(findings: list[Finding]) -> dict[str, float]:
    values: dict[str, float] = {}
    for f in findings:
        values.update(f.features)
    return values


def assess(
    analysis: Analysis, findings: list[Finding] | None = None, conditioned: list[Finding] | None = None
) -> AuthenticityReport:
    """The authenticity verdict of one analysed image (plus any profile-conditioned findings).

    ``findings`` may be passed when the caller already ran :func:`measure_signals` (verification does, to compare
    the features with the profile's reality baseline first).
    """
    findings = findings if findings is not None else measure_signals(analysis)
    model = load_fusion()
    values = feature_values(findings)
    fused = model.evaluate(values)
    probability, parts = fused.fake_probability, fused.contributions
    conditioned = conditioned or []
    reasons: list[str] = []
    kind: FakeKind | None = None

    flags: list[tuple[float, FakeKind]] = []  # every rule that flags: its probability and kind
    declared = [f for f in findings if f.signal == provenance.SIGNAL and f.score >= PROVENANCE_DECISIVE]
    if declared:
        flags.append((declared[0].score, declared[0].kind))
        reasons.append(wording.reason_flagged_by(declared[0]))
    decisive = [f for f in conditioned if f.score >= CONDITIONED_DECISIVE and f.confidence >= DECISIVE_CONFIDENCE]
    if decisive:
        worst = max(decisive, key=lambda f: f.score)
        flags.append((worst.score, worst.kind))
        reasons.append(wording.reason_flagged_by(worst))
    detected = [
        f for f in findings if f.signal in SELF_DECIDING and f.score >= 0.5 and f.confidence >= DECISIVE_CONFIDENCE
    ]
    quality = analysis.subject.quality
    limits = consistency.check_limits(quality.reasons, values)
    unresolved = False
    if detected:
        worst = max(detected, key=lambda f: f.score)
        if limits:  # blur, noise or a cut face alone push these detectors over their threshold (docs/authenticity.md)
            unresolved = not flags
            if unresolved:
                reasons.append(wording.reason_not_decisive(worst, limits))
        else:
            flags.append((worst.score, worst.kind))
            reasons.append(wording.reason_flagged_by(worst))
    if probability >= model.threshold and probability >= max((p for p, _ in flags), default=0.0):
        # stated only when it is the strongest evidence: the report's fake_probability is the strongest flag's,
        # and a reason must not print another fake probability beside it (the fused kind's own probability is
        # still in kind_probabilities)
        flags.append((probability, fused.kind))  # type: ignore[arg-type]
        top = max(parts, key=lambda s: parts[s])
        reasons.append(wording.reason_fused_flagged(fused.kind, probability, model.threshold, top))
    flagged = bool(flags)
    if flagged:
        # the declared kind when metadata declares AI; otherwise the kind of the strongest evidence
        kind = declared[0].kind if declared else max(flags, key=lambda f: f[0])[1]
        probability = max(probability, *(p for p, _ in flags))
    if flagged:
        verdict: AuthVerdict = "suspected_fake"
    elif unresolved:
        verdict = "inconclusive"
    elif blocking := vouch_blockers(analysis):
        verdict = "inconclusive"
        reasons.append(wording.reason_cannot_vouch(blocking))
    else:
        verdict = "likely_real"
        reasons.append(wording.reason_not_flagged(probability, model.threshold))
    return AuthenticityReport(
        verdict=verdict,
        fake_probability=probability,
        threshold=model.threshold,
        suspected_kind=kind,
        findings=[*findings, *conditioned],
        contributions={k: round(v, 4) for k, v in parts.items()},
        kind_probabilities={k: round(v, 4) for k, v in fused.kind_probabilities.items()},
        reasons=reasons,
        model_version=model.version,
    )
