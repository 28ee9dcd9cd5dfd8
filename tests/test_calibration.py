"""The shipped calibration: loads, is monotone and ordered per condition, and decides real fixture pairs (clean and
damaged)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import faceproof
from faceproof.decision.calibration import (
    ARTIFACT,
    CONDITIONS,
    DIFFERENT_PERSON_FRR,
    SUPPORTED_FARS,
    Calibration,
    MatchDecision,
    load_calibration,
    pair_condition,
)
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, cosine
from faceproof.models import artifact
from faceproof.training import export
from faceproof.training.augment import DEGRADATIONS, FaceHint, degrade, downscale, jpeg

IMAGES = Path(__file__).parent / "fixtures" / "images"
GENUINE = [("df01_01.jpg", "df01_02.jpg"), ("df01_01.jpg", "df01_03.jpg"), ("df02_01.jpg", "df02_02.jpg")]
IMPOSTOR = [
    ("df01_01.jpg", "df02_01.jpg"),
    ("df01_02.jpg", "df03_01.jpg"),
    ("df02_02.jpg", "df10_01.jpg"),
    ("df03_01.jpg", "astronaut_01.jpg"),
    ("df10_01.jpg", "df01_03.jpg"),
]


@pytest.fixture(scope="module")
def cal() -> Calibration:
    return load_calibration()


def test_loads_once_and_has_every_operating_point(cal: Calibration) -> None:
    assert load_calibration() is cal
    assert cal.version
    for condition in CONDITIONS:
        for model in ("fused", "sface", "dlib"):
            for far in SUPPORTED_FARS:
                assert np.isfinite(cal.threshold(far, model, condition))


def test_probability_is_monotone_in_each_score(cal: Calibration) -> None:
    grid = np.linspace(-0.2, 1.0, 25)
    for other in (-0.1, 0.3, 0.6, 0.9):
        by_sface = [cal.match_probability(s, other) for s in grid]
        by_dlib = [cal.match_probability(other, d) for d in grid]
        assert np.all(np.diff(by_sface) > 0) and np.all(np.diff(by_dlib) > 0)
    alone = [cal.match_probability(s, None) for s in grid]
    assert np.all(np.diff(alone) > 0)
    assert min(alone) > 0.0 and max(alone) < 1.0


def test_thresholds_are_ordered_by_far(cal: Calibration) -> None:
    for condition in CONDITIONS:
        for model in ("fused", "sface", "dlib"):
            t = [cal.threshold(far, model, condition) for far in (1e-4, 1e-3, 1e-2)]
            assert t[0] >= t[1] >= t[2]


def test_each_condition_decides_at_its_own_threshold(cal: Calibration) -> None:
    """A pair is judged against the threshold of its condition, and the decision says which one it was."""
    thresholds = {c: cal.threshold(1e-3, "fused", c) for c in CONDITIONS}
    assert len(set(thresholds.values())) == len(CONDITIONS)  # the conditions were fitted apart
    for condition in CONDITIONS:
        d = cal.decide(0.5, 0.9, 1e-3, condition)
        expected = thresholds[condition] if cal.decide_with[condition] == "fused" else d.threshold
        assert d.condition == condition and d.threshold == expected
        assert d.same_person == (d.fused_score >= d.threshold)
        t = cal.threshold(1e-3, "sface", condition)
        assert cal.decide(t + 1e-4, None, 1e-3, condition).same_person
        assert not cal.decide(t - 1e-4, None, 1e-3, condition).same_person
    assert pair_condition("covered", "open") == pair_condition("open", "covered") == "open/covered"
    with pytest.raises(ValueError, match="unknown condition"):
        cal.decide(0.5, 0.9, 1e-3, "covered/open")
    with pytest.raises(ValueError, match="face state"):
        pair_condition("open", "blurred")


def test_unsupported_far_and_model_are_clear_errors(cal: Calibration) -> None:
    with pytest.raises(ValueError, match="unsupported false accept rate"):
        cal.threshold(0.05)
    with pytest.raises(ValueError, match="unknown model"):
        cal.threshold(1e-3, "arcface")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite cosine"):
        cal.fused_score(float("nan"), 0.5)


@pytest.mark.parametrize("covered", CONDITIONS)
def test_uncertain_band_contains_sface_threshold(cal: Calibration, covered: str) -> None:
    if cal.decide_with[covered] == "sface":  # decided by SFace alone: dlib is never asked for
        for far in SUPPORTED_FARS:
            assert not cal.needs_second_model(cal.threshold(far, "sface", covered), far, covered)
        return
    for far in SUPPORTED_FARS:
        lo, hi = cal.sface_band[covered][str(far)]
        t = cal.threshold(far, "sface", covered)
        assert lo <= t <= hi
        assert cal.needs_second_model(t, far, covered)
        assert not cal.needs_second_model(min(1.0, hi + 0.01), far, covered)
        assert not cal.needs_second_model(max(-1.0, lo - 0.01), far, covered)
        # Outside the band SFace alone decides, and its decision is the one decide() makes without dlib.
        assert cal.decide(min(1.0, hi + 0.01), None, far, covered).same_person
        assert not cal.decide(max(-1.0, lo - 0.01), None, far, covered).same_person


@pytest.mark.parametrize("condition", CONDITIONS)
def test_reject_threshold_lies_below_every_decision_and_marks_clear_misses(cal: Calibration, condition: str) -> None:
    reject = cal.reject_below[condition]
    # well below where SFace's own decision or the uncertain band begins: it only ever settles clear misses
    assert -1.0 < reject < min(lo for lo, _ in cal.sface_band[condition].values())
    far_below, near = cal.decide(reject - 0.01, None, 1e-3, condition), cal.decide(reject + 0.01, None, 1e-3, condition)
    assert far_below.reject_below == reject and far_below.clearly_different
    assert not near.same_person and not near.clearly_different
    assert not cal.decide(0.9, 0.99, 1e-3, condition).clearly_different
    card = artifact.read(ARTIFACT).card
    assert card.parameters["reject_target_frr"] == DIFFERENT_PERSON_FRR
    held_out = card.metrics["reject"][condition]
    assert held_out["genuine_pairs"] >= 500 and held_out["oof_genuine_below"] < 2 * DIFFERENT_PERSON_FRR


def test_a_profile_of_photos_in_several_states_is_held_to_the_strictest_condition(cal: Calibration) -> None:
    assert cal.strictest_condition("noisy", []) == "open/noisy"
    for far in SUPPORTED_FARS:
        mixed = cal.strictest_condition("covered", ["open", "covered", "open"], far)
        fused = {c: cal.threshold(far, "fused", c) for c in ("open/covered", "covered/covered")}
        assert mixed in fused and fused[mixed] == max(fused.values())
    with pytest.raises(ValueError, match="face state"):
        cal.strictest_condition("masked", ["open"])


def test_decide_without_dlib_uses_sface_threshold(cal: Calibration) -> None:
    t = cal.threshold(1e-3, "sface")
    below, above = cal.decide(t - 1e-4, None), cal.decide(t + 1e-4, None)
    assert (below.same_person, above.same_person) == (False, True)
    assert above.models_used == ("sface",) and "dlib" not in above.per_model
    both = cal.decide(0.7, 0.95)
    assert both.models_used == ("sface", "dlib") and both.threshold == cal.threshold(1e-3, "fused")


def test_conditions_decided_by_sface_alone_ignore_dlib(cal: Calibration) -> None:
    """The fit chooses, per condition, the fusion or SFace alone - whichever accepted more genuine pairs at the same
    FAR; where SFace decides, dlib's cosine (even a confident one) changes nothing, and the card's cross-validated
    figures for the decided scores are at least the fusion's there."""
    card = artifact.read(ARTIFACT).card
    assert set(cal.decide_with) == set(CONDITIONS) and set(cal.decide_with.values()) <= {"fused", "sface"}
    cv = card.metrics["cross_validated"]
    for condition, model in cal.decide_with.items():
        if model == "fused":
            assert cal.decide(0.30, 0.99, 1e-3, condition).models_used == ("sface", "dlib")
            continue
        for s in (0.2, 0.33, 0.36, 0.5):
            with_dlib, alone = cal.decide(s, 0.99, 1e-3, condition), cal.decide(s, None, 1e-3, condition)
            assert with_dlib == alone and with_dlib.models_used == ("sface",)
        decided = cv["decided"]["at_far"]["0.001"][f"condition:{condition}"]["tar"]
        assert decided >= cv["fused"]["at_far"]["0.001"][f"condition:{condition}"]["tar"] - 0.005


