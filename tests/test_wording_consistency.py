"""No headline, sentence or colour contradicts its verdict or its own number (issue 17).

A property test over real outputs, not a list of strings: every image of the development set, clean and damaged,
goes through the real models into the API's answers of analyze, authenticity and verify (against a profile of the
same person made from another of their photos, and against another person), and the ``check_*`` functions below
state what must hold between the words, the tones and the numbers of each answer. They restate the rules of
:mod:`faceproof.decision.wording` from the decision fields instead of asking that module, so a wrong rule there
shows up here; ``test_the_checker_reports_planted_contradictions`` plants the bugs the issue cites and shows that
they are caught.

Cost (about two minutes on one core): each image is analysed once clean and once under one damage, and each
analysis serves all three answers. The damage of an image is drawn by a seeded round-robin over the damage kinds of
``faceproof eval --damage`` (faceproof.training.augment.DEGRADATIONS), separately for real and generated images,
so every kind damages about 7 real photos and 17 generated faces. ``FACEPROOF_WORDING_EVERY_DAMAGE=1`` runs the
full cross product instead (every image under every damage, about ten times as long); its last result is in
docs/decisions.md.
"""

from __future__ import annotations

import math
import os
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceproof.analysis import Analysis, analyze
from faceproof.api import examples
from faceproof.api.schemas import (
    AnalyzeResponse,
    AuthenticityOut,
    CompareResponse,
    FindingOut,
    IdentifyResponse,
    MatchOut,
    VerifyResponse,
)
from faceproof.authenticity.base import Finding
from faceproof.authenticity.engine import assess
from faceproof.config import Settings
from faceproof.decision import wording
from faceproof.errors import FaceproofError
from faceproof.evaluation.damage import damaged
from faceproof.evaluation.manifest import ManifestRow, read_manifest
from faceproof.measure.quality import CALIBRATED_REASONS
from faceproof.service import Probe, Service, VerifyResult, new_image, prepare_probe, verify_probe
from faceproof.storage import ProfileRecord
from faceproof.training.augment import DEGRADATIONS

FAR = 1e-3
SEED = 17
#: The tone each verdict is drawn in (the page's colour for it).
VERDICT_TONE = {
    "genuine": "pass",
    "likely_real": "pass",
    "different_person": "fail",
    "suspected_fake": "warn",
    "inconclusive": "neutral",
}
#: A finding flags at this score, whatever the signal.
FINDING_THRESHOLD = 0.5

