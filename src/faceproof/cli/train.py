"""``faceproof train``: the training stage from the command line, starting with the corpus.

``train corpus build`` extracts the public sources from local git mirrors and writes the manifest and summary that
are committed under ``corpus/``; ``rebuild`` re-creates the image folder from that manifest on another machine and
fails loudly when a byte differs; ``stats`` reads the committed manifest without any image present.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from faceproof.cli.common import EXIT_ERROR, console, err_console

app = typer.Typer(help="The training stage: the corpus the detectors learn from.", no_args_is_help=True)
corpus_app = typer.Typer(help="Build, rebuild and count the training corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

DEFAULT_MANIFEST = Path("corpus/manifest.csv.gz")
Mirrors = Annotated[
    Path,
    typer.Option(
        "--mirrors",
        help="Folder of bare mirrors, one <owner>+<name>/repo per source repository.",
        exists=True,
        file_okay=False,
    ),
]
OutDir = Annotated[
    Path | None,
    typer.Option("--out", help="Corpus image folder (default: $FACEPROOF_CORPUS_DIR, else ./.corpus)."),
]
ManifestPath = Annotated[Path, typer.Option("--manifest", help="The gzipped manifest.")]
DevSet = Annotated[Path | None, typer.Option("--dev-set", help="The development set, referenced in place.")]


def _default_out() -> Path:
    return Path(os.environ.get("FACEPROOF_CORPUS_DIR", ".corpus"))


@corpus_app.command("build")
def build_cmd(
    mirrors: Mirrors,
    out: OutDir = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
    dev_set: DevSet = None,
    jobs: Annotated[int, typer.Option(min=1, help="heldout-guard worker processes.")] = 1,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Take only this source (its slug); repeatable. Default: all.")
    ] = None,
) -> None:
    """Extract every source, remove what heldout-guard flags, write the manifest and summary.json beside it. With
    --only, the manifest's other sources are kept as they are (rows, counts, commits)."""
    from faceproof.training import corpus

    unknown = set(only or ()) - {s.slug for s in corpus.SOURCES}
    if unknown:
        raise typer.BadParameter(f"no source {', '.join(sorted(unknown))}", param_hint="--only")
    sources = [s for s in corpus.SOURCES if not only or s.slug in only]
    out = out or _default_out()
    started = time.monotonic()
    keep = corpus.carried_over(manifest, [s.slug for s in sources]) if only else None
    result = corpus.build(mirrors, out, sources, dev_dir=dev_set or corpus.DEFAULT_DEV_SET, jobs=jobs, keep=keep)
    result.seconds["total"] = round(time.monotonic() - started, 1)
    corpus.write_manifest(result.rows, manifest)
    summary = corpus.summarise(result)
    (manifest.parent / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    removed = sum(summary["heldout_guard_removed"].values())  # type: ignore[union-attr]
    console.print(f"{len(result.rows)} images in {out}; heldout-guard removed {removed}; manifest {manifest}")


@corpus_app.command("rebuild")
def rebuild_cmd(
    mirrors: Mirrors,
    out: OutDir = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
    dev_set: DevSet = None,
) -> None:
    """Re-create the corpus folder from the mirrors; exit 1 if any file's sha256 differs from the manifest."""
    from faceproof.training import corpus

    report = corpus.rebuild(
        corpus.read_manifest(manifest), mirrors, out or _default_out(), dev_set or corpus.DEFAULT_DEV_SET
    )
    for path, why in report.refused:
        err_console.print(f"[red]refused[/red] {path}: {why}")
    console.print(
        f"{report.written} written, {report.verified_in_place} development-set files verified in place, "
        f"{len(report.refused)} refused"
    )
    if report.refused:
        raise typer.Exit(EXIT_ERROR)


@corpus_app.command("stats")
def stats_cmd(manifest: ManifestPath = DEFAULT_MANIFEST) -> None:
    """Counts per source, label and generator, read from the manifest alone."""
    from faceproof.training import corpus

    rows = corpus.read_manifest(manifest)
    counts = Counter((corpus.slug_of(r), r["split_role"], r["label"], r["generator"]) for r in rows)
    table = Table(title=f"{manifest}: {len(rows)} images")
    for column in ("source", "role", "label", "generator", "images"):
        table.add_column(column, justify="right" if column == "images" else "left")
    for (slug, role, label, generator), n in sorted(counts.items()):
        table.add_row(slug, role, label, generator, str(n))
    console.print(table)
    real = [r for r in rows if r["split_role"] == "train" and r["label"] == "real"]
    generators = {r["generator"] for r in rows if r["split_role"] == "train" and r["label"] == "generated"}
    console.print(
        f"training: {len(real)} real photos of {len({r['identity'] for r in real if r['identity']})} known "
        f"identities; {len(generators)} generators ({', '.join(sorted(generators))})"
    )


@app.command("profile-swap")
def profile_swap_cmd(
    corpus: Annotated[
        Path, typer.Option("--corpus", help="The LFW-derived corpus (images/First_Last_0001.jpg).")
    ] = Path("/work/corpus/lfw_gray"),
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the artefact (default: the package).")
    ] = None,
    cache: Annotated[Path, typer.Option("--cache", help="Measurement cache (resumed).")] = Path(
        "/work/cache/profile_swap"
    ),
    seed: Annotated[int | None, typer.Option(help="Seed (default: the shared training seed).")] = None,
) -> None:
    """Learn the swap-against-the-profile model (``profile_swap``) from swaps onto enrolled LFW people."""
    from faceproof.training import common, fit_profile_swap

    report = fit_profile_swap.main(corpus, out, seed if seed is not None else common.SEED, cache)
    console.print_json(data={"people": report["people"], "validation": report["validation"]})