def test_malformed_calibration_is_rejected(cal: Calibration) -> None:
    shipped = artifact.read(ARTIFACT)
    shipped_bytes = (artifact.models_dir() / f"{ARTIFACT}.onnx").read_bytes()
    assert Calibration.from_artifact(shipped).thresholds == cal.thresholds

    def with_card(model_bytes: bytes, **changes: object) -> artifact.Artifact:
        return artifact.Artifact(replace(shipped.card, **changes), model_bytes)

    params = copy.deepcopy(shipped.parameters)
    del params["thresholds"]["open/covered"]["sface"]["0.0001"]
    with pytest.raises(ValueError, match="open/covered thresholds"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    params = copy.deepcopy(shipped.parameters)
    params["reject_target_frr"] = 0.05
    with pytest.raises(ValueError, match="DIFFERENT_PERSON_FRR"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    params = copy.deepcopy(shipped.parameters)
    del params["reject_below"]["noisy/noisy"]
    with pytest.raises(ValueError, match="malformed calibration"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    params = copy.deepcopy(shipped.parameters)
    del params["decide_with"]["open/open"]
    with pytest.raises(ValueError, match="malformed calibration"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    params = copy.deepcopy(shipped.parameters)
    params["decide_with"]["open/open"] = "dlib"
    with pytest.raises(ValueError, match="not fused or sface"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    params = copy.deepcopy(shipped.parameters)
    del params["uncertain_band"]["covered/covered"]
    with pytest.raises(ValueError, match="malformed calibration"):
        Calibration.from_artifact(with_card(shipped_bytes, parameters=params))
    heads = [
        export.LinearHead("sface", ("sface",), np.zeros(1), np.ones(1), np.array([20.0]), -7.0),
        export.LinearHead("dlib", ("dlib",), np.zeros(1), np.ones(1), np.array([100.0]), -90.0),
        export.LinearHead("fused", ("sface", "dlib"), np.zeros(2), np.ones(2), np.array([16.0, -1.0]), -50.0),
    ]
    decreasing = export.linear_heads_graph(("sface", "dlib"), heads, "bad", np.float64)
    with pytest.raises(ValueError, match="monotone"):
        Calibration.from_artifact(with_card(decreasing))


# --- real fixture photos ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vectors() -> dict[str, dict[str, np.ndarray]]:
    """SFace and dlib vectors of each fixture photo, plus two damaged copies (JPEG q30; half resolution)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    names = sorted({n for pair in GENUINE + IMPOSTOR for n in pair})
    for name in names:
        a = faceproof.analyze(IMAGES / name)
        out[name] = {k: e.vector for k, e in a.subject.embeddings.items()}
    rng = np.random.default_rng(0)
    for name, damage in (("df01_01.jpg", "jpeg30"), ("df02_02.jpg", "half")):
        rgb = faceproof.analyze(IMAGES / name).image.rgb
        img = jpeg(rgb, rng, quality=30) if damage == "jpeg30" else downscale(rgb, rng, factor=0.5)
        a = faceproof.analyze(img)
        out[f"{name}:{damage}"] = {k: e.vector for k, e in a.subject.embeddings.items()}
    return out


def _decide(cal: Calibration, va: dict[str, np.ndarray], vb: dict[str, np.ndarray], far: float) -> MatchDecision:
    return cal.decide(cosine(va[SFACE_KEY], vb[SFACE_KEY]), cosine(va[DLIB_KEY], vb[DLIB_KEY]), far)


@pytest.mark.parametrize("far", SUPPORTED_FARS)
def test_decide_on_fixture_pairs(cal: Calibration, vectors: dict[str, dict[str, np.ndarray]], far: float) -> None:
    for a, b in GENUINE:
        d = _decide(cal, vectors[a], vectors[b], far)
        assert d.same_person, (a, b, d)
        assert d.match_probability > 0.5
    for a, b in IMPOSTOR:
        d = _decide(cal, vectors[a], vectors[b], far)
        assert not d.same_person, (a, b, d)
        assert d.match_probability < 0.5


def test_damaged_genuine_pairs_still_match(cal: Calibration, vectors: dict[str, dict[str, np.ndarray]]) -> None:
    for a, b in (("df01_01.jpg:jpeg30", "df01_02.jpg"), ("df02_02.jpg:half", "df02_01.jpg")):
        d = _decide(cal, vectors[a], vectors[b], 1e-3)
        assert d.same_person, (a, b, d)
    d = _decide(cal, vectors["df01_01.jpg:jpeg30"], vectors["df02_01.jpg"], 1e-3)
    assert not d.same_person


# --- degradations ------------------------------------------------------------------------------------------------


def _synthetic() -> tuple[np.ndarray, FaceHint]:
    rng = np.random.default_rng(7)
    rgb = (rng.random((240, 200, 3)) * 255).astype(np.uint8)
    kp = np.array([[80, 100], [120, 100], [100, 125], [85, 150], [115, 150]], float)
    return rgb, FaceHint((55.0, 60.0, 90.0, 120.0), kp)


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degradations_are_deterministic(name: str) -> None:
    rgb, face = _synthetic()
    first = degrade(rgb, name, seed=3, face=face)
    again = degrade(rgb, name, seed=3, face=face)
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert np.array_equal(first, again)
    assert not np.array_equal(first, rgb)
    assert np.array_equal(rgb, _synthetic()[0])  # input untouched


def test_combinations_are_deterministic_and_checked() -> None:
    rgb, face = _synthetic()
    names = ["jpeg", "mask", "lowres"]
    assert np.array_equal(degrade(rgb, names, 11, face), degrade(rgb, list(reversed(names)), 11, face))
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(rgb, ["jpeg", "sepia"], 0, face)
    with pytest.raises(ValueError, match="keypoints"):
        degrade(rgb, "mask", 0, None)
