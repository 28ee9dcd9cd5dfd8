"""Face-verification evaluation on a labelled pairs file, with the *shipped* calibration (never refitted).

Why a stable contract: the CLI (``faceproof eval verification``), CI and anyone comparing a new model or
calibration read the same report keys, so numbers from different runs and data sets can be put side by side.

Input: a CSV with columns ``file_a,file_b,same_person`` (1/0; other columns are ignored), paths relative to
``root``. Each distinct image is analysed once. A pair where either image yields no face (or cannot be read)
is *failed*: it counts as an error in ``accuracy`` and as a non-accept in the TARs, because the service could
not verify it either.

Report keys (all rates in [0, 1]):

- ``n_pairs``, ``n_genuine``, ``n_impostor``, ``n_failed``, ``n_images``, ``n_images_failed``
- ``far``, ``threshold``: the operating point (default FAR 1e-3) and the shipped fused threshold there for two
  open faces; a pair with a noisy or covered face is decided at its condition's threshold, as the service decides
  it (``pairs_by_condition`` counts the pairs of each condition)
- ``accuracy``: share of pairs decided correctly at that operating point
- ``auc``: ROC AUC of the fused score over the pairs that did not fail
- ``tar_at_far``: ``{"0.01": tar, "0.001": tar}`` at the shipped thresholds for those FARs
- ``far_observed``: the impostor accept rate actually seen at the operating point
- ``per_model``: the same figures for ``sface`` and ``dlib`` alone (thresholds are cosines there)
- ``fast_path``: the decision verification makes when it skips dlib outside SFace's uncertain band - its
  accuracy, its agreement with the fused decision, the share of pairs that needed dlib, and dlib's median
  time per image here (what each skip saves)
- ``calibration_version``
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceproof.batch.engine import Engine, InlineEngine, Progress
from faceproof.decision.calibration import DEFAULT_FAR, OPEN, Calibration, load_calibration, pair_condition
from faceproof.errors import FaceproofError

log = logging.getLogger(__name__)

#: FARs reported in ``tar_at_far`` (the contract's keys).
REPORT_FARS: tuple[float, ...] = (1e-2, 1e-3)


@dataclass(frozen=True)
class _Pair:
    file_a: str
    file_b: str
    same: bool


@dataclass(frozen=True)
class _Vectors:
    sface: np.ndarray
    dlib: np.ndarray
    state: str  # the face's state (open, noisy, covered): a pair of them is the pair's condition


def read_pairs(pairs_csv: Path) -> list[_Pair]:
    """Parse the pairs file; raises ValueError naming the first bad row."""
    with pairs_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file_a", "file_b", "same_person"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{pairs_csv}: missing column(s) {sorted(missing)}")
        pairs = []
        for line, row in enumerate(reader, start=2):
            label = (row["same_person"] or "").strip()
            if label not in {"0", "1"}:
                raise ValueError(f"{pairs_csv}:{line}: same_person must be 1 or 0, got {label!r}")
            pairs.append(_Pair(row["file_a"].strip(), row["file_b"].strip(), label == "1"))
    if not pairs:
        raise ValueError(f"{pairs_csv}: no pairs")
    return pairs


def _vectors_of(path: Path) -> tuple[_Vectors | None, float]:
    """Worker side: both models' templates of one image (None: no usable face) and the dlib stage's time (ms)."""
    # Heavy (OpenCV, dlib, MediaPipe): imported only when evaluating, so importing this module stays cheap.
    from faceproof.analysis import analyze
    from faceproof.measure.identity import DLIB_KEY, SFACE_KEY

    try:
        a = analyze(path, with_dlib=True)
    except FaceproofError as exc:
        log.info("no usable face in %s: %s", path, exc.message)
        return None, float("nan")
    s = a.subject
    vectors = _Vectors(s.embeddings[SFACE_KEY].vector, s.embeddings[DLIB_KEY].vector, s.quality.face_state)
    return vectors, a.timings_ms.get("dlib", float("nan"))


def _analyse_images(
    files: list[str], root: Path, engine: Engine, progress: Progress | None
) -> tuple[dict[str, _Vectors | None], list[float]]:
    """Vectors per image (None: no usable face) and the dlib stage's wall time per analysed image (ms)."""
    results = engine.imap(_vectors_of, [root / name for name in files], progress=progress)
    out: dict[str, _Vectors | None] = {}
    dlib_ms: list[float] = []
    for name, (vectors, ms) in zip(files, results, strict=True):
        out[name] = vectors
        if vectors is not None:
            dlib_ms.append(ms)
    return out, dlib_ms


def _auc(score: np.ndarray, same: np.ndarray) -> float | None:
    if same.all() or not same.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(same, score))


def _figures(
    score: np.ndarray, ok: np.ndarray, same: np.ndarray, thresholds: dict[float, np.ndarray], far: float
) -> dict[str, Any]:
    """Accuracy, AUC and TARs of one score (``thresholds``: each pair's, per FAR); failed pairs (``~ok``) are never
    accepted."""

    def accepted(thr: np.ndarray) -> np.ndarray:
        return ok & (np.where(ok, score, -np.inf) >= thr)

    acc = accepted(thresholds[far])
    return {
        "accuracy": float((ok & (acc == same)).mean()),  # a failed pair is an error whatever its label
        "auc": _auc(score[ok], same[ok]),
        "tar_at_far": {
            str(f): float(accepted(thresholds[f])[same].mean()) if same.any() else None for f in REPORT_FARS
        },
        "far_observed": float(acc[~same].mean()) if (~same).any() else None,
    }