# ---------------------------------------------------------------- the learned models (faceproof.training.fit_*)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data", help="The development data: manifest.csv and the images (default: ../shared/data).", file_okay=False
    ),
]
ModelsOut = Annotated[
    Path | None,
    typer.Option("--out", help="Where to write NAME.onnx and NAME.card.json (default: the package's models)."),
]
LearnedCache = Annotated[
    Path, typer.Option("--learned-cache", help="fit_learned's feature table (reused when it exists).")
]


def _data_default() -> Path:
    from faceproof.training.common import DEFAULT_DATA

    return DEFAULT_DATA


@app.command("learned")
def learned_cmd(
    data: DataDir = None,
    cache: LearnedCache = Path("/tmp/faceproof_learned_features.npz"),
    workers: Annotated[int, typer.Option(min=1, help="Feature-extraction processes.")] = 2,
    sets: Annotated[str, typer.Option(help="Feature sets to cross-validate: all, shipped or none.")] = "all",
    results: Annotated[Path | None, typer.Option(help="Write the evaluation table as JSON here.")] = None,
    out: ModelsOut = None,
) -> None:
    """Fit the learned generated-face detector (linear probe on SFace activations): artefact learned_detector."""
    from faceproof.training import fit_learned

    if sets not in ("all", "shipped", "none"):
        raise typer.BadParameter("one of all, shipped, none", param_hint="--sets")
    path = fit_learned.run(data or _data_default(), cache, workers, sets, results, out)
    console.print(f"wrote {path}")


@app.command("blending")
def blending_cmd(
    data: DataDir = None,
    copies: Annotated[int, typer.Option(min=1, help="Degraded copies (real + self-blend) per photo.")] = 8,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the copies, blends and swaps (default: the shipped one).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    report: Annotated[Path, typer.Option(help="Folder for report.md (held-out figures).")] = Path("reports/blending"),
    out: ModelsOut = None,
) -> None:
    """Fit the blending-boundary (face-swap) detector on self-blended images: artefact blending_model."""
    from faceproof.training import fit_blending

    path = fit_blending.run(
        data or _data_default(), copies, fit_blending.SEED if seed is None else seed, workers, report, out
    )
    console.print(f"wrote {path}")


