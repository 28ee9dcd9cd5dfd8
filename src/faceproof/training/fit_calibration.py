"""Fit the verification calibration (score fusion, operating thresholds, SFace's uncertain band) from data:
``faceproof train calibration``.

Why a fit and not constants: thresholds that were guessed, or fitted on the clean development pairs only
(which raw SFace already separates at 99.6 %), do not hold on the photos the service actually gets. So every
labelled real photo and every generated face (distinct synthetic identities, used as extra impostors) is also
embedded after seeded damage (:mod:`faceproof.training.augment`: each degradation alone and random
combinations), and genuine / impostor pairs are built across all those variants. The 13 development people
cannot pin a false accept rate of 1e-3, so with ``--corpus`` thousands of corpus people join them
(:mod:`faceproof.training.calibration_corpus`: LFW people with several photos, UTKFace and All-Age-Faces faces,
each clean and under three everyday damages).

Steps:

1. Embeddings (SFace and dlib) of every (image, variant): the face is detected again on the damaged image, as the
   service would; variants where YuNet finds no face are left out and counted. Cached in ``--cache`` (npz).
2. Pairs: genuine = every same-identity pair of real photos x variant pairs; impostor = every cross-identity
   pair real x real and real x generated, generated x generated subsampled, x variant pairs (corpus impostors:
   100,000 random photo pairs of different people x variant pairs).
3. Logistic models, cross-validated **grouped by identity**: identities are dealt into folds, and the pairs
   whose identities fall in folds {a, b} are scored by a model fitted without any pair that touches fold a or
   b, so no person is ever on both sides. Models: SFace alone, dlib alone, and the fusion (both cosines).
   Classes are weighted equally, so a model's output is a log-likelihood ratio (see docs/calibration.md).
4. Thresholds at FAR 1e-2, 1e-3, 1e-4 from the impostor scores of the final models, over the impostor pairs with
   a real face on at least one side (:attr:`Pairs.sets_threshold`) (empirical quantile, and a generalised Pareto
   tail fitted to the top impostor scores; the higher of the two is shipped) - one set per *condition* of the
   pair (:data:`faceproof.decision.calibration.CONDITIONS`: the two faces' states - open, noisy, covered - read as
   the service reads them), each from that condition's own impostors.
5. SFace's uncertain band per condition and FAR: outside it, SFace alone agrees with the fusion on >= 99.5 % of
   genuine and of impostor pairs, so verification can skip dlib there.
6. Writes the ``verification_calibration`` artefact (:func:`save_calibration`: the three logistic models as one
   ONNX graph, the thresholds and bands as card parameters) and ROC/DET plots to ``docs/img/``.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import os
import time
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceproof.decision import calibration
from faceproof.decision.calibration import FACE_STATES
from faceproof.errors import FaceproofError
from faceproof.evaluation.damage import face_hint
from faceproof.intake import load_image
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY
from faceproof.measure.quality import face_state, low_sharpness, too_small
from faceproof.training import calibration_corpus, export
from faceproof.training.augment import DEGRADATIONS, degrade
from faceproof.training.common import DEV_DATA, LICENCE, SEED, manifest

log = logging.getLogger(__name__)

FARS = calibration.SUPPORTED_FARS
N_FOLDS = 5
REAL_COMBOS = 3  # random combinations per real photo, besides each degradation alone
GEN_VARIANTS = (("mask",), ("lowres",))  # fixed variants of each generated face, plus GEN_COMBOS random ones
GEN_COMBOS = 2
GEN_GEN_DEGRADED_FRACTION = 0.25  # share of generated x generated pairs kept where a side is degraded
BAND_AGREEMENT = 0.995
#: Fewest impostor pairs a condition needs to set its thresholds (FAR 1e-4 then rests on the tail fit).
MIN_CONDITION_IMPOSTORS = 1000
DIFFERENT_PERSON_FRR = calibration.DIFFERENT_PERSON_FRR
#: Random photo pairs of different corpus people drawn as impostors (each brings its 16 variant pairs).
CORPUS_IMPOSTOR_PHOTO_PAIRS = 100_000
# SFHQ figures that show one synthetic person edited (age, ethnicity, expression, hair) or a 3D render next to
# its photoreal version: two faces from the same such figure are neither known impostors nor known genuine pairs
# (top "impostor" SFace cosines 0.6-0.7 were such pairs), so their pairs are left out.
UNRELIABLE_FIGURES = ("SFHQ_variability_", "bring_to_life_process")


@dataclass(frozen=True)
class Variant:
    """One image as the recognizers see it: ``names`` is () for the clean photo."""

    file: str
    identity: str
    kind: str  # "real" or "generated"
    names: tuple[str, ...]
    seed: int
    family: str = ""  # generated faces that may be edits of one synthetic person share a family

    @property
    def key(self) -> str:
        return f"{self.file}|{'+'.join(self.names) or 'clean'}|{self.seed}"

    @property
    def condition(self) -> str:
        if not self.names:
            return "clean"
        return self.names[0] if len(self.names) == 1 else "combo"


def _seed(*parts: str) -> int:
    return (SEED * 1_000_003 + zlib.crc32("|".join(parts).encode())) % (2**31)


def plan_variants(data: Path) -> list[Variant]:
    """Every (image, damage) the calibration embeds. Deterministic: seeds come from the file name and variant."""
    rows = manifest(data)
    singles = sorted(DEGRADATIONS)
    out: list[Variant] = []
    for row in rows:
        file, label, identity = row["file"], row["label"], row["identity"]
        if label == "real" and not identity:
            continue  # group photos: no identity label
        kind = "real" if label == "real" else "generated"
        identity = identity or f"gen:{file}"
        rng = np.random.default_rng(_seed(file, "combos"))
        combos = []
        for _ in range(REAL_COMBOS if kind == "real" else GEN_COMBOS):
            k = int(rng.integers(2, 4))
            combos.append(tuple(sorted(rng.choice(singles, size=k, replace=False).tolist())))
        fixed = [(n,) for n in singles] if kind == "real" else list(GEN_VARIANTS)
        figure = row["source_path"].split("#")[0]
        family = figure if kind == "generated" and any(m in figure for m in UNRELIABLE_FIGURES) else ""
        for names in [(), *fixed, *combos]:
            out.append(Variant(file, identity, kind, names, _seed(file, *names), family))
    return out


Vectors = tuple[np.ndarray, np.ndarray, np.ndarray]  # sface, dlib, quality (calibration_corpus.QUALITY)
COVER_COLUMN = calibration_corpus.QUALITY.index("lower_face_cover")
NOISE_COLUMN = calibration_corpus.QUALITY.index("noise_level")


def _embed_variants(data: Path, variants: list[Variant]) -> dict[str, Vectors | None]:
    """SFace and dlib vectors and quality per variant key (None where no face was found); each photo loads once."""
    result: dict[str, Vectors | None] = {}
    by_file: dict[str, list[Variant]] = {}
    for v in variants:
        by_file.setdefault(v.file, []).append(v)
    for i, (file, vs) in enumerate(sorted(by_file.items())):
        rgb = load_image(data / file).rgb
        hint = face_hint(rgb)
        for v in vs:
            try:
                found = calibration_corpus.embed_face(degrade(rgb, v.names, v.seed, hint) if v.names else rgb)
                result[v.key] = found[:3] if found is not None else None
            except (FaceproofError, ValueError) as exc:
                log.warning("variant %s failed: %s", v.key, exc)
                result[v.key] = None
        if i % 20 == 0:
            log.info("embedded %d/%d photos", i + 1, len(by_file))
    return result


def load_embeddings(data: Path, variants: list[Variant], cache: Path) -> dict[str, Vectors | None]:
    """Embeddings per variant, computed only for variants not yet in the cache (keyed by file, damage, seed)."""
    code = calibration_corpus.embedding_code()
    path = cache / f"embeddings-q-{SFACE_KEY}-{DLIB_KEY}-{code:08x}.npz".replace("/", "_")
    have: dict[str, Vectors | None] = {}
    if path.exists():
        with np.load(path) as z:
            keys = [str(k) for k in z["keys"]]
            ok = z["ok"]
            for j, k in enumerate(keys):
                have[k] = (z["sface"][j], z["dlib"][j], z["quality"][j]) if ok[j] else None
    todo = [v for v in variants if v.key not in have]
    if todo:
        log.info("embedding %d variants (%d cached)", len(todo), len(have))
        have.update(_embed_variants(data, todo))
        cache.mkdir(parents=True, exist_ok=True)
        keys = sorted(have)
        empty = (np.zeros(128, np.float32), np.zeros(128, np.float32), np.zeros(len(calibration_corpus.QUALITY)))
        rows = [have[k] or empty for k in keys]
        np.savez(
            path,
            keys=np.array(keys),
            ok=np.array([have[k] is not None for k in keys]),
            sface=np.stack([r[0] for r in rows]),
            dlib=np.stack([r[1] for r in rows]),
            quality=np.stack([r[2] for r in rows]).astype(np.float32),
        )
    return {v.key: have[v.key] for v in variants}


@dataclass(frozen=True)
class Pairs:
    """All scored pairs, one row each: cosines, label, identities, kind and damage of both sides."""

    sface: np.ndarray
    dlib: np.ndarray
    same: np.ndarray  # bool
    id_a: np.ndarray  # identity index
    id_b: np.ndarray
    kind: np.ndarray  # "genuine", "real-real", "real-generated", "generated-generated"
    cond_a: np.ndarray  # "clean", a degradation name, "combo", or a corpus damage ("lowres+jpeg", ...)
    cond_b: np.ndarray
    source: np.ndarray  # "dev" or "corpus"
    state_a: np.ndarray  # each face's state, an index into calibration.FACE_STATES, read as the service reads it
    state_b: np.ndarray
    doubted_a: np.ndarray  # bool: the quality gate would doubt this face for blur or size (:func:`doubted_faces`)
    doubted_b: np.ndarray

    @property
    def sets_threshold(self) -> np.ndarray:
        """The impostor pairs the FAR thresholds are read from: every impostor pair with a real face on at least
        one side. Verification compares a probe with a real, enrolled person (enrolment refuses generated faces),
        so two generated faces never meet there; they look far more alike than two real people (FAR 7e-3 at the
        1e-3 threshold), and letting them set the threshold would make it stricter for every real pair."""
        return ~self.same & (self.kind != "generated-generated")

    @property
    def n_degraded(self) -> np.ndarray:
        return (self.cond_a != "clean").astype(int) + (self.cond_b != "clean").astype(int)

    @property
    def condition(self) -> np.ndarray:
        """Each pair's condition as its index in :data:`faceproof.decision.calibration.CONDITIONS`."""
        return CONDITION_OF_STATES[self.state_a, self.state_b]