def evaluate_verification(
    pairs_csv: Path,
    root: Path,
    far: float = DEFAULT_FAR,
    plot: Path | None = None,
    progress: Progress | None = None,
    calibration: Calibration | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Evaluate verification on ``pairs_csv`` (see the module docstring for the report's keys). ``engine`` runs the
    image analysis (default: inline); the report does not depend on it, apart from the measured dlib time."""
    cal = calibration or load_calibration()
    cal.threshold(far)  # unsupported FAR: fail before hours of analysis
    pairs = read_pairs(pairs_csv)
    files = sorted({p.file_a for p in pairs} | {p.file_b for p in pairs})
    vectors, dlib_ms = _analyse_images(files, root, engine or InlineEngine(), progress)

    n = len(pairs)
    same = np.array([p.same for p in pairs])
    ok = np.array([vectors[p.file_a] is not None and vectors[p.file_b] is not None for p in pairs])
    s = np.zeros(n)
    d = np.zeros(n)
    condition = [OPEN] * n  # the pair's condition, from its faces' states
    from faceproof.measure.identity import cosine  # imports the models' modules: only when evaluating

    for i, p in enumerate(pairs):
        va, vb = vectors[p.file_a], vectors[p.file_b]
        if va is not None and vb is not None:
            s[i], d[i] = cosine(va.sface, vb.sface), cosine(va.dlib, vb.dlib)
            condition[i] = pair_condition(va.state, vb.state)
    fused = np.array([cal.fused_score(s[i], d[i]) if ok[i] else 0.0 for i in range(n)])
    fars = sorted({far, *REPORT_FARS})

    def pair_thresholds(model: str, f: float) -> np.ndarray:
        return np.array([cal.threshold(f, model, c) for c in condition])  # type: ignore[arg-type]

    report_fused = {
        "threshold": cal.threshold(far, "fused"),
        **_figures(fused, ok, same, {f: pair_thresholds("fused", f) for f in fars}, far),
    }
    per_model = {
        m: {"threshold": cal.threshold(far, m), **_figures(x, ok, same, {f: pair_thresholds(m, f) for f in fars}, far)}
        for m, x in (("sface", s), ("dlib", d))
    }

    # What verification does in production: dlib only inside SFace's uncertain band.
    needed = np.array([ok[i] and cal.needs_second_model(s[i], far, condition[i]) for i in range(n)])
    fast = np.array(
        [ok[i] and cal.decide(s[i], d[i] if needed[i] else None, far, condition[i]).same_person for i in range(n)]
    )

    report: dict[str, Any] = {
        "n_pairs": n,
        "n_genuine": int(same.sum()),
        "n_impostor": int((~same).sum()),
        "n_failed": int((~ok).sum()),
        "pairs_by_condition": dict(Counter(c for c, good in zip(condition, ok, strict=True) if good)),
        "n_images": len(files),
        "n_images_failed": sum(v is None for v in vectors.values()),
        "far": far,
        **report_fused,
        "per_model": per_model,
        "fast_path": {
            "accuracy": float((ok & (fast == same)).mean()),
            "dlib_needed_fraction": float(needed[ok].mean()) if ok.any() else None,
            "dlib_ms_per_image": float(np.nanmedian(dlib_ms)) if dlib_ms else None,
            "agreement_with_fusion": float((fast == (ok & (fused >= pair_thresholds("fused", far))))[ok].mean())
            if ok.any()
            else None,
        },
        "calibration_version": cal.version,
    }
    if plot is not None:
        _plot_roc(plot, {"fused": fused, "sface": s, "dlib": d}, ok, same, report, cal, far)
    return report


def _plot_roc(
    path: Path,
    scores: dict[str, np.ndarray],
    ok: np.ndarray,
    same: np.ndarray,
    report: dict[str, Any],
    cal: Calibration,
    far: float,
) -> None:
    """ROC of each score over the pairs that did not fail (the shipped operating point marked on each curve), and
    the fused score's genuine/impostor histograms with the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    if same[ok].all() or not same[ok].any():
        log.warning("ROC needs genuine and impostor pairs; no plot written")
        return
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=90)
    n_imp = int((~same[ok]).sum())
    floor = 0.5 / n_imp
    for model, colour in (("fused", "tab:green"), ("sface", "tab:blue"), ("dlib", "tab:orange")):
        fpr, tpr, _ = roc_curve(same[ok], scores[model][ok])
        ax.plot(np.maximum(fpr, floor), tpr, color=colour, label=model)
        acc = scores[model][ok] >= cal.threshold(far, model)
        op_far, op_tar = max(float(acc[~same[ok]].mean()), floor), float(acc[same[ok]].mean())
        ax.plot([op_far], [op_tar], "o", color=colour, ms=6, mec="black")
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1.0)
    ax.set_xlabel(f"false accept rate ({n_imp} impostor pairs; 0 drawn at {floor:.1g})")
    ax.set_ylabel("true accept rate")
    ax.set_title(
        f"ROC, shipped calibration; dots: operating point FAR {far:g} (accuracy {report['accuracy']:.3f})",
        fontsize=9,
    )
    ax.grid(True, which="both", lw=0.3)
    ax.legend(loc="lower right")
    fused = scores["fused"][ok]
    bins = np.linspace(float(fused.min()), float(fused.max()), 50)
    hist.hist(fused[same[ok]], bins=bins, alpha=0.6, density=True, label="same person", color="tab:green")
    hist.hist(fused[~same[ok]], bins=bins, alpha=0.6, density=True, label="different people", color="tab:red")
    hist.axvline(cal.threshold(far, "fused"), color="black", ls="--", label=f"threshold (FAR {far:g})")
    hist.set(xlabel="fused score (log likelihood ratio)", ylabel="density", title="score distributions")
    hist.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