@app.command("fusion")
def fusion_cmd(
    data: DataDir = None,
    cache: Annotated[Path, typer.Option(help="The measured rows (reused when they exist).")] = Path(
        "/tmp/faceproof-fusion-rows.json"
    ),
    learned_cache: LearnedCache = Path("/tmp/faceproof_learned_features.npz"),
    out: ModelsOut = None,
) -> None:
    """Fit the authenticity fusion (one logistic model per kind of fake): artefact authenticity_fusion."""
    from faceproof.training import fit_fusion

    path = fit_fusion.run(data or _data_default(), cache, learned_cache, out)
    console.print(f"wrote {path}")


@app.command("calibration")
def calibration_cmd(
    data: DataDir = None,
    cache: Annotated[Path, typer.Option(help="Folder of the embedding cache.")] = Path("/tmp/faceproof-calibration"),
    img_dir: Annotated[Path | None, typer.Option(help="Write the ROC/DET plots here.")] = Path("docs/img"),
    embed_only: Annotated[bool, typer.Option("--embed-only", help="Fill the embedding cache and stop.")] = False,
    out: ModelsOut = None,
    corpus: Annotated[
        Path | None,
        typer.Option(help="Extracted corpus folder: add its people (LFW grey, UTKFace, All-Age-Faces) to the pairs."),
    ] = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
    workers: Annotated[int, typer.Option(help="Processes embedding the corpus (checkpointed; resumable).")] = 1,
) -> None:
    """Fit verification's score fusion, thresholds and uncertain band: artefact verification_calibration."""
    from faceproof.training import fit_calibration

    path = fit_calibration.run(
        data or _data_default(), cache, img_dir, out, embed_only, corpus, manifest, workers=workers
    )
    console.print(f"wrote {path}" if path else "embedding cache filled")


@app.command("attributes")
def attributes_cmd(
    data: DataDir = None,
    table: Annotated[
        bool, typer.Option("--table", help="Also print the stability tables of docs/profile.md (every damage).")
    ] = False,
) -> None:
    """Measure the attribute reader's reference pose, pose slopes and spreads on the dev people, and print them as
    the constants of faceproof.profile.attributes (to paste there; no file is edited)."""
    from faceproof.training import fit_attributes
    from faceproof.training.augment import DEGRADATIONS

    others = sorted(set(DEGRADATIONS) - set(fit_attributes.BLUR_DAMAGES)) if table else []
    conditions = fit_attributes.load_conditions(data or _data_default(), [*fit_attributes.BLUR_DAMAGES, *others])
    blurred = [conditions[d] for d in fit_attributes.BLUR_DAMAGES]
    typer.echo(fit_attributes.constants(fit_attributes.measure(conditions["clean"], blurred)))
    if table:
        typer.echo("\n" + fit_attributes.stability_tables(conditions))


# ------------------------------------------------- the crop detectors (faceproof.training.faces, fit_swap, fit_replay)

CropCache = Annotated[
    Path, typer.Option("--cache", help="Crop cache folder: one sub-folder of shards per source (resumable).")
]
CorpusDir = Annotated[Path | None, typer.Option("--corpus", help="Corpus image folder (default as for corpus build).")]
WorkDir = Annotated[Path, typer.Option("--work", help="Checkpoints and the validation report (resumable).")]
Steps = Annotated[int, typer.Option(min=1, help="Training batches of 32 crops.")]
DEFAULT_CACHE = Path(os.environ.get("FACEPROOF_CROP_CACHE", ".corpus-crops"))
#: Crops cached per training source (the lowest selection keys): enough people, a bounded CPU bill.
CROP_LIMITS = {
    "utkface": 8000,
    "allagefaces": 6000,
    "lfw_gray": 6000,
    "facemask": 4000,
    "generated_photos": 4000,
    "nuaa_live": 3000,
    "nuaa_print": 3000,
}
VALIDATION_CAP = 1500


