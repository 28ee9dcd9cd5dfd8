"""What faceproof says about its decisions, and in what colour: the one module where verdicts become words.

Every headline, sentence and tone a person reads - the API's ``reasons``, ``headline``, each finding's, match's and
candidate's ``tone`` and ``sentence``, the captions of the evidence pictures, the web page, the CLI's output and the
evaluation report's Markdown - is made here, from the decision objects, with the number and the threshold it was
judged against. Nothing here decides anything; the words follow the decision:

- a **finding**'s tone is ``warn`` when its score is on the flagged side of its operating point, ``pass`` below it,
  ``neutral`` when the signal could see nothing (confidence 0). The operating point is 0.5 for every signal by
  construction (each scales its score so that 0.5 is where it flags), so the sentence's lead ("points to a face
  swap" / "no sign of a face swap") and its colour cannot disagree with the score;
- a **match**'s tone is ``pass`` exactly when ``same_person`` (fused score >= threshold), else ``fail``, and its
  words say "matches" only then;
- a **verdict**'s tone is fixed by the verdict (``genuine`` and ``likely_real`` pass, ``different_person`` fail,
  ``suspected_fake`` warn, ``inconclusive`` neutral); a headline claims a match only when the match decision says
  so, and a real photo only when authenticity says ``likely_real``;
- a number is printed beside its threshold with the comparison that holds and as many digits as it takes for the
  printed numbers to show it too (``0.4996 < 0.5000``, never ``0.50 < 0.50``).

``tests/test_wording_consistency.py`` checks these on the real outputs of the development set, clean and damaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from faceproof.authenticity.base import Finding
from faceproof.decision.calibration import DIFFERENT_PERSON_FRR, MatchDecision
from faceproof.measure.quality import Quality

if TYPE_CHECKING:  # both modules word their reasons through this one
    from faceproof.authenticity.engine import AuthenticityReport
    from faceproof.decision.verify import VerifyOutcome

Tone = Literal["pass", "warn", "fail", "neutral"]

#: Where every finding's score flags (see the module docstring).
FINDING_OPERATING_POINT = 0.5
#: Most digits a comparison is printed with to make the printed numbers show it.
MAX_DIGITS = 6

VERDICT_TITLES = {
    "genuine": "Genuine",
    "different_person": "Different person",
    "suspected_fake": "Suspected fake",
    "inconclusive": "Inconclusive",
    "likely_real": "Likely real",
}
VERDICT_TONES: dict[str, Tone] = {
    "genuine": "pass",
    "likely_real": "pass",
    "different_person": "fail",
    "suspected_fake": "warn",
    "inconclusive": "neutral",
}
#: What each kind of fake looks like, in words.
KIND_WORDS = {
    "generated": "an AI-generated face",
    "swapped": "a face swap",
    "recaptured": "a photo of a screen or a print",
    "edited": "an edited photo",
}
SIGNAL_NAMES = {
    "frequency": "Frequency spectrum",
    "noise": "Sensor noise",
    "recapture": "Screen or print pattern",
    "blending": "Blending boundary",
    "physiology": "Eyes",
    "learned": "Learned probe",
    "generated_net": "Generated-face detector",
    "replay_net": "Replay detector",
    "provenance": "Provenance",
    "consistency": "Face-swap check",
    "reality_baseline": "Reality baseline",
}


@dataclass(frozen=True)
class Statement:
    """One sentence (with the number it is about and the threshold that number was judged against) and its colour."""

    text: str
    tone: Tone


@dataclass(frozen=True)
class Headline:
    """What a result says first: a word or two (``title``), a sentence, and the colour of both."""

    title: str
    text: str
    tone: Tone


def verdict_title(verdict: str) -> str:
    """A verdict (or an evaluation's tally key such as ``failed``) in the words a result is headed with."""
    return VERDICT_TITLES.get(verdict, human(verdict).capitalize())


# ---------------------------------------------------------------- numbers


def compared(value: float, threshold: float, *, digits: int = 2, percent: bool = False) -> tuple[str, str, str]:
    """``value``, the comparison that holds (``≥`` or ``<``) and ``threshold``, printed with ``digits`` decimals or
    as many more as it takes for the printed numbers to show the same comparison."""
    above = value >= threshold
    scale, unit = (100.0, " %") if percent else (1.0, "")
    d = digits
    while d < MAX_DIGITS and not _shows(f"{value * scale:.{d}f}", f"{threshold * scale:.{d}f}", above):
        d += 1
    return f"{value * scale:.{d}f}{unit}", "≥" if above else "<", f"{threshold * scale:.{d}f}{unit}"


def _shows(value: str, threshold: str, above: bool) -> bool:
    return float(value) >= float(threshold) if above else float(value) < float(threshold)


def _probability_digits(p: float) -> int:
    """Enough decimals of a percentage to tell 99.997 % from 100 % and 0.004 % from 0 %."""
    return 3 if p > 0.999 or p < 0.001 else 1


def human(code: str) -> str:
    """A machine word (``low_sharpness``) as words (``low sharpness``)."""
    return code.replace("_", " ")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


# ---------------------------------------------------------------- identity


def _probability_threshold(match: MatchDecision) -> float:
    """The match threshold on the probability scale (``threshold`` is on the fused-score scale, whose sigmoid is
    ``match_probability``)."""
    return _sigmoid(match.threshold)


def _match_numbers(match: MatchDecision) -> str:
    t = _probability_threshold(match)
    v, op, th = compared(match.match_probability, t, digits=_probability_digits(match.match_probability), percent=True)
    return f"match probability {v} {op} {th}"


#: How the operating point is named per condition of the pair (:data:`faceproof.decision.calibration.CONDITIONS`).
CONDITION_WORDS = {
    "open/open": "",
    "open/noisy": ", threshold for a noisy face",
    "open/covered": ", threshold for a covered lower face",
    "noisy/noisy": ", threshold for two noisy faces",
    "noisy/covered": ", threshold for a noisy face and a covered lower face",
    "covered/covered": ", threshold for two covered lower faces",
}
#: A face state as the quality headline names the threshold it is decided at.
STATE_WORDS = {"noisy": "a noisy face", "covered": "a covered lower face"}


def operating_point(m: MatchDecision) -> str:
    """``FAR 0.001``, and whose threshold it is when a lower face was covered."""
    return f"FAR {m.far:g}{CONDITION_WORDS[m.condition]}"


def match(m: MatchDecision) -> Statement:
    """The identity decision in one line: ``pass`` exactly when it is the same person."""
    words = "same person" if m.same_person else "not the same person"
    return Statement(f"{words}: {_match_numbers(m)} at {operating_point(m)}", "pass" if m.same_person else "fail")


def candidate(similarity: float, threshold: float, above_threshold: bool) -> Statement:
    """One candidate of a 1:N search: a match when its SFace similarity reaches the threshold."""
    v, op, th = compared(similarity, threshold, digits=3)
    words = "match" if above_threshold else "no match"
    return Statement(f"{words} (similarity {v} {op} {th})", "pass" if above_threshold else "fail")


def compare_headline(m: MatchDecision, usable: bool) -> Headline:
    """Two photos, one question: the same person?"""
    if m.same_person:
        return Headline("Same person", f"The two faces are the same person ({_match_numbers(m)}).", "pass")
    if usable:
        return Headline("Different people", f"The two faces are different people ({_match_numbers(m)}).", "fail")
    if m.clearly_different:
        return Headline(
            "Different people",
            f"The two faces are different people ({_match_numbers(m)}): a photo is poor, but the faces are further "
            "apart than poor photos of one person come.",
            "fail",
        )
    return Headline(
        VERDICT_TITLES["inconclusive"],
        f"The faces do not match ({_match_numbers(m)}), but a photo is too poor to tell different people from a "
        "poor photo of the same one.",
        "neutral",
    )


def reason_unusable_photo(number: int, quality_reasons: Sequence[str]) -> str:
    """Why one of two compared photos cannot carry a "different people" answer."""
    return f"image {number}: " + ", ".join(quality_reasons)


# ---------------------------------------------------------------- enrolment refusals


def refusal_unusable(index: int, quality_reasons: Sequence[str]) -> str:
    return f"Photo {index + 1} is not usable for enrolment: {', '.join(quality_reasons)}."


def refusal_fake(index: int, report: AuthenticityReport) -> str:
    return f"Photo {index + 1} looks like a {report.suspected_kind or 'fake'} image, not a real photo: " + "; ".join(
        report.reasons
    )


def refusal_identity(index: int, m: MatchDecision) -> str:
    """A photo that is not the enrolled person: its match probability beside the one it had to reach."""
    return f"Photo {index + 1} does not show the enrolled person ({_match_numbers(m)} at {operating_point(m)})."


# ---------------------------------------------------------------- photo quality


def quality(q: Quality) -> Headline:
    """Whether the photo can be used for identity, and if not why; a photo that cannot be enrolled but is still
    decided as a probe (its only reasons have a calibrated condition: a covered lower face, sensor noise) says
    both."""
    if not q.usable_for_identity and q.usable_for_verification:
        reasons = ", ".join(human(r) for r in q.reasons)
        return Headline(
            "Probe only",
            f"The photo is not usable for enrolment: {reasons}. A verification still decides it, at the threshold "
            f"for {STATE_WORDS[q.face_state]}.",
            "warn",
        )
    return usability(q.usable_for_identity, q.reasons)


def usability(usable: bool, reasons: Sequence[str]) -> Headline:
    """:func:`quality` from what an enrolment photo's stored record keeps: whether it is usable, and why not."""
    if usable:
        return Headline("Usable", "The photo is usable for identity.", "pass")
    return Headline(
        "Not usable", f"The photo is not usable for identity: {', '.join(human(r) for r in reasons)}.", "warn"
    )


# ---------------------------------------------------------------- authenticity


def finding_tone(f: Finding) -> Tone:
    if f.confidence <= 0.0:
        return "neutral"
    return "warn" if f.score >= FINDING_OPERATING_POINT else "pass"


def _finding_lead(f: Finding) -> Statement:
    """What a finding points to, with its score against the operating point (or that it saw nothing)."""
    tone = finding_tone(f)
    if tone == "neutral":
        return Statement("no evidence either way", tone)
    v, op, th = compared(f.score, FINDING_OPERATING_POINT)
    lead = f"points to {KIND_WORDS[f.kind]}" if tone == "warn" else f"no sign of {KIND_WORDS[f.kind]}"
    return Statement(f"{lead} (score {v} {op} {th})", tone)


def finding(f: Finding) -> Statement:
    """One signal's finding: what it points to (or that it points to nothing), its score against the operating
    point, and the signal's own account of what it saw."""
    lead = _finding_lead(f)
    return Statement(f"{SIGNAL_NAMES.get(f.signal, human(f.signal))}: {lead.text} — {f.message}", lead.tone)


# ---------------------------------------------------------------- a profile's reality baseline

REALITY_BASELINE_TITLE = SIGNAL_NAMES["reality_baseline"]


def reality_baseline_legend(z: float) -> str:
    """What the plot of a profile's reality baseline shows (its bands are ``mean ± z × spread``)."""
    return (
        "Each dot is one enrolment photo's value of an authenticity feature, on a scale of the training images' "
        "standard deviation centred on the median real photo (the line). The band is where a new photo's value "
        f"stays consistent with the enrolment photos: within {z:g} spreads of their mean, a spread being the larger "
        "of their own standard deviation and the training images'. A new photo outside a band is reported, never "
        "judged a fake for that alone."
    )


def feature_label(signal: str, feature: str) -> str:
    """An authenticity feature under the name of the signal that measures it (``Sensor noise · noise_level``)."""
    return f"{SIGNAL_NAMES.get(signal, human(signal))} · {feature}"


# ---------------------------------------------------------------- evidence pictures

#: What each kind of evidence picture shows (faceproof.authenticity.evidence), under its colour scale.
EVIDENCE_LEGENDS = {
    "activation": "where the detector's evidence lies (its class-activation map)",
    "boundary": "where the face has less fine noise than its own outer skin (pasted or resampled)",
    "spectrum": "the spectrum's periodic peaks (a screen's or a printer's grid)",
    "mesh": "the measured face mesh",
}
#: The ends of an evidence picture's colour scale.
EVIDENCE_SCALE = ("none", "strong")
GEOMETRY_TITLE = "Geometry"


def evidence_caption(f: Finding, kind: str) -> Headline:
    """The words under an evidence picture: the finding it explains (the signal's name, what the finding points
    to, its score against the operating point) and what the picture shows; in the finding's colour."""
    lead = _finding_lead(f)
    return Headline(SIGNAL_NAMES.get(f.signal, human(f.signal)), f"{lead.text}; {EVIDENCE_LEGENDS[kind]}", lead.tone)


def geometry_caption(outside: Sequence[str], compared_count: int) -> Headline:
    """The words under the mesh that verification's geometry check read: the measurements outside the person's
    own spread (``warn``), or that all of them were within it (``pass``)."""
    if outside:
        return Headline(GEOMETRY_TITLE, f"{reason_geometry(outside)}; {EVIDENCE_LEGENDS['mesh']}", "warn")
    text = f"all {compared_count} measurements within the person's own spread; {EVIDENCE_LEGENDS['mesh']}"
    return Headline(GEOMETRY_TITLE, text, "pass")


def _kind_words(kind: str | None) -> str:
    return KIND_WORDS.get(kind or "", "a fake")


def _fake_numbers(report: AuthenticityReport) -> str:
    p = report.fake_probability
    v, op, th = compared(p, report.threshold, digits=_probability_digits(p), percent=True)
    return f"fake probability {v} {op} {th}"


def authenticity_headline(report: AuthenticityReport) -> Headline:
    """Is it a real camera photo of a real face?"""
    title, tone = VERDICT_TITLES[report.verdict], VERDICT_TONES[report.verdict]
    if report.verdict == "likely_real":
        return Headline(title, f"Looks like a real camera photo ({_fake_numbers(report)}).", tone)
    if report.verdict == "suspected_fake":
        text = f"Looks like {_kind_words(report.suspected_kind)}, not a real photo ({_fake_numbers(report)})."
        return Headline(title, text, tone)
    return Headline(
        title,
        f"Neither flagged nor vouched for ({_fake_numbers(report)}): the photo is too poor for the detectors to "
        "decide.",
        tone,
    )


# The reasons of an authenticity verdict, one per rule that fired (engine.assess calls these as it decides).


def reason_flagged_by(f: Finding) -> str:
    """A finding that decided on its own (declared provenance, a decisive profile check, a crop detector)."""
    return f"{f.signal}: {f.message}"


def reason_not_decisive(f: Finding, limits: Sequence[str]) -> str:
    return f"{f.signal}: {f.message}; not decisive on this photo ({', '.join(limits)})"


def reason_fused_flagged(kind: str | None, probability: float, threshold: float, strongest: str) -> str:
    v, op, th = compared(probability, threshold)
    return f"{kind} fake probability {v} {op} threshold {th}; strongest signal: {strongest}"


def reason_cannot_vouch(blocking: Sequence[str]) -> str:
    return "not flagged, but the face is not clear enough to vouch for it: " + ", ".join(blocking)


def reason_not_flagged(probability: float, threshold: float) -> str:
    v, op, th = compared(probability, threshold)
    return f"fused fake probability {v} {op} threshold {th}"


# ---------------------------------------------------------------- verification


def verify_headline(outcome: VerifyOutcome) -> Headline:
    """The verdict of a verification in a sentence: identity first, then what authenticity allows to be said."""
    m, a = outcome.match, outcome.authenticity
    title, tone = VERDICT_TITLES[outcome.verdict], VERDICT_TONES[outcome.verdict]
    identity = f"The face {'matches' if m.same_person else 'does not match'} the profile ({_match_numbers(m)})"
    if outcome.verdict == "suspected_fake":
        fake = f"The image looks like {_kind_words(a.suspected_kind if a else None)}, not a real photo"
        if a is not None:
            fake += f" ({_fake_numbers(a)})"
        return Headline(title, f"{fake}; {identity[0].lower()}{identity[1:]}.", tone)
    if outcome.verdict == "inconclusive":
        # decide_verdict's two ways to it: a match whose swap check fired on a photo too damaged for it to decide,
        # and no match on a photo too poor to tell another person from a poor photo of this one.
        doubt = (
            "but a face swap cannot be ruled out on this photo"
            if m.same_person
            else "but the photo is too poor to say it is someone else"
        )
        return Headline(title, f"{identity}, {doubt}.", tone)
    if outcome.verdict == "genuine" and a is not None:
        if a.verdict == "likely_real":
            return Headline(title, f"{identity}, in what looks like a real photo.", tone)
        return Headline(title, f"{identity}; the photo is too poor to check its authenticity.", tone)
    return Headline(title, f"{identity}.", tone)


# The reasons of a verification verdict (decide_verdict calls these as it decides).


def reason_suspected(report: AuthenticityReport) -> str:
    return f"suspected {report.suspected_kind or 'fake'}: " + "; ".join(report.reasons)


def reason_identity_beside_fake(m: MatchDecision) -> str:
    return (
        f"identity {'matches' if m.same_person else 'does not match'} the profile "
        f"(probability {m.match_probability:.3f})"
    )


def reason_swap_unresolved(doubt: Finding) -> str:
    return f"identity matches, but a face swap cannot be ruled out on this photo: {doubt.message}"


def reason_identity_match(m: MatchDecision) -> str:
    v, op, th = compared(m.fused_score, m.threshold, digits=3)
    return (
        f"identity match: probability {m.match_probability:.3f}, fused score {v} {op} threshold {th} "
        f"({operating_point(m)})"
    )


def reason_matched_despite(quality_reasons: Sequence[str]) -> str:
    return "matched despite photo quality issues: " + ", ".join(quality_reasons)


def reason_unusable_no_match(quality_reasons: Sequence[str]) -> str:
    return "no match, but the photo is not usable for identity: " + ", ".join(quality_reasons)


def reason_clear_miss_despite(m: MatchDecision, quality_reasons: Sequence[str]) -> str:
    """Why a miss on a photo the quality gate doubts is still "different person"."""
    v, op, th = compared(m.sface, m.reject_below, digits=3)
    return (
        f"different despite photo quality issues ({', '.join(quality_reasons)}): SFace similarity {v} {op} {th}, "
        f"under which {DIFFERENT_PERSON_FRR * 100:g} % of poor photos of the same person fall"
    )


def reason_no_match(m: MatchDecision) -> str:
    v, op, th = compared(m.fused_score, m.threshold, digits=3)
    return f"no identity match: fused score {v} {op} threshold {th} ({operating_point(m)})"


def reason_geometry(measurements: Sequence[str]) -> str:
    return f"geometry outside the person's own spread: {', '.join(measurements)}"
