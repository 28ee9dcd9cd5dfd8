"""Authenticity evaluation with the *shipped* fusion model (nothing is fitted on the evaluated images).

Input: a manifest CSV with at least ``file,label,identity``; ``label`` is ``real`` or any word naming a kind of
fake (unknown words are welcome: every label other than ``real`` counts as fake). An image without a face is
*failed*: counted in ``n_failed`` and left out of the AUCs (the service answers ``no_face`` for it).

Report keys: ``n_images``, ``n_failed``, ``auc`` (real vs all fakes, on ``fake_probability``),
``tpr_at_fpr_0.01`` (the ROC point where 1 % of the real photos are flagged), ``real_flagged_rate`` (real photos
with verdict ``suspected_fake`` at the shipped operating point), ``real_inconclusive_rate``, ``threshold``,
``per_label``: ``{label: {"n", "auc", "detected_rate", "inconclusive_rate"}}`` (AUC of that label against all
reals; detected = verdict ``suspected_fake``), ``verdicts`` per label, ``model_version``, ``damage``. With the
manifest's optional ``kind`` column: ``per_kind`` (the same figures for each kind of fake, e.g. ``generated``
pooling its generators) and ``real_per_source`` (``{kind: {"n", "flagged_rate", "inconclusive_rate"}}`` for real
rows, whose kind names their source), so no one real source hides behind the others.

``damage`` (optional): names from :mod:`faceproof.training.augment` applied to *every* image before it is
assessed (see :mod:`faceproof.evaluation.damage`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from faceproof.batch.engine import Engine, InlineEngine, Progress
from faceproof.errors import FaceproofError
from faceproof.evaluation.damage import check_damage, damaged
from faceproof.evaluation.manifest import read_manifest

log = logging.getLogger(__name__)


def _auc(real: np.ndarray, fake: np.ndarray) -> float | None:
    if not len(real) or not len(fake):
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(real)), np.ones(len(fake))], np.r_[real, fake]))


def _assess_file(path: Path, damage: Sequence[str] = ()) -> tuple[float, str, float, str] | None:
    """Worker side: (fake_probability, verdict, threshold, model version) of one image; None without a face."""
    from faceproof.analysis import analyze
    from faceproof.authenticity.engine import assess

    try:
        report = assess(analyze(damaged(path, damage) if damage else path, with_dlib=False))
    except (FaceproofError, OSError) as exc:
        log.info("failed %s: %s", path, exc)
        return None
    return report.fake_probability, report.verdict, report.threshold, report.model_version


def evaluate_authenticity(
    manifest: Path,
    root: Path,
    plot: Path | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
    damage: Sequence[str] = (),
) -> dict[str, Any]:
    rows = read_manifest(manifest)
    work = partial(_assess_file, damage=check_damage(damage))
    assessed = (engine or InlineEngine()).imap(work, [root / row.file for row in rows], progress=progress)
    results: list[tuple[str, float, str] | None] = []
    kinds: list[tuple[str, str, float, str]] = []  # (label, kind, probability, verdict) of rows with a kind
    threshold, version = 0.0, ""
    for row, outcome in zip(rows, assessed, strict=True):
        if outcome is None:
            results.append(None)
            continue
        probability, verdict, threshold, version = outcome
        results.append((row.label, probability, verdict))
        if row.kind:
            kinds.append((row.label, row.kind, probability, verdict))
    ok = [r for r in results if r is not None]
    real = np.array([p for label, p, _ in ok if label == "real"])
    fake = np.array([p for label, p, _ in ok if label != "real"])
    real_verdicts = [v for label, _, v in ok if label == "real"]
    tpr = None
    if len(real) and len(fake):
        cut = float(np.quantile(real, 0.99))
        tpr = float((fake > cut).mean())
    per_label: dict[str, Any] = {}
    verdicts: dict[str, dict[str, int]] = {}
    for label in sorted({label for label, _, _ in ok}):
        mine = [(p, v) for lab, p, v in ok if lab == label]
        verdicts[label] = _counts(mine)
        if label != "real":
            per_label[label] = _fake_figures(real, mine)
    report: dict[str, Any] = {
        "n_images": len(rows),
        "n_failed": sum(r is None for r in results),
        "auc": _auc(real, fake),
        "tpr_at_fpr_0.01": tpr,
        "real_flagged_rate": (real_verdicts.count("suspected_fake") / len(real_verdicts)) if real_verdicts else None,
        "real_inconclusive_rate": (real_verdicts.count("inconclusive") / len(real_verdicts)) if real_verdicts else None,
        "threshold": threshold,
        "per_label": per_label,
        "verdicts": verdicts,
        "model_version": version,
        "damage": list(damage),
    }
    if kinds:
        report["per_kind"] = {
            kind: _fake_figures(real, [(p, v) for lab, k, p, v in kinds if k == kind and lab != "real"])
            for kind in sorted({k for lab, k, _, _ in kinds if lab != "real"})
        }
        report["real_per_source"] = {}
        for source in sorted({k for lab, k, _, _ in kinds if lab == "real"}):
            counts = _counts([(p, v) for lab, k, p, v in kinds if k == source and lab == "real"])
            n = sum(counts.values())
            report["real_per_source"][source] = {
                "n": n,
                "flagged_rate": counts.get("suspected_fake", 0) / n,
                "inconclusive_rate": counts.get("inconclusive", 0) / n,
            }
    if plot is not None and len(real) and len(fake):
        _plot(plot, real, {label: np.array([p for lab, p, _ in ok if lab == label]) for label in per_label}, threshold)
    return report


def _counts(scored: list[tuple[float, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, verdict in scored:
        counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def _fake_figures(real: np.ndarray, scored: list[tuple[float, str]]) -> dict[str, Any]:
    """AUC of one group of fakes against all real photos, and the share of each verdict at the operating point."""
    counts = _counts(scored)
    return {
        "n": len(scored),
        "auc": _auc(real, np.array([p for p, _ in scored])),
        "detected_rate": counts.get("suspected_fake", 0) / len(scored),
        "inconclusive_rate": counts.get("inconclusive", 0) / len(scored),
    }


def _plot(path: Path, real: np.ndarray, fakes: dict[str, np.ndarray], threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, (roc, hist) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    for label, scores in fakes.items():
        y = np.r_[np.zeros(len(real)), np.ones(len(scores))]
        fpr, tpr, _ = roc_curve(y, np.r_[real, scores])
        roc.plot(fpr, tpr, label=f"{label} (n={len(scores)})")
        op = float((scores >= threshold).mean())
        roc.plot([float((real >= threshold).mean())], [op], "o", mec="black")
    roc.plot([0, 1], [0, 1], ":", color="grey")
    roc.set(xlabel="real photos flagged (FPR)", ylabel="fakes detected (TPR)", title="ROC per fake label")
    roc.legend(fontsize=8)
    bins = np.linspace(0, 1, 41)
    hist.hist(real, bins=bins, alpha=0.6, label="real", density=True)
    for label, scores in fakes.items():
        hist.hist(scores, bins=bins, alpha=0.4, label=label, density=True)
    hist.axvline(threshold, color="black", ls="--", label="operating point")
    hist.set(xlabel="fake_probability", title="score distributions")
    hist.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
