"""The verification evaluation contract: every report key, sane values, failed pairs counted, nothing refitted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceproof.decision.calibration import load_calibration
from faceproof.evaluation import evaluate_verification

CONTRACT = {"n_pairs", "n_failed", "accuracy", "auc", "tar_at_far", "threshold", "per_model"}
PAIRS = [
    ("a/df01_01.jpg", "a/df01_02.jpg", 1),
    ("a/df01_01.jpg", "a/df01_03.jpg", 1),
    ("a/df02_01.jpg", "a/df02_02.jpg", 1),
    ("a/df01_01.jpg", "a/df02_01.jpg", 0),
    ("a/df01_02.jpg", "a/df03_01.jpg", 0),
    ("a/df02_02.jpg", "a/df10_01.jpg", 0),
    ("a/df03_01.jpg", "a/astronaut_01.jpg", 0),
    ("a/blank.png", "a/df10_01.jpg", 0),  # no face: a failed pair, counted as an error
]


def _write_pairs(path: Path, rows: list[tuple[str, str, int]]) -> None:
    path.write_text("file_a,file_b,same_person,origin\n" + "".join(f"{a},{b},{s},test\n" for a, b, s in rows))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("evalroot")
    (root / "a").mkdir()
    for name in {Path(p).name for a, b, _ in PAIRS for p in (a, b)} - {"blank.png"}:
        shutil.copy(fixtures_dir / name, root / "a" / name)
    Image.fromarray(np.full((160, 160, 3), 128, np.uint8)).save(root / "a" / "blank.png")
    _write_pairs(root / "pairs.csv", PAIRS)
    calls: list[tuple[int, int]] = []
    plot = root / "out" / "roc.png"
    rep = evaluate_verification(root / "pairs.csv", root, plot=plot, progress=lambda i, n: calls.append((i, n)))
    assert calls[-1] == (9, 9)  # each of the 9 distinct images analysed once
    return rep, plot


def test_report_has_every_contract_key(report: tuple[dict, Path]) -> None:
    rep, _ = report
    assert set(rep) >= CONTRACT
    assert set(rep["tar_at_far"]) == {"0.01", "0.001"}
    assert set(rep["per_model"]) == {"sface", "dlib"}
    for m in rep["per_model"].values():
        assert {"accuracy", "auc", "tar_at_far", "threshold"} <= set(m)
        assert set(m["tar_at_far"]) == {"0.01", "0.001"}


def test_report_values_are_sane(report: tuple[dict, Path]) -> None:
    rep, plot = report
    cal = load_calibration()
    assert (rep["n_pairs"], rep["n_genuine"], rep["n_impostor"]) == (8, 3, 5)
    assert rep["n_failed"] == 1 and rep["n_images_failed"] == 1
    assert rep["accuracy"] == pytest.approx(7 / 8)  # the failed impostor pair is an error, the rest is right
    assert rep["auc"] == 1.0
    assert rep["tar_at_far"] == {"0.01": 1.0, "0.001": 1.0}
    assert rep["threshold"] == cal.threshold(1e-3, "fused")  # the shipped threshold, nothing fitted
    assert rep["per_model"]["sface"]["threshold"] == cal.threshold(1e-3, "sface")
    assert rep["far_observed"] == 0.0
    assert 0.0 <= rep["fast_path"]["dlib_needed_fraction"] <= 1.0
    assert rep["calibration_version"] == cal.version
    assert plot.exists() and plot.stat().st_size > 1000


def test_bad_pairs_file_and_far_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file_a,file_b,same_person\nx.jpg,y.jpg,yes\n")
    with pytest.raises(ValueError, match="same_person must be 1 or 0"):
        evaluate_verification(bad, tmp_path)
    missing = tmp_path / "missing.csv"
    missing.write_text("file_a,file_b\nx.jpg,y.jpg\n")
    with pytest.raises(ValueError, match="missing column"):
        evaluate_verification(missing, tmp_path)
    _write_pairs(bad, [("x.jpg", "y.jpg", 1)])
    with pytest.raises(ValueError, match="unsupported false accept rate"):
        evaluate_verification(bad, tmp_path, far=0.05)


@pytest.mark.slow
def test_full_development_pairs(shared_data: Path) -> None:
    rep = evaluate_verification(shared_data / "pairs.csv", shared_data)
    assert rep["n_pairs"] == 574 and rep["n_failed"] == 0
    assert rep["accuracy"] >= 0.97
    assert rep["auc"] >= 0.99
    assert rep["tar_at_far"]["0.01"] >= rep["tar_at_far"]["0.001"] >= 0.9


def test_a_pair_with_a_covered_face_is_judged_at_its_conditions_threshold(tmp_path: Path, fixtures_dir: Path) -> None:
    """Masked faces (a drawn mask the cover head reads) are counted and decided at the threshold of their pair's
    condition, as the service decides them: the masked genuine probe matches, the masked impostors do not."""
    from faceproof.detect import detect_faces
    from faceproof.training.augment import FaceHint, face_mask

    (tmp_path / "a").mkdir()
    shutil.copy(fixtures_dir / "df01_01.jpg", tmp_path / "a" / "df01_01.jpg")
    for name, patterned, colour in (("df01_02.jpg", True, (40, 40, 45)), ("df10_01.jpg", False, (120, 170, 220))):
        rgb = np.asarray(Image.open(fixtures_dir / name).convert("RGB"))
        face = detect_faces(rgb)[0]
        hint = FaceHint(box=face.box, keypoints=face.keypoints.astype(np.float64))
        covered = face_mask(rgb, np.random.default_rng(7), hint, colour=colour, patterned=patterned)
        Image.fromarray(covered).save(tmp_path / "a" / f"masked_{name}", quality=92)
    rows = [
        ("a/df01_01.jpg", "a/masked_df01_02.jpg", 1),
        ("a/df01_01.jpg", "a/masked_df10_01.jpg", 0),
        ("a/masked_df01_02.jpg", "a/masked_df10_01.jpg", 0),
    ]
    _write_pairs(tmp_path / "pairs.csv", rows)
    rep = evaluate_verification(tmp_path / "pairs.csv", tmp_path)
    assert rep["n_failed"] == 0 and rep["pairs_by_condition"] == {"open/covered": 2, "covered/covered": 1}
    assert rep["accuracy"] == 1.0 and rep["far_observed"] == 0.0
    assert rep["fast_path"]["accuracy"] == 1.0 and rep["fast_path"]["agreement_with_fusion"] == 1.0
    assert rep["threshold"] == load_calibration().threshold(1e-3, "fused")  # the report names the open threshold
