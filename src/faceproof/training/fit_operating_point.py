"""Set the authenticity fusion's operating threshold on real photos of people it never saw: ``faceproof train
operating-point``.

Why: the fusion (:mod:`faceproof.training.fit_fusion`) is fitted on the 214 development images, and its
threshold was chosen on their 64 real photos. Run on real photos of the corpus - other people, other cameras,
other crops - it flagged 9.8 % of them as generated (All-Age-Faces 28 %, docs/authenticity.md): 64 photos of 13
people cannot pin a 1 % false-flag rate. Every corpus photo is out of fold for the fusion (it never trained on
the corpus), so its operating point is re-set here on a draw of real photos from every real source, each seen
clean and once more as a downsized, recompressed copy (what uploads go through): each kind of fake gets a
log-odds offset so that it alone flags at most ``TARGET_SHARE`` / (number of kinds) of them - so all kinds
together flag at most ``TARGET_SHARE`` - pooled over sources (no source gets its own threshold), and never below
zero (the corpus may make a kind stricter, never more lenient than its fit). Each source's own rate is reported.

The photos come from the crop caches' records, excluding the people the evaluation set
(:mod:`faceproof.evaluation.heldout`) is drawn from, so the evaluation stays out of sample for this threshold too.
Only the card changes (``kind_offsets``): the graph stays as fitted, and 0.5 stays every kind's threshold.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

from faceproof.authenticity import fusion
from faceproof.models import artifact
from faceproof.training import export, fit_generated, validation
from faceproof.training.faces import cache_meta

log = logging.getLogger(__name__)

#: Share of the real photos (clean and downsized together) the fusion may flag.
TARGET_SHARE = 0.01
#: The damage every photo is seen under besides clean (names of :mod:`faceproof.training.augment`).
DAMAGE = ("resize",)


def calibration_rows(cache: Path, corpus_dir: Path, per_source: int, seed: int) -> list[tuple[str, str]]:
    """(image path, source) of ``per_source`` real photos per source, none of them of an evaluation-set person."""
    rng = np.random.default_rng(seed)
    out = []
    for source in fit_generated.REAL_SOURCES:
        metas = cache_meta(cache / source)
        kept = [m for m in metas if not validation.held_out(m["identity"], validation.DEFAULT_HELD_OUT)]
        out += [(str(corpus_dir / kept[i]["path"]), source) for i in sorted(rng.permutation(len(kept))[:per_source])]
    return out


def _probabilities(path: str) -> dict[str, list[float]] | None:
    """Worker: each kind's fused probability of one photo, clean and damaged, before any offset (None without a
    face)."""
    from dataclasses import replace

    from faceproof.analysis import analyze
    from faceproof.authenticity.engine import feature_values, measure_signals
    from faceproof.authenticity.fusion import load_fusion
    from faceproof.errors import FaceproofError
    from faceproof.evaluation.damage import damaged

    model = replace(load_fusion(), kind_offsets={})
    try:
        views = [analyze(Path(path), with_dlib=False), analyze(damaged(Path(path), DAMAGE), with_dlib=False)]
    except (FaceproofError, OSError):
        return None
    out: dict[str, list[float]] = {}
    for view in views:
        for kind, p in model.evaluate(feature_values(measure_signals(view))).kind_probabilities.items():
            out.setdefault(kind, []).append(p)
    return out


def run(cache: Path, corpus_dir: Path, per_source: int, seed: int, workers: int, out_dir: Path | None) -> dict:
    """Score the draw, set the threshold, re-write the fusion artefact's card (same graph)."""
    rows = calibration_rows(cache, corpus_dir, per_source, seed)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        scored = list(pool.map(_probabilities, [p for p, _ in rows], chunksize=8))
    kept = [(s, r) for (_, s), r in zip(rows, scored, strict=True) if r is not None]
    sources = np.array([s for s, _ in kept])
    kinds = sorted(kept[0][1])
    probs = {k: np.array([r[k] for _, r in kept]) for k in kinds}  # (n, 2): clean, damaged
    share = TARGET_SHARE / len(kinds)
    cuts = {k: np.clip(np.quantile(probs[k].ravel(), 1.0 - share), 1e-9, 1 - 1e-9) for k in kinds}
    offsets = {k: max(0.0, float(logit(cuts[k]))) for k in kinds}
    flagged = np.zeros((len(kept), 2), bool)
    fitted = np.zeros((len(kept), 2), bool)
    for k in kinds:
        flagged |= probs[k] >= expit(offsets[k])  # the kind's probability after its offset reaches 0.5
        fitted |= probs[k] >= fusion.THRESHOLD
    per_source = {
        s: {
            "n": int((sources == s).sum()),
            "flagged_clean": round(float(flagged[sources == s, 0].mean()), 4),
            "flagged_damaged": round(float(flagged[sources == s, 1].mean()), 4),
            "flagged_at_the_fitted_operating_point": round(float(fitted[sources == s].mean()), 4),
        }
        for s in np.unique(sources)
    }
    card = artifact.load(fusion.ARTIFACT).card
    metrics = {
        **card.metrics,
        "operating_point": {
            "kind_offsets": offsets,
            "flagged": round(float(flagged.mean()), 4),
            "flagged_at_the_fitted_operating_point": round(float(fitted.mean()), 4),
            "photos": len(kept),
            "without_face": len(rows) - len(kept),
            "views": f"clean + {'+'.join(DAMAGE)}",
            "target_share": TARGET_SHARE,
            "per_source": per_source,
            "seed": seed,
        },
    }
    parameters = {
        **card.parameters,
        "kind_offsets": offsets,
        "operating_point_rule": f"each kind flags at most {share:.2%} of out-of-fold real corpus photos (clean and "
        "downsized), pooled over sources (faceproof train operating-point)",
    }
    export.write_artifact(
        (artifact.models_dir() / f"{fusion.ARTIFACT}.onnx").read_bytes(),
        name=card.name,
        version=f"{card.version.split('+')[0]}+op",
        task=card.task,
        inputs=card.inputs,
        outputs=card.outputs,
        parameters=parameters,
        training={
            **card.training,
            "operating_point_data": f"{len(kept)} real photos of the corpus's real sources (evaluation people "
            "excluded): corpus/manifest.csv.gz",
        },
        metrics=metrics,
        licence=card.licence,
        directory=out_dir,
        created=card.created,
    )
    log.info("fusion kind offsets %s on %d photos", offsets, len(kept))
    return metrics["operating_point"]