NUMBER = r"-?\d+(?:\.\d+)?"
COMPARISON = re.compile(
    rf"(?P<a>{NUMBER})(?P<pa> ?%)? (?P<op>≥|>=|<|>|≤|<=) (?:threshold )?(?P<b>{NUMBER})(?P<pb> ?%)?"
)
#: Words that deny evidence ("no seam", "not of a generated image", "consistent", "agree") and words that claim it.
CLEAR_WORDS = re.compile(r"\b(no|not|nothing|consistent|agree|agrees)\b", re.IGNORECASE)
FLAG_WORDS = re.compile(
    r"\b(points to|swap|swapped|ai-generated|generated image|seam|inconsistent|noisier|smoother|moire|half-tone|"
    r"up-sampling|unusually|labelled as|invalid|edited|photographed from|standard deviations)\b",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(no|not|never|cannot|neither|nor)\b|n't\b", re.IGNORECASE)
MATCH_CLAIM = re.compile(r"\bmatch(?:es)?\b(?! probability)")
REAL_CLAIM = re.compile(r"\breal\b")


# ---------------------------------------------------------------- the invariants, as functions over answers


def _polarities(text: str, claim: re.Pattern[str]) -> list[bool]:
    """For each place ``text`` makes the claim: True when it asserts it, False when its clause negates it."""
    out = []
    for m in claim.finditer(text):
        clause = re.split(r"[.;,:()—]", text[: m.start()])[-1]
        out.append(not NEGATION.search(clause))
    return out


def _close(printed: str, value: float, *, percent: bool = False, field_digits: int = 4) -> bool:
    """Whether ``printed`` is ``value`` at its printed precision (allowing for the API's own rounding of the field
    to ``field_digits`` decimals)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    scale = 100.0 if percent else 1.0
    slack = 0.5 * 10.0**-decimals + 0.5 * 10.0**-field_digits * scale + 1e-9
    return abs(float(printed) - value * scale) <= slack


def check_comparisons(text: str, where: str) -> list[str]:
    """Every printed comparison holds for the printed numbers: never ``0.50 < 0.50``."""
    problems = []
    for m in COMPARISON.finditer(text):
        a, b, op = float(m["a"]), float(m["b"]), m["op"]
        holds = {"≥": a >= b, ">=": a >= b, ">": a > b, "<": a < b, "≤": a <= b, "<=": a <= b}[op]
        if not holds:
            problems.append(f"{where}: the printed comparison {m[0]!r} is false: {text!r}")
    return problems


def check_labelled(
    text: str,
    label: str,
    value: float,
    threshold: float,
    above: bool,
    where: str,
    *,
    percent: bool = False,
    field_digits: int = 4,
) -> list[str]:
    """Each ``<label> a ≥|< b`` in ``text`` prints ``value`` and ``threshold`` at its precision, with the comparison
    that the decision made (``above``: the value is on or above its threshold)."""
    problems = []
    after = r"(?<!fused )" if label == "score" else ""  # "score" alone is a finding's, not the fused score
    pattern = re.compile(rf"{after}{re.escape(label)} {COMPARISON.pattern}")
    for m in pattern.finditer(text):
        if not _close(m["a"], value, percent=percent, field_digits=field_digits):
            problems.append(f"{where}: {label} printed {m['a']} but the field is {value!r}: {text!r}")
        if not _close(m["b"], threshold, percent=percent, field_digits=field_digits):
            problems.append(f"{where}: {label} threshold printed {m['b']} but it is {threshold!r}: {text!r}")
        if (m["op"] in ("≥", ">=")) != above:
            problems.append(f"{where}: {label} printed {m['op']!r} but the decision says the opposite: {text!r}")
    return problems


def _tone_ok(tone: str, score: float, confidence: float) -> bool:
    """A finding's tone from its own numbers, accepting either side within the API's rounding of them."""
    near = 0.5e-4
    allowed = set()
    if confidence <= near:
        allowed.add("neutral")
    if confidence > 0:
        if score >= FINDING_THRESHOLD - near:
            allowed.add("warn")
        if score < FINDING_THRESHOLD + near:
            allowed.add("pass")
    return tone in allowed


def check_finding(f: FindingOut, where: str) -> list[str]:
    where = f"{where} finding {f.signal}"
    problems = check_comparisons(f.sentence, where) + check_comparisons(f.message, where)
    if f.threshold != FINDING_THRESHOLD:
        problems.append(f"{where}: judged against {f.threshold}, not the operating point {FINDING_THRESHOLD}")
    if not _tone_ok(f.tone, f.score, f.confidence):
        problems.append(f"{where}: tone {f.tone} for score {f.score} at confidence {f.confidence}")
    if f.message not in f.sentence:
        problems.append(f"{where}: the sentence leaves out what the signal saw: {f.sentence!r}")
    problems += check_labelled(f.sentence, "score", f.score, f.threshold, f.tone == "warn", where)
    lead = re.split(r" [(—]", f.sentence.split(": ", 1)[-1])[0]
    for words in (lead, re.split(r"[(:;]", f.message)[0]):
        if f.tone == "warn" and CLEAR_WORDS.search(words):
            problems.append(f"{where}: {words!r} denies evidence, in the warning colour")
        if f.tone == "pass" and FLAG_WORDS.search(words) and not CLEAR_WORDS.search(words):
            problems.append(f"{where}: {words!r} claims evidence, in the colour of a clean result")
    for m in COMPARISON.finditer(f.message):  # the signal's own comparison with its own threshold
        if f.tone != "neutral" and (m["op"] in ("≥", ">=", ">")) != (f.tone == "warn"):
            problems.append(f"{where}: the message compares {m[0]!r} but the tone is {f.tone}: {f.message!r}")
    return problems


def _probability_threshold(m: MatchOut) -> float:
    return 1.0 / (1.0 + math.exp(-m.threshold))


def check_match_probability(text: str, m: MatchOut, where: str) -> list[str]:
    """``match probability a ≥|< b`` in ``text`` prints the match's probability and the one it had to reach."""
    return check_labelled(
        text,
        "match probability",
        m.match_probability,
        _probability_threshold(m),
        m.same_person,
        where,
        percent=True,
        field_digits=6,
    )


def check_match(m: MatchOut, where: str) -> list[str]:
    where = f"{where} match"
    problems = check_comparisons(m.sentence, where)
    if m.same_person != (m.scores.fused >= m.threshold):
        problems.append(f"{where}: same_person {m.same_person} for fused {m.scores.fused} vs {m.threshold}")
    if m.clearly_different != (not m.same_person and m.scores.sface < m.reject_threshold):
        problems.append(f"{where}: clearly_different {m.clearly_different} for SFace {m.scores.sface}")
    if m.tone != ("pass" if m.same_person else "fail"):
        problems.append(f"{where}: tone {m.tone} for same_person {m.same_person}")
    if _polarities(m.sentence, re.compile(r"\bsame person\b")) != [m.same_person]:
        problems.append(f"{where}: {m.sentence!r} says otherwise than same_person={m.same_person}")
    problems += check_match_probability(m.sentence, m, where)
    return problems


def _check_title(title: str, verdict: str, where: str) -> list[str]:
    return [] if title.lower().replace(" ", "_") == verdict else [f"{where}: title {title!r} for verdict {verdict}"]


def check_authenticity(a: AuthenticityOut, where: str) -> list[str]:
    where = f"{where} authenticity"
    h = a.headline
    problems = check_comparisons(h.text, where) + _check_title(h.title, a.verdict, where)
    if h.tone != VERDICT_TONE[a.verdict]:
        problems.append(f"{where}: tone {h.tone} for verdict {a.verdict}")
    flagged = a.verdict == "suspected_fake"
    if flagged != (a.fake_probability >= a.threshold):  # the bar and its tick say the verdict too
        problems.append(f"{where}: verdict {a.verdict} with fake probability {a.fake_probability} vs {a.threshold}")
    problems += check_labelled(
        h.text, "fake probability", a.fake_probability, a.threshold, flagged, where, percent=True
    )
    if any(_polarities(h.text, REAL_CLAIM)) and a.verdict != "likely_real":
        problems.append(f"{where}: {h.text!r} claims a real photo for verdict {a.verdict}")
    if a.verdict == "likely_real" and not any(_polarities(h.text, REAL_CLAIM)):
        problems.append(f"{where}: {h.text!r} does not say the photo looks real")
    for reason in a.reasons:
        problems += check_comparisons(reason, where)
        problems += check_labelled(reason, "fake probability", a.fake_probability, a.threshold, flagged, where)
    for f in a.findings:
        problems += check_finding(f, where)
    return problems


def check_verify(v: VerifyResponse, where: str) -> list[str]:
    h, m, a = v.headline, v.match, v.authenticity
    problems = check_comparisons(h.text, where) + _check_title(h.title, v.verdict, where)
    if h.tone != VERDICT_TONE[v.verdict]:
        problems.append(f"{where}: tone {h.tone} for verdict {v.verdict}")
    if v.same_person != m.same_person:
        problems.append(f"{where}: same_person {v.same_person} but the match says {m.same_person}")
    if (v.verdict == "genuine" and not m.same_person) or (v.verdict == "different_person" and m.same_person):
        problems.append(f"{where}: verdict {v.verdict} with same_person {m.same_person}")
    if (v.verdict == "suspected_fake") != (a is not None and a.verdict == "suspected_fake"):
        problems.append(f"{where}: verdict {v.verdict} with authenticity {a and a.verdict}")
    # A miss on a photo the quality gate doubts is "different person" exactly when it is clearly different.
    usable = set(v.quality.reasons) <= CALIBRATED_REASONS
    if v.verdict == "different_person" and not (usable or m.clearly_different):
        problems.append(f"{where}: different_person on a doubted photo above the reject threshold")
    if v.verdict == "inconclusive" and m.clearly_different:
        problems.append(f"{where}: inconclusive although clearly different")
    claims = _polarities(h.text, MATCH_CLAIM)
    if not claims or any(c != m.same_person for c in claims):
        problems.append(f"{where}: {h.text!r} says otherwise than same_person={m.same_person}")
    if any(_polarities(h.text, REAL_CLAIM)) and (a is None or a.verdict != "likely_real"):
        problems.append(f"{where}: {h.text!r} claims a real photo for authenticity {a and a.verdict}")
    problems += check_match_probability(h.text, m, where)
    for reason in v.reasons:
        problems += check_comparisons(reason, where)
        problems += check_labelled(reason, "fused score", m.scores.fused, m.threshold, m.same_person, where)
        claim = re.match(r"(no identity match|no match|identity match(?:es)?|identity does not match)\b", reason)
        if claim and (not NEGATION.search(claim[0])) != m.same_person:
            problems.append(f"{where}: reason {reason!r} says otherwise than same_person={m.same_person}")
        for printed in re.findall(rf"(?:identity match: probability|the profile \(probability) ({NUMBER})", reason):
            if not _close(printed, m.match_probability, field_digits=6):
                problems.append(f"{where}: reason prints probability {printed}, the field is {m.match_probability}")
    if a is not None:
        flagged = a.verdict == "suspected_fake"
        problems += check_labelled(
            h.text, "fake probability", a.fake_probability, a.threshold, flagged, where, percent=True
        )
        problems += check_authenticity(a, where)
    problems += check_match(m, where)
    for f in v.findings:
        problems += check_finding(f, where)
    return problems


def check_compare(r: CompareResponse, where: str) -> list[str]:
    """Two photos compared: the headline claims the same person exactly when the match does, says "different
    people" only when both photos could show it or the faces are clearly different, and prints the match's own
    numbers."""
    h, m = r.headline, r.match
    problems = check_comparisons(h.text, where) + check_match(m, where)
    decisive = r.usable or m.clearly_different
    expected = ("Same person", "pass") if m.same_person else (("Different people", "fail") if decisive else None)
    if expected is None and (h.title, h.tone) != ("Inconclusive", "neutral"):
        problems.append(f"{where}: {h.title}/{h.tone} for no match on an unusable photo")
    if expected is not None and (h.title, h.tone) != expected:
        problems.append(f"{where}: {h.title}/{h.tone} for same_person={m.same_person}, usable={r.usable}")
    if r.usable != (not r.reasons):
        problems.append(f"{where}: usable={r.usable} with reasons {r.reasons}")
    problems += check_match_probability(h.text, m, where)
    return problems


def check_identify(r: IdentifyResponse, where: str) -> list[str]:
    """Each candidate is a match exactly when its similarity reaches the threshold, and says so in its colour."""
    problems = []
    for c in r.candidates:
        at = f"{where} candidate {c.name}"
        if c.above_threshold != (c.similarity >= c.threshold):
            problems.append(f"{at}: above_threshold {c.above_threshold} for {c.similarity} vs {c.threshold}")
        if c.tone != ("pass" if c.above_threshold else "fail"):
            problems.append(f"{at}: tone {c.tone} for above_threshold {c.above_threshold}")
        if c.sentence.startswith("no match") == c.above_threshold:
            problems.append(f"{at}: {c.sentence!r} for above_threshold {c.above_threshold}")
        problems += check_comparisons(c.sentence, at)
        problems += check_labelled(c.sentence, "similarity", c.similarity, c.threshold, c.above_threshold, at)
    return problems


def check_analysis(r: AnalyzeResponse, where: str) -> list[str]:
    h, q = r.headline, r.subject.quality
    problems = []
    if h.tone != ("pass" if q.usable_for_identity else "warn"):
        problems.append(f"{where}: quality tone {h.tone} for usable={q.usable_for_identity}")
    if _polarities(h.text, re.compile(r"\busable\b")) != [q.usable_for_identity]:
        problems.append(f"{where}: {h.text!r} says otherwise than usable={q.usable_for_identity}")
    problems += [f"{where}: {h.text!r} leaves out {r!r}" for r in q.reasons if wording.human(r) not in h.text]
    return problems


# ---------------------------------------------------------------- the development set, clean and damaged


@dataclass
class Seen:
    """What the run covered and what it found."""

    problems: list[str] = field(default_factory=list)
    conditions: Counter[str] = field(default_factory=Counter)  # answered images per condition (clean, a damage)
    no_face: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    tones: Counter[str] = field(default_factory=Counter)
    compared: Counter[bool] = field(default_factory=Counter)  # compare answers by same_person
    identified: int = 0  # candidates judged


#: ``FACEPROOF_WORDING_EVERY_DAMAGE=1``: every image under every damage (the full cross product, ~10x the time;
#: run before a release, not in CI).
EVERY_DAMAGE = os.environ.get("FACEPROOF_WORDING_EVERY_DAMAGE") == "1"


def damage_plan(rows: list[ManifestRow], every: bool = EVERY_DAMAGE) -> dict[str, list[str]]:
    """The damages each image is judged under: every kind with ``every``, else one per image, a seeded
    round-robin over every kind, separately for real and generated images."""
    rng = random.Random(SEED)
    kinds = sorted(DEGRADATIONS)
    if every:
        return {r.file: list(kinds) for r in rows}
    rng.shuffle(kinds)
    plan = {}
    for group in ([r for r in rows if r.is_real], [r for r in rows if not r.is_real]):
        order = list(group)
        rng.shuffle(order)
        plan.update({r.file: [kinds[i % len(kinds)]] for i, r in enumerate(order)})
    return plan


def _answers(seen: Seen, probe: Probe, where: str) -> None:
    report = assess(probe.analysis, findings=probe.findings)
    analysis = AnalyzeResponse.of(probe.analysis)
    authenticity = AuthenticityOut.of(report)
    seen.problems += check_analysis(analysis, where) + check_authenticity(authenticity, where)
    seen.verdicts[authenticity.verdict] += 1
    seen.tones.update(f.tone for f in authenticity.findings)


def _probe(source: Path | np.ndarray, seen: Seen, condition: str) -> Probe | None:
    try:
        probe = prepare_probe(analyze(source, with_dlib=False))
    except FaceproofError:
        seen.no_face[condition] += 1
        return None
    seen.conditions[condition] += 1
    return probe


@pytest.fixture(scope="module")
def seen(shared_data: Path) -> Iterator[Seen]:
    rows = read_manifest(shared_data / "manifest.csv")
    plan = damage_plan(rows)
    seen = Seen()
    clean: dict[str, Probe] = {}
    for row in rows:
        if (probe := _probe(shared_data / row.file, seen, "clean")) is not None:
            clean[row.file] = probe
            _answers(seen, probe, f"{row.file} clean")
    with tempfile.TemporaryDirectory(prefix="faceproof-wording-") as tmp:
        service = Service.open(Settings(data_dir=Path(tmp)))
        try:
            # Two profiles per person where there are two photos: a probe is verified against one made from
            # another of their photos, and against a seeded other person's.
            photos: dict[str, list[str]] = {}
            for row in rows:
                if row.identity and row.file in clean:
                    photos.setdefault(row.identity, []).append(row.file)
            profiles: dict[str, list[tuple[str, ProfileRecord, list]]] = {}
            for identity, files in photos.items():
                for file in files[:2]:
                    analysis: Analysis = clean[file].analysis
                    image = new_image(analysis, None, assess(analysis, findings=clean[file].findings))
                    profile = service.create_prepared_profile([image], name=f"{identity} {file}")
                    enrolled = [i.embeddings for i in service.store.list_images(profile.id)]
                    profiles.setdefault(identity, []).append((file, profile, enrolled))
            rng = random.Random(SEED)
            people = sorted(profiles)

            def verify(row: ManifestRow, probe: Probe, where: str) -> None:
                same = [p for p in profiles.get(row.identity, []) if p[0] != row.file][:1]
                other = rng.choice([p for p in people if p != row.identity])
                for file, profile, enrolled in [*same, profiles[other][0]]:
                    outcome = verify_probe(probe, profile, enrolled, FAR)
                    response = VerifyResponse.of(VerifyResult(profile, probe.analysis, outcome))
                    seen.problems.extend(check_verify(response, f"{where} vs profile of {file}"))
                    seen.verdicts[response.verdict] += 1

            for row in rows:
                if row.file in clean:
                    verify(row, clean[row.file], f"{row.file} clean")
                for kind in plan[row.file]:
                    try:
                        rgb = damaged(shared_data / row.file, (kind,))
                    except FaceproofError:
                        seen.no_face[kind] += 1
                        continue
                    if (probe := _probe(rgb, seen, kind)) is not None:
                        _answers(seen, probe, f"{row.file} {kind}")
                        verify(row, probe, f"{row.file} {kind}")
            # compare and identify, through the service as the API calls them: each person's first photo against
            # their second (clean, and damaged as planned) and against a seeded other person's; 1:N searches of
            # every real photo among the profiles above
            for identity, files in sorted(photos.items()):
                if len(files) < 2:
                    continue
                first, second = (shared_data / f for f in files[:2])
                other = shared_data / photos[rng.choice([p for p in people if p != identity])][0]
                kind = plan[files[1]][0]
                try:
                    damaged_second = cv2.imencode(".png", cv2.cvtColor(damaged(second, (kind,)), cv2.COLOR_RGB2BGR))[1]
                except FaceproofError:
                    damaged_second = None
                for b, label in ((second, "clean"), (damaged_second, kind), (other, "other person")):
                    if b is None:
                        continue
                    data = b.tobytes() if isinstance(b, np.ndarray) else b.read_bytes()
                    try:
                        result = service.compare(first.read_bytes(), data, FAR)
                    except FaceproofError:
                        seen.no_face[f"compare {label}"] += 1
                        continue
                    seen.problems += check_compare(CompareResponse.of(result), f"compare {files[0]} / {label}")
                    seen.compared[result.match.same_person] += 1
                for file in files:
                    found = service.identify((shared_data / file).read_bytes(), top_k=3, far=FAR)
                    seen.problems += check_identify(IdentifyResponse.of(found), f"identify {file}")
                    seen.identified += len(found.candidates)
        finally:
            service.close()
    yield seen


def test_no_word_or_colour_contradicts_its_verdict_or_number(seen: Seen) -> None:
    shown = "\n".join(seen.problems[:30])
    assert not seen.problems, f"{len(seen.problems)} contradictions, the first ones:\n{shown}"


def test_every_image_clean_and_every_damage_was_judged(seen: Seen, shared_data: Path) -> None:
    rows = read_manifest(shared_data / "manifest.csv")
    assert seen.conditions["clean"] + seen.no_face["clean"] == len(rows)
    assert seen.conditions["clean"] >= 0.95 * len(rows)
    assert all(seen.conditions[kind] >= 5 for kind in DEGRADATIONS), seen.conditions
    # the run saw every verdict and every tone, so each rule above was exercised on real outputs
    assert set(seen.verdicts) == set(VERDICT_TONE), seen.verdicts
    assert set(seen.tones) == {"pass", "warn", "neutral"}, seen.tones
    assert seen.compared[True] >= 10 and seen.compared[False] >= 10, seen.compared
    assert seen.identified >= 50, seen.identified


# ---------------------------------------------------------------- the checker catches what it is for


def test_the_api_examples_agree_with_themselves() -> None:
    assert not check_verify(VerifyResponse.model_validate(examples.VERIFY), "examples.VERIFY")
    assert not check_authenticity(AuthenticityOut.model_validate(examples.AUTHENTICITY), "examples.AUTHENTICITY")
    assert not check_match(MatchOut.model_validate(examples.MATCH), "examples.MATCH")
    assert not check_analysis(AnalyzeResponse.model_validate(examples.ANALYZE), "examples.ANALYZE")
    assert not check_identify(IdentifyResponse.model_validate(examples.IDENTIFY), "examples.IDENTIFY")


def _planted_verify(**changes: object) -> VerifyResponse:
    """The documented genuine verification, with ``changes`` made to its match (the headline left as it was)."""
    document = {**examples.VERIFY, "match": {**examples.VERIFY["match"], **changes}}
    document["same_person"] = document["match"]["same_person"]
    return VerifyResponse.model_validate(document)


def test_the_checker_reports_planted_contradictions(monkeypatch: pytest.MonkeyPatch) -> None:
    # The verify headline that read "The face matches" for a match probability of 0.16.
    no_match = {"same_person": False, "match_probability": 0.16, "scores": {"sface": 0.2, "dlib": None, "fused": -1.66}}
    problems = check_verify(_planted_verify(**no_match), "planted")
    assert any("'The face matches the profile" in p and "same_person=False" in p for p in problems), problems
    assert any("match: tone pass for same_person False" in p for p in problems), problems
    # A finding that read "no seam (p = 0.65)" drawn in the warning colour.
    seam = Finding("blending", 0.65, 1.0, "swapped", "no blending seam along the face outline (p = 0.65)")
    problems = check_finding(FindingOut.of(seam), "planted")
    assert any("'no blending seam along the face outline ' denies evidence, in the warning" in p for p in problems)
    # A wording rule gone wrong: a flagged finding in the colour of a clean one.
    flagged = Finding("generated_net", 0.9, 1.0, "generated", "the face has the statistics of a generated image")
    assert not check_finding(FindingOut.of(flagged), "as shipped")
    with monkeypatch.context() as patch:
        patch.setattr(wording, "finding_tone", lambda f: "pass")
        problems = check_finding(FindingOut.of(flagged), "planted")
    assert any("tone pass for score 0.9" in p for p in problems), problems
    # A number rounded into a false comparison: 0.4996 printed as "0.50 < 0.50".
    close_call = Finding("noise", 0.4996, 1.0, "swapped", "face and background noise levels agree")
    assert not check_finding(FindingOut.of(close_call), "as shipped")
    with monkeypatch.context() as patch:
        patch.setattr(wording, "MAX_DIGITS", 2)
        problems = check_finding(FindingOut.of(close_call), "planted")
    assert any("'0.50 < 0.50' is false" in p for p in problems), problems
    # A real-photo claim on a photo that authenticity could not vouch for.
    unsure = AuthenticityOut.model_validate({**examples.AUTHENTICITY, "verdict": "inconclusive"})
    problems = check_authenticity(unsure, "planted")
    assert any("claims a real photo for verdict inconclusive" in p for p in problems), problems


def test_an_enrolment_refusal_prints_its_true_comparison() -> None:
    """A photo refused as another person says its match probability beside the one it had to reach."""
    from faceproof.decision.calibration import load_calibration
    from faceproof.service import ENROL_IDENTITY_FAR

    m = load_calibration().decide(0.12, 0.88, ENROL_IDENTITY_FAR)
    text = wording.refusal_identity(1, m)
    assert not m.same_person and text.startswith("Photo 2 does not show the enrolled person")
    assert check_comparisons(text, "refusal") == []
    probability = check_labelled(
        text,
        "match probability",
        m.match_probability,
        1.0 / (1.0 + math.exp(-m.threshold)),
        False,
        "refusal",
        percent=True,
        field_digits=6,
    )
    assert probability == [] and COMPARISON.search(text)