@app.command("crops")
def crops_cmd(
    cache: CropCache = DEFAULT_CACHE,
    corpus: CorpusDir = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
    dev_set: DevSet = None,
    workers: Annotated[int, typer.Option(min=1, help="Detection processes.")] = 2,
) -> None:
    """Detect, mesh and crop the corpus images the crop detectors learn and are validated on (resumable)."""
    from faceproof.training import faces, fit_generated, fit_replay, fit_swap, validation
    from faceproof.training.corpus import DEFAULT_DEV_SET

    wanted = {*fit_swap.TRAIN_SOURCES, *fit_replay.TRAIN_SOURCES, *fit_replay.TRAIN_FAKES}
    wanted |= {*validation.UNSEEN_REAL.values(), *fit_swap.EVAL_FAKE.values()}
    wanted |= {*fit_generated.REAL_SOURCES, *fit_generated.GENERATORS, *fit_generated.NEVER_TRAINED_GENERATORS}
    # the development set's images are cached per label (real) and per generator (dev_<generator>)
    dev_folders = {validation.UNSEEN_REAL["dev_set_real"]: ("real", "")}
    dev_folders |= {s: ("generated", g.name) for s, g in fit_generated.GENERATORS.items() if s.startswith("dev_")}
    corpus_dir, dev_dir = corpus or _default_out(), dev_set or DEFAULT_DEV_SET
    rows = faces.corpus_rows(manifest, corpus_dir, dev_dir, sorted(wanted - set(dev_folders)))
    root, dev_rows = faces.corpus_rows(manifest, corpus_dir, dev_dir, ["shared/data"])["shared/data"]
    for folder, (label, generator) in dev_folders.items():
        rows[folder] = (root, [r for r in dev_rows if r.label == label and r.generator == generator])
    for slug, (root, selected) in sorted(rows.items()):
        limit = CROP_LIMITS.get(slug, VALIDATION_CAP)
        seen, kept = faces.build_cache(selected[:limit], root, cache / slug, workers)
        console.print(f"{slug}: {kept} faces from {seen} new images")


@app.command("swap")
def swap_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/swap"),
    steps: Steps = 900,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fine-tune the swap/blend detector on self-blended images (needs torch): artefact swap_detector."""
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_swap
    from faceproof.training.finetune import FitConfig

    metrics = fit_swap.run(cache, out or models_dir(), work, FitConfig(steps=steps), manifest)
    console.print_json(data={k: v["all"] for k, v in metrics["methods"].items()})


@app.command("keypoints")
def keypoints_cmd(
    corpus: CorpusDir = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
    out: ModelsOut = None,
) -> None:
    """Fit the alignment keypoints read from the face mesh (about 3 minutes): artefact keypoints_from_mesh."""
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_keypoints

    metrics = fit_keypoints.run(corpus or _default_out(), manifest, out or models_dir())
    console.print_json(data=metrics)


@app.command("replay")
def replay_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/replay"),
    seed: Annotated[int, typer.Option(help="Seed of the training examples and the fit.")] = 20261206,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fit the replay detector (a probe on frozen EfficientNet-Lite0 features; needs torch): artefact
    replay_detector."""
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_replay

    metrics = fit_replay.run(cache, out or models_dir(), work, seed, manifest)
    console.print_json(data={k: v["all"] for k, v in metrics["methods"].items()})