#: CONDITION_OF_STATES[i, j]: the index in CONDITIONS of a pair of faces in states FACE_STATES[i] and [j].
CONDITION_OF_STATES = np.array(
    [[calibration.CONDITIONS.index(calibration.pair_condition(a, b)) for b in FACE_STATES] for a in FACE_STATES]
)


def face_states(quality: np.ndarray) -> np.ndarray:
    """Each embedded face's state (its index in :data:`FACE_STATES`) from its run-time quality row
    (:data:`calibration_corpus.QUALITY`), by the service's rule (:func:`faceproof.measure.quality.face_state`)."""
    rows = zip(quality[:, COVER_COLUMN], quality[:, NOISE_COLUMN], strict=True)
    return np.array([FACE_STATES.index(face_state(float(c), float(n))) for c, n in rows], int)


SHARPNESS_COLUMN = calibration_corpus.QUALITY.index("sharpness")
BOX_COLUMN = calibration_corpus.QUALITY.index("box_px")
#: Fewest genuine pairs with a doubted face from which a condition's reject threshold is read; below it, the
#: condition's genuine pairs with any damaged photo set it.
MIN_DOUBTED_GENUINE = 500


def doubted_faces(quality: np.ndarray) -> np.ndarray:
    """Whether the quality gate doubts each embedded face for blur or size (``low_sharpness``, ``face_too_small``
    by the gate's own rules on the run-time quality row, which records the box but not the eye distance): the
    probes whose misses the reject threshold decides."""
    sharp, box = quality[:, SHARPNESS_COLUMN], quality[:, BOX_COLUMN]
    return np.asarray(low_sharpness(sharp) | too_small(np.inf, box), bool)


