"""Fit the authenticity fusion (the ``authenticity_fusion`` artefact) reproducibly from the dev data: ``faceproof
train fusion``.

Data (seeded, deterministic):
- real photos of ``manifest.csv`` (label ``real``): clean + ordinary processing (resize 0.5-1.0, JPEG 70-95, mild
  crop) + hard damage (two of blur, noise, low resolution, heavy JPEG, bad exposure, a mask over the lower face):
  the negatives the threshold must not flag;
- generated faces (``stylegan2``, ``diffusion``): clean + the same processing;
- swaps made from the real photos only (self-blended images and landmark swaps between people,
  :mod:`faceproof.training.manipulate`) and simulated screen/print replays (:mod:`faceproof.authenticity.recapture`).

Evaluation: cross-validation grouped by identity (a person's photos, and every fake derived from them, are never
split) and by kind of fake: for each fake family the model is trained without it and tested on it, against real
photos of held-out people - the figure that says how the fusion generalises to fakes it has never seen.
Nothing is fitted on image size, format or compression history: every feature is computed on the face region.

The learned detector's margin is one of the features, and the shipped detector was trained on these very images,
so its margins here are in-sample (too well separated). Therefore the pooled SFace activations it reads are kept
for every row, and the probe is **re-fitted exactly as :mod:`faceproof.training.fit_learned` fits it** (its
feature table of augmented dev images, its C and threshold rule) but without the people and generators a split
holds out: in the cross-validation a held-out generator is held out of the probe too, and the shipped fusion is
fitted on cross-fitted margins (each row scored by a probe that never saw its person or image) whose scale is the
shipped probe's. The operating thresholds come from out-of-fold fusion probabilities of real photos, grouped by person,
so "1 % of real photos flagged" is a statement about people the model has not seen.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from faceproof.analysis import analyze
from faceproof.authenticity import fusion, learned
from faceproof.authenticity.engine import feature_values, measure_signals
from faceproof.errors import FaceproofError
from faceproof.models import artifact
from faceproof.training import export
from faceproof.training import fit_learned as learned_training
from faceproof.training.common import DEV_DATA, LICENCE, SEED, manifest

log = logging.getLogger(__name__)


@dataclass
class Row:
    identity: str
    family: str  # real / stylegan2 / diffusion / swap / recapture
    label: str  # finer: sdxl, flux, sbi, landmark_swap, screen, print, real
    condition: str  # clean / processed / hard
    features: dict[str, float]
    probe: np.ndarray | None = None  # the learned detector's pooled SFace activations (None: no usable face)


def ordinary(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What an honest photo goes through: resize, mild crop, JPEG 70-95."""
    h, w = rgb.shape[:2]
    cx, cy = rng.uniform(0, 0.08, 2)
    out = rgb[int(cy * h) : h - int(rng.uniform(0, 0.08) * h), int(cx * w) : w - int(rng.uniform(0, 0.08) * w)]
    f = rng.uniform(0.5, 1.0)
    out = cv2.resize(
        out, (max(64, round(out.shape[1] * f)), max(64, round(out.shape[0] * f))), interpolation=cv2.INTER_AREA
    )
    _, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(out[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))]
    )
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def hard(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two of the everyday damages of :mod:`faceproof.training.augment` (a mask over the lower face included)."""
    from faceproof.evaluation.damage import face_hint
    from faceproof.training.augment import combine

    names = ["gaussian_blur", "noise", "lowres", "jpeg", "photometric", "mask"]
    hint = face_hint(rgb)
    if hint is None:
        names.remove("mask")
    chosen = list(rng.choice(names, size=2, replace=False))
    return combine(chosen, rgb, rng, hint)


SIGNAL_OF: dict[str, str] = {}  # feature -> the signal that measured it (filled while measuring)


def features_of(rgb_or_path: np.ndarray | Path) -> tuple[dict[str, float], np.ndarray | None] | None:
    """Every signal's features, and the pooled activations the learned probe reads (None without a usable face)."""
    try:
        a = analyze(rgb_or_path, with_dlib=False)
    except FaceproofError:
        return None
    findings = measure_signals(a)
    for f in findings:
        SIGNAL_OF.update(dict.fromkeys(f.features, f.signal))
    values = feature_values(findings)
    usable = values[MARGIN] != learned.neutral_margin()  # the detector returns exactly the neutral margin when empty
    return values, (learned.probe_features(a.image.rgb, a.subject.face.keypoints) if usable else None)


def build_rows(data: Path, rng: np.random.Generator) -> list[Row]:
    from faceproof.authenticity import recapture
    from faceproof.training import manipulate as swap

    rows: list[Row] = []
    reals = []
    rows_of_manifest = manifest(data)
    for i, m in enumerate(rows_of_manifest):
        family = m["label"]
        identity = m["identity"] or f"{family}_{i}"
        label = family if family != "diffusion" else ("flux" if "FLUX" in m["generator"] else "sdxl")
        rgb = cv2.imread(str(data / m["file"]))[:, :, ::-1].copy()
        for condition, img in (("clean", rgb), ("processed", ordinary(rgb, rng)), ("hard", hard(rgb, rng))):
            f = features_of(img if condition != "clean" else data / m["file"])
            if f is not None:
                rows.append(Row(identity, family, label, condition, *f))
        if family == "real":
            reals.append((identity, rgb))
        log.info("%d/%d %s", i + 1, len(rows_of_manifest), m["file"])
    # Synthesised fakes from the real photos: swaps and replays, each also processed.
    meshes = {}
    for _, rgb in reals:
        try:
            meshes[id(rgb)] = analyze(rgb, with_dlib=False).subject.landmarks
        except FaceproofError:
            meshes[id(rgb)] = None
    for k, (identity, rgb) in enumerate(reals):
        other_identity, other = reals[(k + 7) % len(reals)]
        made: dict[str, np.ndarray] = {}
        lm, other_lm = meshes[id(rgb)], meshes[id(other)]
        if lm is not None:
            made["sbi"] = swap.self_blend(rgb, lm, seed=SEED + k).rgb
            if other_lm is not None and other_identity != identity:
                made["landmark_swap"] = swap.swap_faces(other, other_lm, rgb, lm, seed=SEED + k)
        made.update(recapture.make_recapture_variants(rgb, seed=SEED + k))
        for label, img in made.items():
            family = "recapture" if label in {"screen", "print"} else "swap"
            for condition, x in (("clean", img), ("processed", ordinary(img, rng))):
                f = features_of(x)
                if f is not None:
                    rows.append(Row(identity, family, label, condition, *f))
        log.info("synthetic %d/%d", k + 1, len(reals))
    return rows


#: Which fake families train which kind model, and which signals' features each kind may use.
KIND_FAMILIES = {"generated": {"stylegan2", "diffusion"}, "swapped": {"swap"}, "recaptured": {"recapture"}}
KIND_SIGNALS = {
    "generated": {"frequency", "noise", "learned", "physiology"},
    "swapped": {"blending"},
    "recaptured": {"recapture"},
}
#: Features that belong to another kind than their signal's (face/background noise mismatch is a swap cue).
FEATURE_KIND = {"noise_face_bg": "swapped"}
#: Cross-validation splits per kind: (train families/labels, test families/labels) - never seen in training.
HELD_OUT = {
    "generated": [
        ({"stylegan2"}, {"diffusion"}),
        ({"diffusion"}, {"stylegan2"}),
        ({"sdxl"}, {"flux"}),
        ({"flux"}, {"sdxl"}),
    ],
    "swapped": [({"sbi"}, {"landmark_swap"}), ({"landmark_swap"}, {"sbi"})],
    "recaptured": [({"screen"}, {"print"}), ({"print"}, {"screen"})],
}
REAL_FLAGGED = 0.01
MARGIN = "learned_margin"
#: Folds for cross-fitting: the probe's inner folds, and the shipped fusion's outer folds (margins and thresholds).
PROBE_FOLDS = 3
#: Where a kind's fakes start, for :func:`gap_threshold`: the 5th percentile of their out-of-fold probabilities.
GAP_FAKE_QUANTILE = 0.05
FUSION_FOLDS = 5
#: A kind model ships only if it separates the held-out fakes of its kind from real photos at least this well
#: (mean cross-validated AUC on processed images); a model at chance would only add false alarms.
MIN_HELD_OUT_AUC = 0.6


def kind_features(names: list[str], signal_of: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in KIND_SIGNALS}
    for n in names:
        kind = FEATURE_KIND.get(n) or next((k for k, sig in KIND_SIGNALS.items() if signal_of.get(n) in sig), None)
        if kind:
            out[kind].append(n)
    return out


def matrix(rows: list[Row], names: list[str], neutral: dict[str, float]) -> np.ndarray:
    return np.array([[r.features.get(n, neutral[n]) for n in names] for r in rows], dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model


def prob(model: LogisticRegression, mean: np.ndarray, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    return model.predict_proba((x - mean) / scale)[:, 1]


def _tag(r: Row) -> set[str]:
    return {r.family, r.label}


@dataclass(frozen=True)
class Probe:
    """The learned detector, re-fitted exactly as :mod:`faceproof.training.fit_learned` fits the shipped one (its
    feature table of augmented dev images, C and threshold rule) but without the people and generators a split
    holds out, and applied to the fusion rows' own activations. So a re-fitted margin means what the shipped margin
    means."""

    x: np.ndarray  # (rows, dims) the fusion rows' pooled activations; zeros where the row has none
    usable: np.ndarray  # bool per fusion row
    groups: np.ndarray  # per fusion row: the training table's group (person, or image) of the photo it comes from
    table: learned_training.Table
    table_x: np.ndarray
    c: float  # the shipped probe's regularisation

    @classmethod
    def of(cls, rows: list[Row], groups: np.ndarray, table: learned_training.Table) -> Probe:
        x, usable = stacked_probes(rows)
        return cls(
            x=x,
            usable=usable,
            groups=groups,
            table=table,
            table_x=learned_training.FEATURE_SETS[learned_training.SHIPPED](table).astype(np.float64),
            c=float(artifact.load(learned.ARTIFACT).card.training["C"]),
        )

    def margins(self, exclude: set[str], generators: set[str]) -> np.ndarray:
        """Every fusion row's margin from a probe trained on the table's real photos and ``generators``' images,
        leaving out the groups in ``exclude``; NaN where a row has no usable face."""
        lt, t = learned_training, self.table
        keep = np.flatnonzero(
            ~np.isin(t.group, list(exclude)) & ((t.label == 0) | np.isin(t.generator, list(generators)))
        )
        x, y, g = self.table_x[keep], t.label[keep], t.group[keep]
        oof = np.zeros(len(keep))
        for a, b in GroupKFold(PROBE_FOLDS).split(x, y, g):
            oof[b] = lt.decision(lt.fit(x[a], y[a], self.c), x[b])
        threshold = lt.operating_threshold(oof[y == 0], t.variant[keep][y == 0])
        margin = lt.decision(lt.fit(x, y, self.c), self.x.astype(np.float64)) - threshold
        return np.where(self.usable, margin, np.nan)

    def cross_fitted(self, rows: np.ndarray, generators: set[str], exclude: set[str], folds: int) -> np.ndarray:
        """Margins of the fusion rows in ``rows``, each from a probe that left out its own group (grouped folds),
        and ``exclude`` as well; NaN elsewhere."""
        out = np.full(len(self.usable), np.nan)
        idx = np.flatnonzero(rows)
        for _, held in GroupKFold(folds).split(idx, groups=self.groups[idx]):
            mine = idx[held]
            out[mine] = self.margins(exclude | set(self.groups[mine]), generators)[mine]
        return out


def generators_of(tags: set[str]) -> set[str]:
    """The learned table's generator names for fusion tags (``diffusion`` is SDXL and FLUX)."""
    return set().union(*({"sdxl", "flux"} if t == "diffusion" else {t} for t in tags))


def learned_groups(rows: list[Row], data: Path) -> np.ndarray:
    """Each fusion row's group in the learned detector's table: the person for real photos (group photos count as
    df01, as there) and for swaps or replays made from them, the image file for generated faces."""
    group_of = {}
    for i, m in enumerate(manifest(data)):
        key = m["identity"] or f"{m['label']}_{i}"
        group_of[key] = (m["identity"] or "df01") if m["label"] == "real" else m["file"]
    return np.array([group_of[r.identity] for r in rows])


def with_margins(x: np.ndarray, names: list[str], margins: np.ndarray, neutral: dict[str, float]) -> np.ndarray:
    """``x`` with its learned-margin column (if it has one) replaced by ``margins`` (NaN -> the neutral value)."""
    if MARGIN not in names:
        return x
    out = x.copy()
    out[:, names.index(MARGIN)] = np.where(np.isnan(margins), neutral[MARGIN], margins)
    return out


def oof_threshold(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The fused probability above which REAL_FLAGGED of the real rows lie, out of fold (grouped by person), moved
    into the gap when the fakes allow it (:func:`gap_threshold`)."""
    p = out_of_fold(x, y, groups)
    return gap_threshold(float(np.quantile(p[~y], 1 - REAL_FLAGGED)), p[y])


def gap_threshold(real_threshold: float, p_fake: np.ndarray) -> float:
    """When most out-of-fold fakes of a kind lie above the real-photo threshold (the classes separate, as for
    replays), the threshold moves halfway, in log-odds, towards the fakes' GAP_FAKE_QUANTILE: hugging the highest
    real photo would leave no margin for damage the training never showed (motion blur makes spectral ripples that
    the recapture peaks read as moire). It only ever rises, so the real-photo target still holds."""
    top = float(np.quantile(p_fake, GAP_FAKE_QUANTILE))
    if top <= real_threshold:
        return real_threshold
    lo, hi = (float(np.clip(v, 1e-6, 1 - 1e-6)) for v in (real_threshold, top))
    mid = (np.log(lo / (1 - lo)) + np.log(hi / (1 - hi))) / 2
    return float(1 / (1 + np.exp(-mid)))


def evaluate(rows: list[Row], features: dict[str, list[str]], neutral: dict[str, float], probe: Probe) -> dict:
    """Per kind: train on some fakes of that kind, test on fakes of the same kind made another way (another
    generator, another swap method, another replay medium), against real photos of people not in training. The
    learned probe is re-fitted without the held-out people and generators; the threshold is the training part's
    out-of-fold 1 % real quantile with the shipped model's margin rule."""
    is_real = np.array([r.family == "real" for r in rows])
    real_ids = sorted(set(probe.groups[is_real]))
    halves = [set(real_ids[0::2]), set(real_ids[1::2])]
    report: dict = {}
    for kind, splits in HELD_OUT.items():
        names = features[kind]
        if not names:
            continue
        x_shipped = matrix(rows, names, neutral)
        for train_tags, test_tags in splits:
            key = f"{kind}: train {'+'.join(sorted(train_tags))} -> test {'+'.join(sorted(test_tags))}"
            aucs: dict[str, list[float]] = {}
            tprs, fprs = [], []
            for h in halves:
                person = np.isin(probe.groups, list(h))
                train = (is_real & ~person) | np.array([bool(_tag(r) & train_tags) for r in rows])
                test = (is_real & person) | np.array([bool(_tag(r) & test_tags) for r in rows])
                x = x_shipped
                if MARGIN in names:  # the probe sees neither the held-out people nor the held-out generators
                    gens = generators_of(train_tags)
                    margins = probe.cross_fitted(train, gens, exclude=h, folds=PROBE_FOLDS)
                    margins[test] = probe.margins(h, gens)[test]
                    x = with_margins(x_shipped, names, margins, neutral)
                mean, scale, model = fit(x[train], ~is_real[train])
                p = prob(model, mean, scale, x)
                thr = oof_threshold(x[train], ~is_real[train], probe.groups[train])
                for cond in ("clean", "processed", "hard"):
                    c = test & np.array([r.condition == cond for r in rows])
                    if (c & is_real).any() and (c & ~is_real).any():
                        aucs.setdefault(cond, []).append(float(roc_auc_score(~is_real[c], p[c])))
                tprs.append(float((p[test & ~is_real] >= thr).mean()))
                fprs.append(float((p[test & is_real] >= thr).mean()))
            report[key] = {
                "auc": {k: round(float(np.mean(v)), 4) for k, v in aucs.items()},
                "detected_at_1pct": round(float(np.mean(tprs)), 4),
                "real_flagged": round(float(np.mean(fprs)), 4),
            }
            log.info("%s: %s", key, report[key])
    return report


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Fused probabilities of every row, each from a model fitted without that row's group (person or image)."""
    p = np.zeros(len(y))
    for a, b in GroupKFold(FUSION_FOLDS).split(x, y, groups):
        mean, scale, model = fit(x[a], y[a])
        p[b] = prob(model, mean, scale, x[b])
    return p


def stacked_probes(rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """The rows' probe activations as one float32 matrix (zeros where a row has none) and which rows have them."""
    usable = np.array([r.probe is not None for r in rows])
    dims = next(len(r.probe) for r in rows if r.probe is not None)
    x = np.zeros((len(rows), dims), np.float32)
    for i, r in enumerate(rows):
        if r.probe is not None:
            x[i] = r.probe
    return x, usable


def save_rows(rows: list[Row], signal_of: dict[str, str], path: Path) -> None:
    """Rows as JSON (features) plus an ``.npz`` beside it (the probe activations, float32)."""
    plain = [{k: v for k, v in r.__dict__.items() if k != "probe"} for r in rows]
    path.write_text(json.dumps({"rows": plain, "signal_of": signal_of}))
    probe, usable = stacked_probes(rows)
    np.savez_compressed(path.with_suffix(".npz"), probe=probe, usable=usable)


def load_rows(path: Path) -> tuple[list[Row], dict[str, str]]:
    cached = json.loads(path.read_text())
    with np.load(path.with_suffix(".npz")) as z:  # read each array once (every z[...] decompresses it again)
        probe, usable = z["probe"], z["usable"]
    rows = [Row(**r, probe=probe[i] if usable[i] else None) for i, r in enumerate(cached["rows"])]
    return rows, cached["signal_of"]


def operating_thresholds(p_real: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-kind thresholds at one common real-photo quantile, so that at most REAL_FLAGGED of real photos are
    flagged by any kind (the union). The engine flags at probability >= threshold, so each threshold sits just
    above its quantile (at the top quantile, the highest real photo is then not flagged)."""

    def at(q: float) -> dict[str, float]:
        return {k: float(np.nextafter(np.quantile(v, q), np.inf)) for k, v in p_real.items()}

    lo, hi = 1 - REAL_FLAGGED, 1.0
    for _ in range(40):
        q = (lo + hi) / 2
        lo, hi = (q, hi) if flagged_share(p_real, at(q)) > REAL_FLAGGED else (lo, q)
    return at(hi)


def flagged_share(p_real: dict[str, np.ndarray], thresholds: dict[str, float]) -> float:
    """Share of the real rows that any kind flags (probability >= its threshold)."""
    return float(np.any([v >= thresholds[k] for k, v in p_real.items()], axis=0).mean())


@dataclass(frozen=True)
class KindFit:
    """One kind's fitted logistic regression (standardised), and its threshold before the intercept shift."""

    kind: str
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float  # shifted: the kind's operating threshold sits at probability 0.5
    threshold_before_shift: float


def save_fusion(
    kinds: list[KindFit],
    signal_of: dict[str, str],
    neutral: dict[str, float],
    *,
    version: str,
    training: dict,
    metrics: dict,
    directory: Path | None = None,
    created: str | None = None,
) -> Path:
    """Write the ``authenticity_fusion`` artefact: one graph, one head per kind over the concatenated features
    (float64, as the service scores), and a card with everything the engine needs besides the weights."""
    features = [f for k in kinds for f in k.features]
    heads = [export.LinearHead(k.kind, tuple(k.features), k.mean, k.scale, k.coef, k.intercept) for k in kinds]
    graph = export.linear_heads_graph(features, heads, fusion.ARTIFACT, np.float64)
    inputs, outputs = export.linear_contract(
        features, heads, np.float64, "log-odds of a fake, 0 at the kind's operating threshold"
    )
    return export.write_artifact(
        graph,
        name=fusion.ARTIFACT,
        version=version,
        task="authenticity fusion: probability that a face image is fake, per kind of fake (max over kinds)",
        inputs=inputs,
        outputs=outputs,
        parameters={
            "features": features,
            "kinds": [
                {
                    "kind": k.kind,
                    "features": k.features,
                    "logit": h.logit,
                    "terms": h.terms,
                    "threshold_before_shift": k.threshold_before_shift,
                }
                for k, h in zip(kinds, heads, strict=True)
            ],
            "threshold": fusion.THRESHOLD,
            "signal_of": signal_of,
            "neutral": neutral,
            "population_scale": {f: float(v) for k in kinds for f, v in zip(k.features, k.scale, strict=True)},
            "real_flagged_target": REAL_FLAGGED,
            "threshold_rule": THRESHOLD_RULE,
        },
        training={"data": DEV_DATA, "seed": SEED, **training},
        metrics=metrics,
        licence=LICENCE,
        directory=directory,
        created=created,
    )


THRESHOLD_RULE = (
    "above the highest out-of-fold real probability (<= 1 % flagged by any kind), moved halfway (log-odds) to the "
    "5th percentile of the kind's out-of-fold fakes when that is higher"
)


def run(data: Path, cache: Path, learned_cache: Path, out: Path | None = None) -> Path:
    """Measure (or read the cached) rows, cross-validate per kind, fit the shipped fusion and write its artefact
    into ``out`` (default: the package's models). ``learned_cache`` is :mod:`fit_learned`'s feature table."""
    start = time.time()
    rng = np.random.default_rng(SEED)
    if cache.exists():
        rows, signal_of = load_rows(cache)
    else:
        rows = build_rows(data, rng)
        signal_of = SIGNAL_OF
        save_rows(rows, signal_of, cache)
    names = sorted({k for r in rows for k in r.features})
    real_rows = [r for r in rows if r.family == "real"]
    neutral = {n: float(np.median([r.features[n] for r in real_rows if n in r.features] or [0.0])) for n in names}
    features = kind_features(names, signal_of)
    if learned_cache.exists():
        table = learned_training.load_table(learned_cache)
    else:
        table = learned_training.build_table(learned_training.read_manifest(data), 2)
        learned_training.save_table(table, learned_cache)
    probe = Probe.of(rows, learned_groups(rows, data), table)
    real = np.array([r.family == "real" for r in rows])
    # Cross-fitted margins: every row scored by a probe that saw neither its person nor its image.
    all_generators = set(table.generator) - {"real"}
    margins = probe.cross_fitted(np.ones(len(rows), bool), all_generators, exclude=set(), folds=FUSION_FOLDS)
    neutral[MARGIN] = float(np.nanmedian(margins[real]))  # the stored margins are the shipped probe's, in-sample
    cv = evaluate(rows, features, neutral, probe)
    fitted, p_real, p_fake, in_sample = {}, {}, {}, {}
    for kind, families in KIND_FAMILIES.items():
        held = [v["auc"].get("processed", 0.0) for k, v in cv.items() if k.startswith(f"{kind}:")]
        if not features[kind] or not held or float(np.mean(held)) < MIN_HELD_OUT_AUC:
            log.info("kind %s not shipped: held-out AUC %s", kind, held)
            continue
        use = real | np.array([r.family in families for r in rows])
        x = with_margins(matrix(rows, features[kind], neutral), features[kind], margins, neutral)
        p = out_of_fold(x[use], ~real[use], probe.groups[use])
        p_real[kind], p_fake[kind] = p[real[use]], p[~real[use]]
        fitted[kind] = fit(x[use], ~real[use])
        in_sample[kind] = prob(fitted[kind][2], fitted[kind][0], fitted[kind][1], x[real])
    thresholds = {k: gap_threshold(t, p_fake[k]) for k, t in operating_thresholds(p_real).items()}
    flagged = {"out_of_fold": flagged_share(p_real, thresholds), "in_sample": flagged_share(in_sample, thresholds)}
    log.info("real rows flagged at the shipped thresholds: %s", flagged)
    kinds = []
    for kind, (mean, scale, model) in fitted.items():
        t = min(max(thresholds[kind], 1e-6), 1 - 1e-6)
        kinds.append(
            KindFit(
                kind=kind,
                features=features[kind],
                mean=np.round(mean, 6),
                scale=np.round(scale, 6),
                coef=np.round(model.coef_[0], 6),
                intercept=round(float(model.intercept_[0]) - float(np.log(t / (1 - t))), 6),
                threshold_before_shift=round(t, 6),
            )
        )
    counts: dict[str, int] = {}
    for r in rows:
        key = f"{r.family}/{r.label}/{r.condition}"
        counts[key] = counts.get(key, 0) + 1
    path = save_fusion(
        kinds,
        {n: signal_of.get(n, n) for n in names},
        {k: round(v, 6) for k, v in neutral.items()},
        version=f"fusion-{time.strftime('%Y%m%d')}",
        training={
            "rows": counts,
            "learned_probe": {"C": probe.c, "margins": "cross-fitted, grouped by identity", "folds": FUSION_FOLDS},
        },
        metrics={"real_flagged": {k: round(v, 4) for k, v in flagged.items()}, "cross_validation": cv},
        directory=out,
    )
    log.info("wrote %s in %.0f s", path, time.time() - start)
    return path