@app.command("operating-point")
def operating_point_cmd(
    cache: CropCache = DEFAULT_CACHE,
    corpus: CorpusDir = None,
    per_source: Annotated[int, typer.Option(min=10, help="Real photos drawn per real source.")] = 800,
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 20261206,
    workers: Annotated[int, typer.Option(min=1, help="Processes.")] = 2,
    out: ModelsOut = None,
    work: WorkDir = Path(".corpus-runs/operating-point"),
) -> None:
    """Re-set the authenticity fusion's threshold on out-of-fold real photos of the corpus (same graph; the card's
    threshold and its per-source false-flag rates). The photos' scores are kept in --work for a rerun."""
    from faceproof.training import fit_operating_point

    corpus_dir = (corpus or _default_out()).resolve()
    report = fit_operating_point.run(cache, corpus_dir, per_source, seed, workers, out, work)
    console.print_json(data=report)


@app.command("generated")
def generated_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/generated"),
    seed: Annotated[int, typer.Option(help="Seed of the training views, the damage and the fit.")] = 20261206,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fit the generated-face detector (a probe on frozen EfficientNet-Lite0 features; needs torch), validated by
    leaving each generator, family and real source out: artefact generated_detector."""
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_generated

    metrics = fit_generated.run(cache, out or models_dir(), work, seed, manifest)
    console.print_json(data=metrics["summary"])


ExcludeManifests = Annotated[
    list[Path] | None,
    typer.Option("--exclude", help="An evaluation manifest (CSV with a file column) whose photos to leave out."),
]


@app.command("sface-robust")
def sface_robust_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/sface-robust"),
    steps: Steps = 500,
    exclude: ExcludeManifests = None,
    corpus: CorpusDir = None,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fine-tune SFace's damaged-face view: SFace's trunk taught to embed blurred, noisy and masked faces where
    SFace embeds them undamaged, away from other people's faces (needs torch; ~45 min for the 500 steps of the shipped
    model on 2 cores): artefact sface_robust."""
    _damaged_view("sface", cache, work, steps, exclude, corpus, out, manifest)


@app.command("dlib-robust")
def dlib_robust_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/dlib-robust"),
    steps: Steps = 1500,
    exclude: ExcludeManifests = None,
    corpus: CorpusDir = None,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fine-tune dlib's damaged-face view: dlib's ResNet taught, by the same recipe, to describe blurred, noisy
    faces where dlib describes them undamaged (needs torch; ~15 min for the 1,500 steps of the shipped model on 2
    cores): artefact dlib_robust. Refit the calibration after (its embedding cache is keyed on the artefact)."""
    _damaged_view("dlib", cache, work, steps, exclude, corpus, out, manifest)


def _damaged_view(
    which: str,
    cache: Path,
    work: Path,
    steps: int,
    exclude: list[Path] | None,
    corpus: Path | None,
    out: Path | None,
    manifest: Path,
) -> None:
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_dlib_robust, fit_sface_robust

    recognizer = fit_dlib_robust.DLIB if which == "dlib" else fit_sface_robust.SFACE
    cfg = fit_sface_robust.FitConfig(steps=steps)
    corpus_dir = corpus or _default_out()
    metrics = fit_sface_robust.run(
        cache, out or models_dir(), work, cfg, manifest, exclude or [], corpus_dir, recognizer=recognizer
    )
    console.print_json(data=metrics["validation"]["history"][-1])


@app.command("cover")
def cover_cmd(
    cache: CropCache = DEFAULT_CACHE,
    work: WorkDir = Path(".corpus-runs/cover"),
    seed: Annotated[int, typer.Option(help="Seed of the drawn masks and the fit.")] = 20261207,
    out: ModelsOut = None,
    manifest: ManifestPath = DEFAULT_MANIFEST,
) -> None:
    """Fit the lower-face cover detector (a head on the shipped crop_backbone; masks drawn on real photos and
    Face-Mask's real masks): artefact lower_face_cover."""
    from faceproof.models.artifact import models_dir
    from faceproof.training import fit_cover

    metrics = fit_cover.run(cache, out or models_dir(), work, seed, manifest)
    console.print_json(data={k: metrics[k] for k in ("real_masks_held_out", "real_masks_never_seen")})