def build_pairs(variants: list[Variant], emb: dict[str, Vectors | None]) -> Pairs:
    """Genuine: same identity, different photos, every variant pair. Impostor: different identities."""
    ok = [v for v in variants if emb[v.key] is not None]
    vs = np.stack([emb[v.key][0] for v in ok])  # type: ignore[index]
    vd = np.stack([emb[v.key][1] for v in ok])  # type: ignore[index]
    idents = sorted({v.identity for v in ok})
    ident = np.array([idents.index(v.identity) for v in ok])
    files = np.array([v.file for v in ok])
    real = np.array([v.kind == "real" for v in ok])
    clean = np.array([not v.names for v in ok])
    family = np.array([v.family for v in ok])
    cond = np.array([v.condition for v in ok])
    quality = np.stack([emb[v.key][2] for v in ok])  # type: ignore[index]
    state, doubted = face_states(quality), doubted_faces(quality)
    ia, ib = np.triu_indices(len(ok), k=1)
    keep = (files[ia] != files[ib]) & ~((family[ia] != "") & (family[ia] == family[ib]))
    same = ident[ia] == ident[ib]
    gen_gen = ~real[ia] & ~real[ib]
    rng = np.random.default_rng(SEED)
    degraded_gg = gen_gen & ~(clean[ia] & clean[ib])
    keep &= ~degraded_gg | (rng.random(len(ia)) < GEN_GEN_DEGRADED_FRACTION)
    ia, ib, same = ia[keep], ib[keep], same[keep]
    n_real = real[ia].astype(int) + real[ib].astype(int)
    kind = np.where(same, "genuine", np.choose(n_real, ["generated-generated", "real-generated", "real-real"]))
    return Pairs(
        sface=(vs @ vs.T).astype(np.float64)[ia, ib],
        dlib=(vd @ vd.T).astype(np.float64)[ia, ib],
        same=same,
        id_a=ident[ia],
        id_b=ident[ib],
        kind=kind,
        cond_a=cond[ia],
        cond_b=cond[ib],
        source=np.full(len(ia), "dev"),
        state_a=state[ia],
        state_b=state[ib],
        doubted_a=doubted[ia],
        doubted_b=doubted[ib],
    )


def build_corpus_pairs(
    photos: list[calibration_corpus.Photo], emb: calibration_corpus.Embedded, first_identity: int
) -> tuple[Pairs, list[str]]:
    """Pairs of the calibration corpus: genuine = every two photos of one person x every two of their variants;
    impostor = ``CORPUS_IMPOSTOR_PHOTO_PAIRS`` random photo pairs of different people x every two variants (all of
    them would be ~10^8). Identities are numbered from ``first_identity`` on; returns the pairs and the names."""
    names = sorted({photos[i].identity for i in np.unique(emb.photo)})
    index = {name: first_identity + k for k, name in enumerate(names)}
    ident = np.array([index[photos[i].identity] for i in emb.photo])
    # genuine: variant pairs of different photos of one person
    by_person: dict[int, list[int]] = {}
    for row, person in enumerate(ident):
        by_person.setdefault(int(person), []).append(row)
    genuine = [
        (r, q)
        for rows in by_person.values()
        for k, r in enumerate(rows)
        for q in rows[k + 1 :]
        if emb.photo[r] != emb.photo[q]
    ]
    # impostor: random photo pairs of different people, every variant pair of each
    by_photo: dict[int, list[int]] = {}
    for row, photo in enumerate(emb.photo):
        by_photo.setdefault(int(photo), []).append(row)
    keys = np.array(sorted(by_photo))
    rng = np.random.default_rng(SEED + 2)
    pa = keys[rng.integers(0, len(keys), CORPUS_IMPOSTOR_PHOTO_PAIRS)]
    pb = keys[rng.integers(0, len(keys), CORPUS_IMPOSTOR_PHOTO_PAIRS)]
    first = {int(p): ident[by_photo[int(p)][0]] for p in keys}
    distinct = np.array([first[int(a)] != first[int(b)] for a, b in zip(pa, pb, strict=True)])
    pairs = {(int(min(a, b)), int(max(a, b))) for a, b in zip(pa[distinct], pb[distinct], strict=True)}
    rows = genuine + [(r, q) for a, b in sorted(pairs) for r in by_photo[a] for q in by_photo[b]]
    ia = np.array([r for r, _ in rows], int)
    ib = np.array([q for _, q in rows], int)
    same = ident[ia] == ident[ib]
    state, doubted = face_states(emb.quality), doubted_faces(emb.quality)
    return (
        Pairs(
            sface=np.einsum("ij,ij->i", emb.sface[ia], emb.sface[ib]).astype(np.float64),
            dlib=np.einsum("ij,ij->i", emb.dlib[ia], emb.dlib[ib]).astype(np.float64),
            same=same,
            id_a=ident[ia],
            id_b=ident[ib],
            kind=np.where(same, "genuine", "real-real"),
            cond_a=emb.damage[ia],
            cond_b=emb.damage[ib],
            source=np.full(len(ia), "corpus"),
            state_a=state[ia],
            state_b=state[ib],
            doubted_a=doubted[ia],
            doubted_b=doubted[ib],
        ),
        names,
    )


def concat_pairs(*parts: Pairs) -> Pairs:
    return Pairs(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Pairs.__dataclass_fields__})


FEATURES = calibration.HEADS
#: Where a condition's deciding model is chosen (:func:`deciding_model`): the operating point, and the candidates.
#: Why a choice at all: one logistic fusion weighs dlib alike for every pair, and on masked faces dlib (TAR 0.43
#: at FAR 1e-3 alone) pulls the far tail down - SFace alone accepted more genuine pairs there (docs/calibration.md).
DECIDING_FAR = calibration.DEFAULT_FAR
DECIDERS = ("fused", "sface")


def features(p: Pairs, model: str, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    return np.column_stack([getattr(p, f)[rows] for f in FEATURES[model]])


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression with both classes weighted equally: the output is a log-likelihood ratio."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000)
    lr.fit(x, y)
    coef = lr.coef_[0]
    if np.any(coef <= 0):
        raise RuntimeError(f"a similarity got a non-positive weight {coef}: the score would not be monotone")
    return coef, float(lr.intercept_[0])


def far_threshold(impostor: np.ndarray, far: float) -> float:
    """Smallest threshold t with at most ``far`` of the impostors at or above it (decision: score >= t)."""
    srt = np.sort(impostor)[::-1]
    k = int(np.floor(far * len(srt)))  # at most k impostors may be >= t
    return float(np.nextafter(srt[k], np.inf)) if k < len(srt) else float(srt[-1])


def tail_threshold(impostor: np.ndarray, far: float, tail: float = 0.01) -> tuple[float, dict[str, float]]:
    """Threshold at ``far`` from a generalised Pareto fit to the impostor scores above their 1-``tail`` quantile."""
    from scipy import stats

    u = float(np.quantile(impostor, 1.0 - tail))
    exceed = impostor[impostor > u] - u
    c, _, scale = stats.genpareto.fit(exceed, floc=0.0)
    p_u = len(exceed) / len(impostor)
    t = u + float(stats.genpareto.ppf(1.0 - far / p_u, c, loc=0.0, scale=scale)) if far < p_u else u
    return t, {"u": u, "shape": float(c), "scale": float(scale), "n_exceed": len(exceed)}


def fold_of_identity(p: Pairs, n_identities: int, real_ids: set[int]) -> np.ndarray:
    """Deal identities into folds: real ones balanced by their genuine pair count, generated ones at random."""
    folds = np.zeros(n_identities, int)
    gen_count = np.bincount(p.id_a[p.same], minlength=n_identities)
    load = np.zeros(N_FOLDS)
    for i in sorted(real_ids, key=lambda i: -gen_count[i]):
        f = int(np.argmin(load))
        folds[i] = f
        load[f] += gen_count[i] + 1e-3
    rng = np.random.default_rng(SEED + 1)
    others = [i for i in range(n_identities) if i not in real_ids]
    folds[others] = rng.integers(0, N_FOLDS, len(others))
    return folds


def shipped_threshold(impostor: np.ndarray, far: float) -> float:
    """The threshold shipped for ``far``: the empirical one, or the tail fit's where that is stricter (at 1e-4
    only a few impostors lie above the empirical threshold, and the tail fit extrapolates their trend)."""
    return max(far_threshold(impostor, far), tail_threshold(impostor, far)[0])


def cross_validate(p: Pairs, folds: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Out-of-fold scores and per-fold thresholds, with no identity on both sides of any split.

    Pairs whose identities lie in folds {a, b} are scored by a model fitted on pairs touching neither fold; the
    FAR thresholds applied to them come from that model's own training impostors of the pair's condition.
    """
    fa, fb = folds[p.id_a], folds[p.id_b]
    y = p.same.astype(int)
    cond_index = p.condition
    out: dict[str, dict[str, np.ndarray]] = {}
    # the training part's genuine acceptance per (fold pair, model, condition) at DECIDING_FAR: what "decided" reads
    train_tar: dict[tuple[int, int, str, int], float] = {}
    for model in FEATURES:
        score = np.full(len(y), np.nan)
        thr = {str(far): np.full(len(y), np.nan) for far in FARS}
        for a, b in itertools.combinations_with_replacement(range(N_FOLDS), 2):
            train = ~np.isin(fa, (a, b)) & ~np.isin(fb, (a, b))
            test = (np.minimum(fa, fb) == a) & (np.maximum(fa, fb) == b)
            if not test.any():
                continue
            coef, icpt = fit_logistic(features(p, model, train), y[train])
            score[test] = features(p, model, test) @ coef + icpt
            for k in range(len(calibration.CONDITIONS)):
                train_imp = features(p, model, train & p.sets_threshold & (cond_index == k)) @ coef + icpt
                for far in FARS:
                    thr[str(far)][test & (cond_index == k)] = far_threshold(train_imp, far)
                train_gen = features(p, model, train & p.same & (cond_index == k)) @ coef + icpt
                train_tar[a, b, model, k] = float(np.mean(train_gen >= far_threshold(train_imp, DECIDING_FAR)))
        out[model] = {"score": score, **thr}
    out["decided"] = {key: np.full(len(y), np.nan) for key in out["fused"]}
    for a, b in itertools.combinations_with_replacement(range(N_FOLDS), 2):
        test = (np.minimum(fa, fb) == a) & (np.maximum(fa, fb) == b)
        for k in range(len(calibration.CONDITIONS)):
            rows = test & (cond_index == k)
            if not rows.any():
                continue
            chosen = deciding_model({m: train_tar[a, b, m, k] for m in DECIDERS})
            for key, values in out[chosen].items():
                out["decided"][key][rows] = values[rows]
    return out


def deciding_model(tar: dict[str, float]) -> str:
    """The model a condition is decided with: SFace alone where it accepts more genuine pairs than the fusion at
    the same FAR, the fusion otherwise (ties included)."""
    return "sface" if tar["sface"] > tar["fused"] else "fused"


def tar_at_far(score: np.ndarray, same: np.ndarray, far: float) -> float:
    """Genuine pairs accepted at the threshold that accepts ``far`` of this set's own impostors (NaN if none)."""
    if not same.any() or same.all():
        return float("nan")
    return float((score[same] >= far_threshold(score[~same], far)).mean())


def roc_auc(score: np.ndarray, same: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(same, score))


def rates(score: np.ndarray, thr: np.ndarray | float, same: np.ndarray) -> dict[str, float]:
    accept = score >= thr
    return {
        "tar": float(accept[same].mean()) if same.any() else float("nan"),
        "far": float(accept[~same].mean()) if (~same).any() else float("nan"),
        "n_genuine": int(same.sum()),
        "n_impostor": int((~same).sum()),
    }


def uncertain_band(
    s: np.ndarray, fused_accept: np.ndarray, same: np.ndarray, s_thr: float, far: float
) -> tuple[tuple[float, float], dict[str, float]]:
    """The narrowest SFace interval [lo, hi] (lo <= s_thr <= hi) outside of which SFace alone (accept above hi,
    reject below lo) agrees with the fused decision on >= BAND_AGREEMENT of genuine and of impostor pairs, and
    adds at most 10 % to the FAR. "Narrowest" = fewest pairs inside, genuine and impostor weighted equally.
    """
    grid_lo = np.unique(np.quantile(s[s <= s_thr], np.linspace(0.0, 1.0, 400)))
    grid_hi = np.unique(np.quantile(s[s >= s_thr], np.linspace(0.0, 1.0, 400)))
    grid_lo = np.append(grid_lo, s_thr)
    grid_hi = np.insert(grid_hi, 0, s_thr)

    def below(mask: np.ndarray, grid: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.sort(s[mask]), grid, side="left")

    def above(mask: np.ndarray, grid: np.ndarray) -> np.ndarray:
        return mask.sum() - np.searchsorted(np.sort(s[mask]), grid, side="right")

    g, im = same, ~same
    n_g, n_i = g.sum(), im.sum()
    # disagreements: below lo SFace rejects (fused accepted), above hi SFace accepts (fused rejected)
    dis_g = below(g & fused_accept, grid_lo)[:, None] + above(g & ~fused_accept, grid_hi)[None, :]
    extra_fa = above(im & ~fused_accept, grid_hi)[None, :]
    dis_i = below(im & fused_accept, grid_lo)[:, None] + extra_fa
    inside = (
        0.5 * (n_g - below(g, grid_lo)[:, None] - above(g, grid_hi)[None, :]) / n_g
        + 0.5 * (n_i - below(im, grid_lo)[:, None] - above(im, grid_hi)[None, :]) / n_i
    )
    ok = (dis_g <= (1 - BAND_AGREEMENT) * n_g) & (dis_i <= (1 - BAND_AGREEMENT) * n_i) & (extra_fa <= 0.1 * far * n_i)
    cost = np.where(ok, inside, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    lo, hi = float(grid_lo[i]), float(grid_hi[j])
    outside = (s < lo) | (s > hi)
    shortcut = np.where(s > hi, True, np.where(s < lo, False, fused_accept))
    return (lo, hi), {
        "inside_genuine": float((~outside[g]).mean()),
        "inside_impostor": float((~outside[im]).mean()),
        "inside_balanced": float(inside[i, j]),
        "agreement_genuine": float((shortcut[g] == fused_accept[g]).mean()),
        "agreement_impostor": float((shortcut[im] == fused_accept[im]).mean()),
        "tar_fused": float(fused_accept[g].mean()),
        "tar_shortcut": float(shortcut[g].mean()),
        "far_fused": float(fused_accept[im].mean()),
        "far_shortcut": float(shortcut[im].mean()),
    }


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def _r_up(x: float) -> float:
    """Rounded up to 6 decimals: a shipped threshold must not admit an impostor its exact value kept out."""
    return math.ceil(float(x) * 1e6) / 1e6


def _r_down(x: float) -> float:
    return math.floor(float(x) * 1e6) / 1e6


def _subsets(p: Pairs) -> dict[str, np.ndarray]:
    nd = p.n_degraded
    subsets = {"all": np.ones(len(nd), bool), "clean": nd == 0, "one_degraded": nd == 1, "both_degraded": nd == 2}
    dev, corpus = p.source == "dev", p.source == "corpus"
    for name in [*sorted(DEGRADATIONS), "combo"]:
        ok_a = np.isin(p.cond_a, ("clean", name))
        ok_b = np.isin(p.cond_b, ("clean", name))
        subsets[f"deg:{name}"] = ok_a & ok_b & (nd > 0) & dev
    if corpus.any():
        subsets["corpus:all"] = corpus
        subsets["corpus:clean"] = corpus & (nd == 0)
        for name in calibration_corpus.DAMAGES:
            if name != "clean":
                one = (p.cond_a == "clean") & (p.cond_b == name) | (p.cond_b == "clean") & (p.cond_a == name)
                subsets[f"corpus:clean-vs-{name}"] = corpus & one
                subsets[f"corpus:{name}-vs-{name}"] = corpus & (p.cond_a == name) & (p.cond_b == name)
    for kind in ("real-real", "real-generated", "generated-generated"):
        subsets[f"impostors:{kind}"] = p.same | (p.kind == kind)  # all genuine pairs, impostors of one kind
    for k, condition in enumerate(calibration.CONDITIONS):  # as the pair is read, not as it was made
        subsets[f"condition:{condition}"] = p.condition == k
    return subsets


def fit_all(p: Pairs, n_identities: int, real_ids: set[int], data: dict[str, Any]) -> dict:
    """Everything the artefact holds, plus the out-of-fold scores for the plots (key ``_oof``). ``data``
    describes the pairs' sources for the card; the pair counts are added here."""
    cond_index = p.condition
    for k, condition in enumerate(calibration.CONDITIONS):
        n = int((p.sets_threshold & (cond_index == k)).sum())
        if n < MIN_CONDITION_IMPOSTORS:
            raise RuntimeError(f"only {n} impostor pairs of condition {condition!r}: too few to set its thresholds")
    folds = fold_of_identity(p, n_identities, real_ids)
    log.info("pairs: %d genuine, %d impostor; cross-validating", p.same.sum(), (~p.same).sum())
    oof = cross_validate(p, folds)
    y = p.same.astype(int)
    subsets = _subsets(p)

    models: dict[str, dict] = {}
    final: dict[str, np.ndarray] = {}
    thresholds: dict[str, dict[str, dict[str, float]]] = {c: {} for c in calibration.CONDITIONS}
    detail: dict[str, dict[str, dict[str, dict]]] = {c: {} for c in calibration.CONDITIONS}

    def _raw(model: str) -> np.ndarray:
        """Each pair's score on the scale its thresholds are shipped in: the fused score, or the model's cosine."""
        return final[model] if model == "fused" else getattr(p, model)

    for model, feats in FEATURES.items():
        coef, icpt = fit_logistic(features(p, model), y)
        models[model] = {"features": list(feats), "coef": [_r(c) for c in coef], "intercept": _r(icpt)}
        final[model] = features(p, model) @ coef + icpt
        # sface and dlib thresholds are shipped as cosines (their own scale); the fusion's as a fused score
        raw = _raw(model)
        for k, condition in enumerate(calibration.CONDITIONS):
            sets = p.sets_threshold & (cond_index == k)
            imp = raw[sets]
            thresholds[condition][model], detail[condition][model] = {}, {}
            for far in FARS:
                emp = far_threshold(imp, far)
                fit, tail = tail_threshold(imp, far)
                shipped = _r_up(shipped_threshold(imp, far))
                above = sets & (raw >= shipped)
                id_pairs = {tuple(sorted(t)) for t in zip(p.id_a[above], p.id_b[above], strict=True)}
                thresholds[condition][model][str(far)] = _r(shipped)
                detail[condition][model][str(far)] = {
                    "empirical": _r(emp),
                    "tail_fit": _r(fit),
                    "shipped": _r(shipped),
                    "impostor_pairs": int(sets.sum()),
                    "impostor_pairs_at_or_above": int(above.sum()),
                    "identity_pairs_at_or_above": len(id_pairs),
                    "tail": {k: _r(v) if isinstance(v, float) else v for k, v in tail.items()},
                }

    def pair_thresholds(model: str, far: float) -> np.ndarray:
        """Each pair's shipped threshold: the one of its condition."""
        table = np.array([thresholds[c][model][str(far)] for c in calibration.CONDITIONS])
        return table[cond_index]

    decide_with: dict[str, str] = {}
    for k, condition in enumerate(calibration.CONDITIONS):
        genuine = p.same & (cond_index == k)
        decide_with[condition] = deciding_model(
            {
                model: float(np.mean(_raw(model)[genuine] >= thresholds[condition][model][str(DECIDING_FAR)]))
                for model in DECIDERS
            }
        )
    by_fusion = np.array([decide_with[c] == "fused" for c in calibration.CONDITIONS])[cond_index]

    def decided_thresholds(far: float) -> np.ndarray:
        """Each pair's shipped threshold, of the model deciding its condition (on that model's scale, as ``_raw``)."""
        return np.where(by_fusion, pair_thresholds("fused", far), pair_thresholds("sface", far))

    metrics: dict[str, dict] = {"cross_validated": {}, "shipped": {}}
    for model in oof:
        cv = metrics["cross_validated"][model] = {"auc": {}, "at_far": {}, "tar_at_own_far": {}}
        for name in ("all", "clean", "one_degraded", "both_degraded"):
            cv["auc"][name] = _r(roc_auc(oof[model]["score"][subsets[name]], p.same[subsets[name]]))
        for name, m in subsets.items():  # the subset's own ROC: its impostors set the threshold (a DET point)
            cv["tar_at_own_far"][name] = {
                str(far): _r(tar_at_far(oof[model]["score"][m], p.same[m], far)) for far in FARS
            }
        for far in FARS:
            cv["at_far"][str(far)] = {
                name: {k: _r(v) for k, v in rates(oof[model]["score"][m], oof[model][str(far)][m], p.same[m]).items()}
                for name, m in subsets.items()
            }
        if model == "decided":
            raw = np.where(by_fusion, _raw("fused"), _raw("sface"))
            shipped_thresholds = decided_thresholds
        else:
            raw = _raw(model)
            shipped_thresholds = functools.partial(pair_thresholds, model)
        metrics["shipped"][model] = {
            str(far): {
                name: {k: _r(v) for k, v in rates(raw[m], shipped_thresholds(far)[m], p.same[m]).items()}
                for name, m in subsets.items()
            }
            for far in FARS
        }

    reject_below, metrics["reject"] = reject_thresholds(p, folds)

    bands: dict[str, dict[str, dict[str, list[float]]]] = {}
    band_stats: dict[str, dict[str, dict[str, float]]] = {}
    for k, condition in enumerate(calibration.CONDITIONS):
        m = cond_index == k
        bands[condition], band_stats[condition] = {"sface": {}}, {}
        for far in FARS:
            accept = final["fused"][m] >= thresholds[condition]["fused"][str(far)]
            (lo, hi), st = uncertain_band(p.sface[m], accept, p.same[m], thresholds[condition]["sface"][str(far)], far)
            bands[condition]["sface"][str(far)] = [_r_down(lo), _r_up(hi)]  # never narrower than fitted
            band_stats[condition][str(far)] = {k: _r(v) for k, v in st.items()}
    metrics["uncertain_band"] = band_stats

    kinds, counts = np.unique(p.kind, return_counts=True)
    data = {
        **data,
        "pairs": {str(k): int(c) for k, c in zip(kinds, counts, strict=True)},
        "pairs_by_damage": {
            name: {"genuine": int((m & p.same).sum()), "impostor": int((m & ~p.same).sum())}
            for name, m in subsets.items()
        },
        "folds": N_FOLDS,
    }
    now = datetime.now(UTC)
    return {
        "version": now.strftime("%Y.%m.%d.%H%M") + f"-{SFACE_KEY}+{DLIB_KEY}",  # a refit the same day differs
        "created": now.isoformat(timespec="seconds"),
        "score": (
            "fused_score = intercept + coef . features (cosine similarities): the natural-log likelihood ratio "
            "same/different person, fitted with equal class weights; match_probability = sigmoid(fused_score) "
            "is the probability at even prior odds. sface/dlib thresholds are cosines, fused thresholds are "
            "fused scores; a pair matches when its score >= the threshold."
        ),
        "model_keys": {"sface": SFACE_KEY, "dlib": DLIB_KEY},
        "data": data,
        "models": models,
        "thresholds": thresholds,
        "decide_with": decide_with,
        "threshold_detail": detail,
        "uncertain_band": bands,
        "reject_below": reject_below,
        "metrics": metrics,
        "_oof": oof,
    }


def reject_thresholds(p: Pairs, folds: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """Per condition, the SFace cosine under which only DIFFERENT_PERSON_FRR of the genuine pairs with a face the
    quality gate doubts fall (rounded down) - the pairs the rule decides; with fewer than MIN_DOUBTED_GENUINE of
    them, the genuine pairs with any damaged photo (failing that, all). And how it holds out of fold: each identity
    fold's pairs of that kind against the threshold the other folds' set, and the share of that fold's impostor
    pairs of that kind below it (the "inconclusive" answers it turns into "different person")."""
    cond_index, fold = p.condition, folds[p.id_a]
    populations = {
        "a doubted face": p.doubted_a | p.doubted_b,
        "a damaged photo": p.n_degraded > 0,
        "any photo": np.ones(len(p.same), bool),
    }
    shipped: dict[str, dict[str, float]] = {}
    report: dict[str, dict] = {}
    for k, condition in enumerate(calibration.CONDITIONS):
        set_on, kind = next(
            (
                (name, rows)
                for name, rows in populations.items()
                if (p.same & rows & (cond_index == k)).sum() >= MIN_DOUBTED_GENUINE
            ),
            ("any photo", populations["any photo"]),
        )
        genuine = p.same & kind & (cond_index == k)
        impostor = p.sets_threshold & kind & (cond_index == k)
        shipped[condition] = {
            "sface": _r_down(float(np.quantile(p.sface[genuine], DIFFERENT_PERSON_FRR, method="lower")))
        }
        below_genuine, below_impostor = [], []
        for f in range(N_FOLDS):
            rest = genuine & (fold != f)
            if not rest.any():
                continue
            thr = float(np.quantile(p.sface[rest], DIFFERENT_PERSON_FRR, method="lower"))
            below_genuine.append(p.sface[genuine & (fold == f)] < thr)
            below_impostor.append(p.sface[impostor & (fold == f)] < thr)
        report[condition] = {
            "threshold": shipped[condition]["sface"],
            "set_on": set_on,
            "genuine_pairs": int(genuine.sum()),
            "impostor_pairs": int(impostor.sum()),
            "oof_genuine_below": _r(float(np.concatenate(below_genuine).mean())),
            "oof_impostors_below": _r(float(np.concatenate(below_impostor).mean())),
        }
    return shipped, report


def dev_summary(variants: list[Variant], emb: dict[str, Vectors | None]) -> dict[str, Any]:
    """What the card says about the development part of the calibration set."""
    failed = [v for v in variants if emb[v.key] is None]
    return {
        "source": DEV_DATA,
        "seed": SEED,
        "images": {
            "real": len({v.file for v in variants if v.kind == "real"}),
            "generated": len({v.file for v in variants if v.kind == "generated"}),
        },
        "variants": {
            "total": len(variants),
            "no_face_found": len(failed),
            "no_face_by_condition": {
                c: sum(1 for v in failed if v.condition == c) for c in sorted({v.condition for v in failed})
            },
            "per_real_photo": f"clean + each of {sorted(DEGRADATIONS)} + {REAL_COMBOS} random combinations",
            "per_generated_face": f"clean + {[list(g) for g in GEN_VARIANTS]} + {GEN_COMBOS} random combinations",
        },
        "generated_generated_degraded_fraction": GEN_GEN_DEGRADED_FRACTION,
    }


def corpus_summary(photos: list[calibration_corpus.Photo], emb: calibration_corpus.Embedded) -> dict[str, Any]:
    """What the card says about the corpus part of the calibration set."""
    used = [photos[i] for i in np.unique(emb.photo)]
    cc_quality = calibration_corpus.QUALITY
    return {
        "source": "corpus/manifest.csv.gz: " + calibration_corpus.LICENCE,
        "photos": {src: sum(1 for ph in used if ph.source == src) for src in sorted({ph.source for ph in used})},
        "people": len({ph.identity for ph in used}),
        "photos_per_person_at_most": calibration_corpus.PHOTOS_PER_PERSON,
        "damages": {k: list(v) for k, v in calibration_corpus.DAMAGES.items()},
        "no_face_found": emb.missing,
        "impostor_photo_pairs_drawn": CORPUS_IMPOSTOR_PHOTO_PAIRS,
        "median_quality_by_damage": {
            d: {q: _r(float(np.median(emb.quality[emb.damage == d, k])), 3) for k, q in enumerate(cc_quality)}
            for d in calibration_corpus.DAMAGES
            if (emb.damage == d).any()
        },
    }


def damaged_view_effect(photos: list[calibration_corpus.Photo], emb: calibration_corpus.Embedded) -> dict[str, Any]:
    """SFace alone on the corpus pairs, TAR at each FAR on each pair set's own ROC: with SFace's own vectors
    (:attr:`calibration_corpus.Embedded.sface_plain`) and as the service embeds (for noisy and covered faces, the
    mean with the damaged-face view's) - what the view buys, on the same faces and pairs, measured in every fit."""
    view, _ = build_corpus_pairs(photos, emb, first_identity=0)
    plain, _ = build_corpus_pairs(photos, replace(emb, sface=emb.sface_plain), first_identity=0)
    out: dict[str, Any] = {
        "what": "SFace alone, TAR at FAR on each corpus pair set's own impostors: own vectors -> "
        "the damaged-face view for noisy or covered faces"
    }
    for name, rows in _subsets(view).items():
        if name.startswith("corpus:"):
            out[name] = {
                str(far): [_r(tar_at_far(p.sface[rows], p.same[rows], far)) for p in (plain, view)] for far in FARS
            }
    return out


def plot_curves(p: Pairs, oof: dict[str, dict[str, np.ndarray]], out_dir: Path) -> None:
    """ROC (TAR vs FAR) and DET (FRR vs FAR) of the out-of-fold scores, clean pairs beside damaged ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    nd = p.n_degraded
    colours = {"sface": "tab:blue", "dlib": "tab:orange", "fused": "tab:green"}
    for kind in ("roc", "det"):
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=90)
        for model, c in colours.items():
            for label, m, style in (("clean", nd == 0, ":"), ("damaged", nd > 0, "-")):
                fpr, tpr, _ = roc_curve(p.same[m], oof[model]["score"][m])
                y = tpr if kind == "roc" else 1 - tpr
                ax.plot(np.maximum(fpr, 1e-6), np.maximum(y, 1e-5), style, color=c, label=f"{model} ({label})")
        for far in FARS:
            ax.axvline(far, color="grey", lw=0.5)
        ax.set_xscale("log")
        ax.set_xlim(1e-5, 1)
        ax.set_xlabel("false accept rate (impostor pairs)")
        if kind == "roc":
            ax.set_ylim(0.5, 1.0)
            ax.set_ylabel("true accept rate (genuine pairs)")
            ax.set_title("ROC, identity-grouped cross-validation")
            ax.legend(loc="lower right", fontsize=7)
        else:
            ax.set_yscale("log")
            ax.set_ylim(1e-3, 1)
            ax.set_ylabel("false reject rate")
            ax.set_title("DET, identity-grouped cross-validation")
            ax.legend(loc="lower left", fontsize=7)
        ax.grid(True, which="both", lw=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / f"calibration_{kind}.png")
        plt.close(fig)
    if (p.source == "corpus").any():
        plot_corpus_det(p, oof, out_dir)


def plot_corpus_det(p: Pairs, oof: dict[str, dict[str, np.ndarray]], out_dir: Path) -> None:
    """DET curves of the corpus people per damage (out-of-fold): a clean enrolment photo against a damaged
    probe, fused score (solid) beside SFace alone (dashed)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    subsets = _subsets(p)
    fig, ax = plt.subplots(figsize=(6.5, 4.8), dpi=90)
    names = ["corpus:clean"] + [f"corpus:clean-vs-{d}" for d in calibration_corpus.DAMAGES if d != "clean"]
    for name, colour in zip(names, ("black", "tab:blue", "tab:red", "tab:purple"), strict=False):
        m = subsets[name]
        for model, style in (("fused", "-"), ("sface", "--")):
            fpr, tpr, _ = roc_curve(p.same[m], oof[model]["score"][m])
            label = f"{name.split(':', 1)[1]} ({model}, {int((m & p.same).sum())} genuine)"
            ax.plot(np.maximum(fpr, 1e-6), np.maximum(1 - tpr, 1e-4), style, color=colour, label=label)
    for far in FARS:
        ax.axvline(far, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-5, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("false accept rate (impostor pairs)")
    ax.set_ylabel("false reject rate")
    ax.set_title("DET per damage, corpus people (identity-grouped CV)")
    ax.legend(loc="lower left", fontsize=6.5)
    ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "calibration_det_corpus.png")
    plt.close(fig)


def save_calibration(result: dict[str, Any], directory: Path | None = None) -> Path:
    """Write :func:`fit_all`'s result as the ``verification_calibration`` artefact: the three logistic models as
    heads of one graph over ``x = [sface, dlib]`` (no standardisation: mean 0, scale 1; float64, as the service
    scores), the operating-point tables as card parameters, the data and figures as training and metrics."""
    columns = ("sface", "dlib")
    heads = [
        export.LinearHead(
            name,
            tuple(m["features"]),
            np.zeros(len(m["features"])),
            np.ones(len(m["features"])),
            np.asarray(m["coef"], np.float64),
            float(m["intercept"]),
        )
        for name, m in result["models"].items()
    ]
    graph = export.linear_heads_graph(columns, heads, calibration.ARTIFACT, np.float64)
    inputs, outputs = export.linear_contract(
        columns, heads, np.float64, "natural-log likelihood ratio same / different person"
    )
    return export.write_artifact(
        graph,
        name=calibration.ARTIFACT,
        version=result["version"],
        task="identity verification: fusion of SFace and dlib cosine similarities, thresholds per false accept rate",
        inputs={
            "x": inputs["x"] + " (cosine similarities [sface, dlib]; dlib NaN when not computed: only "
            "logit_sface is then read)"
        },
        outputs=outputs,
        parameters={
            "score": result["score"],
            "model_keys": result["model_keys"],
            "thresholds": result["thresholds"],
            "decide_with": result["decide_with"],
            "uncertain_band": result["uncertain_band"],
            "reject_below": result["reject_below"],
            "reject_target_frr": DIFFERENT_PERSON_FRR,
        },
        training={
            "data": "; ".join(
                part["source"] for part in (result["data"].get(k) for k in ("development", "corpus")) if part
            ),
            "seed": SEED,
            **result["data"],
        },
        metrics={**result["metrics"], "threshold_detail": result["threshold_detail"]},
        licence={**LICENCE, "weights": LICENCE["weights"] + "; scores of SFace (Apache-2.0) and dlib (public domain)"},
        directory=directory,
        created=result["created"],
    )


def run(
    data: Path,
    cache: Path,
    img_dir: Path | None = None,
    out: Path | None = None,
    embed_only: bool = False,
    corpus: Path | None = None,
    corpus_manifest: Path = Path("corpus/manifest.csv.gz"),
    workers: int = 1,
) -> Path | None:
    """Embed every variant (cached in ``cache``), fit, write the artefact into ``out`` (default: the package's
    models) and the ROC/DET plots into ``img_dir``; with ``embed_only``, stop once the cache is filled. With
    ``corpus`` (the extracted corpus folder), the corpus people of :mod:`calibration_corpus` join the pairs."""
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/mpl")
    start = time.perf_counter()
    variants = plan_variants(data)
    emb = load_embeddings(data, variants, cache)
    people = None
    if corpus is not None:
        photos = calibration_corpus.plan_photos(corpus_manifest)
        people = photos, calibration_corpus.embed(corpus, photos, cache, workers)
    log.info("embeddings ready in %.0f s", time.perf_counter() - start)
    if embed_only:
        return None
    pairs = build_pairs(variants, emb)
    idents = sorted({v.identity for v in variants if emb[v.key] is not None})
    real_ids = {i for i, name in enumerate(idents) if not name.startswith("gen:")}
    summary = {"development": dev_summary(variants, emb)}
    n_identities = len(idents)
    if people is not None:
        corpus_pairs, names = build_corpus_pairs(*people, first_identity=n_identities)
        pairs = concat_pairs(pairs, corpus_pairs)
        real_ids |= set(range(n_identities, n_identities + len(names)))
        n_identities += len(names)
        summary["corpus"] = corpus_summary(*people)
        summary["damaged_face_view"] = damaged_view_effect(*people)
    summary["identities"] = {"real": len(real_ids), "generated": n_identities - len(real_ids)}
    result = fit_all(pairs, n_identities, real_ids, summary)
    oof = result.pop("_oof")
    if img_dir is not None:
        plot_curves(pairs, oof, img_dir)
    result["metrics"]["fit_runtime_s"] = round(time.perf_counter() - start, 1)
    path = save_calibration(result, out)
    log.info("wrote %s: %s", path, json.dumps({k: result[k] for k in ("models", "thresholds", "uncertain_band")}))
    return path
