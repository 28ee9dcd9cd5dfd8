"""The training corpus: which public images the detectors learn from, taken byte for byte from pinned git mirrors.

Every image is copied out of a bare mirror (``git clone --mirror``) of its source repository at a recorded commit,
so the corpus can be deleted and re-created exactly: the manifest pins each file's repository, commit, path and
sha256, and :func:`rebuild` refuses any file whose bytes no longer match. Nothing is re-encoded (re-encoding would
itself be a tell a detector could learn), except the tiles cut out of sample grids, which only exist as crops and
are written as PNG. Before anything is kept, ``heldout-guard`` compares every extracted image with the secret
held-out face set the product is judged on; what it flags is deleted and leaves no trace in the manifest but a
count per source, so training can never see an evaluation face.

The development set (``shared/data``) is referenced in place rather than copied: it is already pinned by its own
manifest and must stay the single copy of those files.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Label = Literal["real", "generated", "swapped", "edited", "replayed"]
#: How a row's ``identity`` is derived: a fresh id per image (sets known to hold one photo per person), the LFW
#: person name in the file name, the subject folder (NUAA), or nothing (unknown people, or generated faces).
IdentityRule = Literal["per_image", "lfw_name", "subject_folder", "none"]

#: heldout-guard walks only these suffixes (case-insensitive); any other file would escape the check, so it is
#: never taken.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DEFAULT_GUARD = Path(os.environ.get("FACEPROOF_HELDOUT_GUARD", "/work/shared/tools/heldout-guard"))
DEFAULT_DEV_SET = Path(os.environ.get("FACEPROOF_DEV_SET", "/work/shared/data"))
#: Rows of the development set carry this prefix in ``path`` and this ``source_repo``: they live in the dev set.
DEV_SOURCE = "shared/data"
#: Folder under the corpus dir where each folder's heldout-guard result is kept (see ``_guarded``).
GUARD_CACHE = ".heldout-guard"

COLUMNS = (
    "path",
    "source_repo",
    "source_commit",
    "source_path",
    "sha256",
    "label",
    "generator",
    "identity",
    "licence",
    "split_role",
    "width",
    "height",
    "gray",
    "format",
    "has_exif",
    "bytes",
    "tile_box",
)
Row = dict[str, str]


@dataclass(frozen=True)
class Grid:
    """A ``torchvision.utils.make_grid`` sheet (``rows`` x ``cols`` cells of ``cell`` px, ``padding`` px apart)
    that matplotlib re-rendered at another scale inside a white margin: the cells are found by scaling the
    make_grid geometry onto the non-white bounding box, and each tile is trimmed by a pixel so that no resampled
    padding line leaks into it."""

    rows: int
    cols: int
    cell: int
    padding: int

    def boxes(self, sheet: np.ndarray) -> Iterator[tuple[int, int, tuple[int, int, int, int]]]:
        """(row, col, (x0, y0, x1, y1)) of every cell of an RGB sheet, in reading order."""
        ink = np.argwhere(sheet.min(axis=2) < 250)
        (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
        step = self.cell + self.padding
        sx = (right - left) / (self.cols * step + self.padding)
        sy = (bottom - top) / (self.rows * step + self.padding)
        for r in range(self.rows):
            for c in range(self.cols):
                g0x, g0y = self.padding + c * step, self.padding + r * step
                box = (
                    math.ceil(left + g0x * sx) + 1,
                    math.ceil(top + g0y * sy) + 1,
                    math.floor(left + (g0x + self.cell) * sx) - 1,
                    math.floor(top + (g0y + self.cell) * sy) - 1,
                )
                yield r, c, box


@dataclass(frozen=True)
class Source:
    """One folder set of one repository, with a single label: the unit the corpus is counted and documented by."""

    slug: str  # folder under the corpus dir, and the name in the summary
    repo: str  # GitHub owner/name; its mirror is <mirrors>/<owner>+<name>/repo
    folders: tuple[str, ...]
    label: Label
    licence: str
    identity: IdentityRule
    id_prefix: str = ""  # namespace of the identities, shared by sources that hold the same people
    generator: str = ""  # generator id, or the swap/replay/edit method; empty for real photos
    keep: str = ""  # regex on the file name: when set, only matching files are taken
    drop: str = ""  # regex on the file name: matching files are left out
    evaluation_only: bool = False
    grid: Grid | None = None  # set when each file is a sheet of samples to cut into tiles
    note: str = ""

    @property
    def mirror_name(self) -> str:
        return self.repo.replace("/", "+")

    def wants(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        if not name.lower().endswith(IMAGE_SUFFIXES):
            return False
        if self.keep and not re.search(self.keep, name):
            return False
        return not (self.drop and re.search(self.drop, name))

    def identity_of(self, path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        match self.identity:
            case "per_image":
                return f"{self.id_prefix}:{stem}"
            case "lfw_name":
                return f"{self.id_prefix}:{LFW_NAME.match(name).group(1)}"  # type: ignore[union-attr]
            case "subject_folder":
                return f"{self.id_prefix}:{path.split('/')[-2]}"
        return ""


#: LFW files are <Person_Name>_<4 digits>.jpg; the other files of muxspace/facial_expressions follow other schemes.
LFW_NAME = re.compile(r"^([A-Za-z][A-Za-z'.-]*(?:_[A-Za-z'.-]+)+)_\d{4}\.jpg$")
_LDM_RUN = "1D-Human_Evaluation/human_evaluation_20251202_075309"
_NUAA_LICENCE = "NUAA Photograph Imposter Database: research use only (no licence in the repo)"
_LFW_LICENCE = "LFW: no formal licence, research use (repository has no licence file)"
_RFF_LICENCE = "Real and Fake Face Detection set (Kaggle, CVLab Yonsei): unclear, research use"
_CELEBA_GRID = Grid(rows=4, cols=4, cell=64, padding=2)

SOURCES: tuple[Source, ...] = (
    Source(
        "utkface",
        "xerow03/UTKFace",
        ("data",),
        "real",
        "UTKFace: non-commercial research purposes only (no licence file in the repository)",
        "per_image",
        "utk",
        note="200x200 aligned tight crops; one person per image",
    ),
    Source(
        "allagefaces",
        "middleyuan/All-Age-Faces-Dataset",
        ("All-Age-Faces Dataset/original images",),
        "real",
        "All-Age-Faces: no licence stated, the authors ask for a citation (research use)",
        "per_image",
        "aaf",
        note="13,322 different people, mostly East Asian",
    ),
    Source(
        "lfw_gray",
        "muxspace/facial_expressions",
        ("images",),
        "real",
        "repository Apache-2.0; LFW images have no formal licence (research use)",
        "lfw_name",
        "lfw",
        keep=LFW_NAME.pattern,
        note="the LFW part only, grayscale 350x350; identity = LFW person name",
    ),
    Source(
        "facemask",
        "chandrikadeb7/Face-Mask-Detection",
        ("dataset/without_mask", "dataset/with_mask"),
        "real",
        "repository MIT; images gathered from mixed web sources (rights unclear)",
        "none",
        drop=r"^augmented_image_",
        note="augmented_image_* (edited copies) dropped",
    ),
    Source(
        "deepfake_detector_real",
        "kirtigupta10/deepfake_image_detector",
        ("data/real",),
        "real",
        "none stated",
        "none",
        note="its 'fake' folder is random noise and is not taken",
    ),
    Source(
        "generated_photos",
        "hmdghoul/generated-faces",
        ("images",),
        "generated",
        "none in the repository; Generated.Photos terms are restrictive",
        "none",
        generator="generated_photos",
        note="StyleGAN-derived commercial generator (inferred; the README only says 'generated faces')",
    ),
    Source(
        "sdfd",
        "gebaltso/SDFD",
        ("allImages",),
        "generated",
        "no licence file; the README asks for a citation (research use)",
        "none",
        generator="sd21",
        note="Stable Diffusion 2.1, 768x768",
    ),
    Source(
        "ffhq_ldm",
        "adnanphp/ffhq-ldm-analysis",
        (
            f"{_LDM_RUN}/stimuli/ffhq",
            "1B-Benchmark_Validation/benchmark_results_20251202_015232/batch_1",
            "1B-Benchmark_Validation/benchmark_results_20251202_015232/batch_2",
            "1B-Benchmark_Validation/benchmark_results_20251202_015232/batch_4",
            "1B-Benchmark_Validation/benchmark_results_20251202_015232/individual_samples",
            "1C-Diversity_Analysis/1C1-Single_Seed_Diversity/impt_diversity_analysis_20251202_034956/sample_faces",
            "1E-Quality_Assessment/quantitative_eval_20251202_024824/fake_samples",
            "1F-Clustering_Analysis/cluster_analysis_20251204_143658/clusters/cluster_0",
            "1F-Clustering_Analysis/cluster_analysis_20251204_143658/clusters/cluster_1",
        ),
        "generated",
        "README states MIT (no licence file); CompVis LDM weights, trained on FFHQ (CC BY-NC-SA 4.0)",
        "none",
        generator="ldm",
        note="256x256 samples of the FFHQ latent-diffusion model; the stimuli/{real,stylegan2,stylegan3} folders are "
        "64x64 placeholders and are not taken; copies shared between folders kept once",
    ),
    Source(
        "ddpm_celeba",
        "AhmedAbdAlkreem/vae-vs-ddpm-celeba",
        ("outputs/v1.1/samples/ddpm", "outputs/v1.2/samples/ddpm"),
        "generated",
        "MIT (repository); model trained on CelebA (non-commercial research only)",
        "none",
        generator="ddpm_celeba",
        drop=r"epoch002",
        grid=_CELEBA_GRID,
        note="4x4 sample grids cut into tiles (~90 px); epoch-2 grids are pure noise and are left out",
    ),
    Source(
        "vae_celeba",
        "AhmedAbdAlkreem/vae-vs-ddpm-celeba",
        ("outputs/v1.1/samples/vae", "outputs/v1.2/samples/vae"),
        "generated",
        "MIT (repository); model trained on CelebA (non-commercial research only)",
        "none",
        generator="vae_celeba",
        drop=r"epoch002",
        grid=_CELEBA_GRID,
        note="4x4 sample grids cut into tiles (~90 px); epoch-2 grids are a flat colour and are left out",
    ),
    Source(
        "stylegan3",
        "sklinderton/vit-real-vs-fake-faces",
        ("dashboard/assets/stylegan3_pool",),
        "generated",
        "no licence file in the repository; StyleGAN3 weights: NVIDIA Source Code License-NC, trained on FFHQ "
        "(CC BY-NC-SA 4.0): research use",
        "none",
        generator="stylegan3",
        note="StyleGAN3-R (FFHQ 1024 px) samples, seeds 700000-700299, truncation 0.5-1.0, saved at 256 px",
    ),
    Source(
        "nuaa_live",
        "allenyangyl/Face_Liveness_Detection",
        ("Matlab/NUAA/ClientNormalized",),
        "real",
        _NUAA_LICENCE,
        "subject_folder",
        "nuaa",
        note="64x64 grayscale normalised crops of live captures; identity = NUAA subject folder",
    ),
    Source(
        "nuaa_print",
        "allenyangyl/Face_Liveness_Detection",
        ("Matlab/NUAA/ImposterNormalized",),
        "replayed",
        _NUAA_LICENCE,
        "subject_folder",
        "nuaa",
        generator="print",
        note="recaptured printed photos; the repository holds no raw (non-normalised) NUAA folders",
    ),
    Source(
        "lfw_faceswap_real",
        "Rees451/faces-fake-vs-real",
        ("data/raw/LFW_faceswap/real",),
        "real",
        _LFW_LICENCE,
        "none",
        evaluation_only=True,
        note="colour LFW photos, the originals of the swaps",
    ),
    Source(
        "lfw_faceswap_swapped",
        "Rees451/faces-fake-vs-real",
        ("data/raw/LFW_faceswap/fake",),
        "swapped",
        _LFW_LICENCE,
        "none",
        generator="faceswap_3d",
        evaluation_only=True,
        note="swaps between LFW people made with MarekKowalski/FaceSwap (3D model)",
    ),
    Source(
        "real_and_fake_face_real",
        "Rees451/faces-fake-vs-real",
        ("data/raw/real_and_fake_face/real",),
        "real",
        _RFF_LICENCE,
        "none",
        evaluation_only=True,
    ),
    Source(
        "real_and_fake_face_edited",
        "Rees451/faces-fake-vs-real",
        ("data/raw/real_and_fake_face/fake",),
        "edited",
        _RFF_LICENCE,
        "none",
        generator="photoshop_manual",
        evaluation_only=True,
        note="eyes, nose or mouth replaced by hand in Photoshop",
    ),
)

#: Development-set generator ids by the text of its ``generator`` column (its label says only "diffusion").
DEV_GENERATORS = (("SDXL", "sdxl"), ("FLUX", "flux"), ("StyleGAN2", "stylegan2"))


@dataclass
class SourceCount:
    """What happened to one source's files on the way into the corpus; summarised in ``summary.json``."""

    kept: int = 0
    duplicates: int = 0  # same bytes as a file already taken (first source in SOURCES order wins)
    missing: int = 0  # listed in the tree but the blob is absent from the mirror (files over the size limit)
    unreadable: int = 0  # Pillow cannot open it
    heldout_flagged: int = 0  # flagged by heldout-guard: deleted, not in the manifest
    guard_unreadable: int = 0  # the guard could not read it, so it cannot be cleared: deleted too


@dataclass
class BuildResult:
    """The manifest rows, what became of each source's files, the mirror commits read, and where the time went."""

    rows: list[Row]
    counts: dict[str, SourceCount]
    commits: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


class Mirror:
    """Reads blobs of one bare mirror through a single ``git cat-file --batch`` (one process, not one per file)."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._proc = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait()

    def head(self) -> str:
        return self._git("rev-parse", "HEAD").strip()

    def ls(self, commit: str, folders: Iterable[str]) -> list[tuple[str, str]]:
        """(blob id, path) of every file under the folders, sorted by path; -z keeps odd file names intact."""
        out = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "-z", commit, "--", *(f"{f}/" for f in folders)],
            check=True,
            capture_output=True,
        ).stdout
        entries = []
        for entry in out.split(b"\0"):
            if entry:
                meta, path = entry.split(b"\t", 1)
                if meta.split()[1] == b"blob":
                    entries.append((meta.split()[2].decode(), path.decode()))
        return sorted(entries, key=lambda e: e[1])

    def read(self, spec: str) -> bytes | None:
        """The blob named by ``spec`` (a blob id or ``commit:path``), or None when the mirror lacks it."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(spec.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            return None
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)
        return data

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args], check=True, capture_output=True, text=True
        ).stdout


def mirror_dir(mirrors_dir: Path, repo: str) -> Path:
    return mirrors_dir / repo.replace("/", "+") / "repo"


def describe(data: bytes) -> dict[str, str]:
    """Width, height, gray, format and EXIF presence of an encoded image: the quiet properties a detector could
    learn instead of the face, recorded so the training stage can check and neutralise them. ``gray`` means
    the pixels have no colour, whatever the file's colour mode (LFW's grayscale JPEGs are stored as RGB)."""
    with Image.open(io.BytesIO(data)) as im:
        fmt = (im.format or "").lower()
        width, height = im.size
        has_exif = len(im.getexif()) > 0
        if im.mode in ("1", "L", "LA", "I", "I;16", "F"):
            gray = True
        else:
            im.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale, enough to see colour
            rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
            spread = rgb.max(axis=2) - rgb.min(axis=2)
            gray = float(np.percentile(spread, 99)) <= 6
    return {
        "width": str(width),
        "height": str(height),
        "gray": str(int(gray)),
        "format": fmt,
        "has_exif": str(int(has_exif)),
        "bytes": str(len(data)),
    }


def _tile_png(sheet: Image.Image, box: tuple[int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    sheet.crop(box).save(buf, format="PNG")
    return buf.getvalue()


def _sheet(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def _files_of(source: Source, path: str, data: bytes) -> Iterator[tuple[str, str, str, bytes]]:
    """(corpus path, source_path, tile_box, bytes) of what one source file contributes: itself, or its tiles."""
    if source.grid is None:
        yield f"{source.slug}/{path}", path, "", data
        return
    sheet = _sheet(data)
    stem = path.rsplit(".", 1)[0]
    for r, c, box in source.grid.boxes(np.asarray(sheet)):
        yield f"{source.slug}/{stem}_r{r}c{c}.png", f"{path}#r{r}c{c}", " ".join(map(str, box)), _tile_png(sheet, box)


def _base_row(source: Source, commit: str) -> Row:
    return {
        "source_repo": source.repo,
        "source_commit": commit,
        "label": source.label,
        "generator": source.generator,
        "licence": source.licence,
        "split_role": "evaluation_only" if source.evaluation_only else "train",
    }


def extract(sources: Iterable[Source], mirrors_dir: Path, out_dir: Path, seen: set[str] | None = None) -> BuildResult:
    """Copy every wanted file of every source out of its mirror's HEAD into ``out_dir/<slug>/<path>``.

    Identical bytes are kept once (``seen`` holds the sha256s taken so far), so a photo committed twice, or in
    two sources, cannot end up on both sides of a train/validation split."""
    seen = set() if seen is None else seen
    result = BuildResult(rows=[], counts={}, commits={})
    for source in sources:
        count = result.counts.setdefault(source.slug, SourceCount())
        started = time.monotonic()
        with Mirror(mirror_dir(mirrors_dir, source.repo)) as mirror:
            commit = mirror.head()
            result.commits[source.repo] = commit
            for blob, path in mirror.ls(commit, source.folders):
                if not source.wants(path):
                    continue
                data = mirror.read(blob)
                if data is None:
                    count.missing += 1
                    continue
                try:
                    pieces = list(_files_of(source, path, data))
                except (OSError, ValueError):
                    count.unreadable += 1
                    continue
                for rel, source_path, box, payload in pieces:
                    digest = hashlib.sha256(payload).hexdigest()
                    if digest in seen:
                        count.duplicates += 1
                        continue
                    try:
                        facts = describe(payload)
                    except (OSError, ValueError):
                        count.unreadable += 1
                        continue
                    seen.add(digest)
                    target = out_dir / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(payload)
                    identity = source.identity_of(path)
                    row = {"path": rel, "source_path": source_path, "sha256": digest, "identity": identity}
                    result.rows.append({**_base_row(source, commit), **row, **facts, "tile_box": box})
                    count.kept += 1
        result.seconds[source.slug] = round(time.monotonic() - started, 1)
    return result


def dev_set_rows(dev_dir: Path, seen: set[str]) -> list[Row]:
    """The development set's images, referenced where they are (``path`` = ``shared/data/<file>``)."""
    manifest = dev_dir / "manifest.csv"
    pin = "manifest-sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    rows = []
    with manifest.open(newline="") as f:
        for entry in csv.DictReader(f):
            data = (dev_dir / entry["file"]).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            real = entry["label"] == "real"
            generator = "" if real else next(g for key, g in DEV_GENERATORS if key in entry["generator"])
            rows.append(
                {
                    "path": f"{DEV_SOURCE}/{entry['file']}",
                    "source_repo": DEV_SOURCE,
                    "source_commit": pin,
                    "source_path": entry["file"],
                    "sha256": digest,
                    "label": "real" if real else "generated",
                    "generator": generator,
                    "identity": f"dev:{entry['identity']}" if real and entry["identity"] else "",
                    "licence": entry["licence"],
                    "split_role": "train",
                    **describe(data),
                    "tile_box": "",
                }
            )
    return rows


def heldout_guard(targets: list[Path], guard: Path = DEFAULT_GUARD, jobs: int = 1) -> tuple[set[Path], set[Path]]:
    """(flagged, unreadable) files under ``targets``, as heldout-guard reports them (resolved paths).

    ``jobs`` defaults to one worker: the guard hashes every face at several scales and would otherwise take every
    core of a shared machine."""
    proc = subprocess.run(
        [sys.executable, str(guard), *map(str, targets), "--json", "--jobs", str(jobs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"heldout-guard failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    flagged = {Path(m["file"]).resolve() for m in report["matches"]}
    return flagged, {Path(p).resolve() for p in report["unreadable"]}


def build(
    mirrors_dir: Path,
    out_dir: Path,
    sources: Iterable[Source] = SOURCES,
    dev_dir: Path | None = DEFAULT_DEV_SET,
    guard: Path | None = DEFAULT_GUARD,
    jobs: int = 1,
    keep: BuildResult | None = None,
) -> BuildResult:
    """Extract every source, reference the development set, and drop all that heldout-guard flags.

    Flagged files are deleted from ``out_dir`` and their rows dropped, so the manifest cannot name an evaluation
    face; only their number per source survives (``counts``). ``guard=None`` skips the check: for tests only,
    never for a corpus anything is trained on. ``keep`` (:func:`carried_over`): the rows, counts and commits of
    sources not rebuilt, taken over as they are; a rebuilt file with the same bytes as a kept one is a duplicate
    (the kept row stays)."""
    sources = tuple(sources)
    seen: set[str] = {r["sha256"] for r in keep.rows} if keep else set()
    started = time.monotonic()
    result = extract(sources, mirrors_dir, out_dir, seen)
    if dev_dir is not None:
        dev_rows = dev_set_rows(dev_dir, seen)
        result.rows += dev_rows
        result.counts[DEV_SOURCE] = SourceCount(kept=len(dev_rows))
    result.seconds["extract"] = round(time.monotonic() - started, 1)
    if guard is not None:
        started = time.monotonic()
        fingerprints = guard.parent / "heldout_fingerprints.json"
        version = hashlib.sha256(fingerprints.read_bytes()).hexdigest() if fingerprints.is_file() else ""
        per_folder: dict[str, dict[str, str]] = defaultdict(dict)
        for row in result.rows:
            per_folder[slug_of(row)][row["source_path" if slug_of(row) == DEV_SOURCE else "path"]] = row["sha256"]
        flagged: set[Path] = set()
        unreadable: set[Path] = set()
        for slug, files in per_folder.items():
            folder = dev_dir if slug == DEV_SOURCE and dev_dir is not None else out_dir / slug
            cache = out_dir / GUARD_CACHE / f"{slug.replace('/', '+')}.json"
            hits, bad = _guarded(folder, files, cache, version, guard, jobs)
            flagged |= hits
            unreadable |= bad
        result.rows = [r for r in result.rows if not _dropped(r, out_dir, dev_dir, flagged, unreadable, result)]
        result.seconds["heldout_guard"] = round(time.monotonic() - started, 1)
    if keep:
        # in SOURCES order, as a full build lists them, so that the summary reads the same either way
        rank = {slug: i for i, slug in enumerate([*(s.slug for s in SOURCES), DEV_SOURCE])}
        repo_rank = {s.repo: rank[s.slug] for s in reversed(SOURCES)}
        counts = keep.counts | result.counts
        commits = keep.commits | result.commits
        result.rows = sorted([*keep.rows, *result.rows], key=lambda r: rank.get(slug_of(r), len(rank)))
        result.counts = dict(sorted(counts.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        result.commits = dict(sorted(commits.items(), key=lambda kv: repo_rank.get(kv[0], len(rank))))
    return result


def carried_over(manifest: Path, rebuilt: Iterable[str]) -> BuildResult:
    """What a build of some sources (``rebuilt``) keeps of the last full one: the manifest's rows of every other
    source, and their counts and mirror commits from the ``summary.json`` beside it. Why: adding one source must
    neither drop the others from the manifest nor re-run heldout-guard over all of them (40 minutes on 2 cores).
    The development set is referenced again by every build, so it is never carried over."""
    skip = {*rebuilt, DEV_SOURCE}
    rows = [r for r in read_manifest(manifest) if slug_of(r) not in skip] if manifest.is_file() else []
    summary_path = manifest.parent / "summary.json"
    old = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    fields = set(SourceCount.__dataclass_fields__)
    present = {slug_of(r) for r in rows}
    counts = {
        slug: SourceCount(**{k: v for k, v in info.items() if k in fields})
        for slug, info in old.get("sources", {}).items()
        if slug in present
    }
    repos = {info["repo"] for slug, info in old.get("sources", {}).items() if slug in present}
    commits = {repo: c for repo, c in old.get("mirror_commits", {}).items() if repo in repos}
    return BuildResult(rows, counts, commits)


def _guarded(
    folder: Path, files: dict[str, str], cache: Path, version: str, guard: Path, jobs: int
) -> tuple[set[Path], set[Path]]:
    """heldout-guard's (flagged, unreadable) for one folder, reused from ``cache`` when the folder holds the same
    files (path and sha256) and the guard the same fingerprints as when it was recorded: the guard is by far the
    slowest step, and a rebuild after adding one source should not re-check tens of thousands of unchanged
    images."""
    key = {"fingerprints": version, "files": files}
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if {k: cached.get(k) for k in key} == key:
            return {(folder / p).resolve() for p in cached["flagged"]}, {
                (folder / p).resolve() for p in cached["unreadable"]
            }
    flagged, unreadable = heldout_guard([folder], guard, jobs)
    root = folder.resolve()
    cache.parent.mkdir(parents=True, exist_ok=True)
    record = {
        name: sorted(str(p.relative_to(root)) for p in paths)
        for name, paths in (("flagged", flagged), ("unreadable", unreadable))
    }
    cache.write_text(json.dumps({**key, **record}))
    return flagged, unreadable


def slug_of(row: Row) -> str:
    """The source a manifest row belongs to: its corpus folder, or the development set."""
    return DEV_SOURCE if row["source_repo"] == DEV_SOURCE else row["path"].split("/", 1)[0]


def _dropped(
    row: Row, out_dir: Path, dev_dir: Path | None, flagged: set[Path], unreadable: set[Path], result: BuildResult
) -> bool:
    """Whether the guard rejected this row; a rejected extracted file is deleted (dev-set files stay in place)."""
    in_dev = row["source_repo"] == DEV_SOURCE
    file = ((dev_dir or Path()) / row["source_path"] if in_dev else out_dir / row["path"]).resolve()
    if file not in flagged and file not in unreadable:
        return False
    count = result.counts[slug_of(row)]
    count.kept -= 1
    if file in flagged:
        count.heldout_flagged += 1
    else:
        count.guard_unreadable += 1
    if not in_dev:
        file.unlink()
    return True


@dataclass
class RebuildReport:
    """What a rebuild wrote, what it only verified (the development set stays in place) and what it refused."""

    written: int = 0
    verified_in_place: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def rebuild(
    rows: Iterable[Row], mirrors_dir: Path, out_dir: Path, dev_dir: Path | None = DEFAULT_DEV_SET
) -> RebuildReport:
    """Re-create the corpus folder from the mirrors at the recorded commits.

    A file is written only if its bytes hash to the manifest's sha256; anything else (a changed blob, a missing
    mirror or commit, a tile that no longer crops to the same bytes) is refused and reported, never written,
    so a rebuilt corpus is either identical to the recorded one or visibly incomplete."""
    report = RebuildReport()
    by_repo: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_repo[row["source_repo"]].append(row)
    for repo, repo_rows in by_repo.items():
        if repo == DEV_SOURCE:
            for row in repo_rows:
                file = (dev_dir or Path()) / row["source_path"]
                data = file.read_bytes() if file.is_file() else None
                if _verified(row, data, report):
                    report.verified_in_place += 1
            continue
        git_dir = mirror_dir(mirrors_dir, repo)
        if not git_dir.is_dir():
            report.refused += [(row["path"], f"no mirror at {git_dir}") for row in repo_rows]
            continue
        with Mirror(git_dir) as mirror:
            sheets: dict[str, Image.Image] = {}
            for row in repo_rows:
                data = _rebuilt_bytes(row, mirror, sheets)
                if _verified(row, data, report):
                    target = out_dir / row["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)  # type: ignore[arg-type]
                    report.written += 1
    return report


def _rebuilt_bytes(row: Row, mirror: Mirror, sheets: dict[str, Image.Image]) -> bytes | None:
    path = row["source_path"].split("#", 1)[0]
    if not row["tile_box"]:
        return mirror.read(f"{row['source_commit']}:{path}")
    if path not in sheets:
        data = mirror.read(f"{row['source_commit']}:{path}")
        if data is None:
            return None
        sheets[path] = _sheet(data)
    x0, y0, x1, y1 = map(int, row["tile_box"].split())
    return _tile_png(sheets[path], (x0, y0, x1, y1))


def _verified(row: Row, data: bytes | None, report: RebuildReport) -> bool:
    if data is None:
        report.refused.append((row["path"], f"{row['source_repo']}@{row['source_commit'][:12]} lacks the file"))
        return False
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["sha256"]:
        report.refused.append((row["path"], f"sha256 {digest[:12]}… differs from the manifest's {row['sha256'][:12]}…"))
        return False
    return True


def write_manifest(rows: list[Row], path: Path) -> None:
    """Gzipped CSV, sorted by path, with a zero gzip timestamp: the same corpus always gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["path"]))
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.getvalue().encode())


def read_manifest(path: Path) -> list[Row]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:  # type: ignore[operator]
        return list(csv.DictReader(f))


#: The quiet properties whose single-feature AUC is reported: a detector that can reach one of these through the
#: crop would learn the source, not the face.
CONFOUNDS = {
    "width": lambda r: float(r["width"]),
    "height": lambda r: float(r["height"]),
    "aspect_ratio": lambda r: float(r["width"]) / float(r["height"]),
    "pixels": lambda r: float(r["width"]) * float(r["height"]),
    "gray": lambda r: float(r["gray"]),
    "has_exif": lambda r: float(r["has_exif"]),
    "format_png": lambda r: float(r["format"] == "png"),
    "bytes_per_pixel": lambda r: float(r["bytes"]) / (float(r["width"]) * float(r["height"])),
}


def confound_aucs(rows: Iterable[Row]) -> dict[str, dict[str, float]]:
    """Per confound, max(AUC, 1 - AUC) of the feature alone for real vs generated and real vs replayed
    (training rows only): 0.5 means it tells nothing, 1.0 that it alone separates the classes."""
    from sklearn.metrics import roc_auc_score

    train = [r for r in rows if r["split_role"] == "train"]
    real = [r for r in train if r["label"] == "real"]
    table: dict[str, dict[str, float]] = {}
    for other in ("generated", "replayed"):
        negatives = [r for r in train if r["label"] == other]
        labels = [0] * len(real) + [1] * len(negatives)
        table[f"real_vs_{other}"] = {}
        for name, feature in CONFOUNDS.items():
            auc = roc_auc_score(labels, [feature(r) for r in real + negatives])
            table[f"real_vs_{other}"][name] = round(max(auc, 1 - auc), 3)
    return table


def summarise(result: BuildResult) -> dict[str, object]:
    """Counts per source / label / generator, distinct identities, guard counts and mirror commits."""
    rows = result.rows
    per_source: dict[str, dict[str, object]] = {}
    by_slug = {s.slug: s for s in SOURCES}
    for slug, count in result.counts.items():
        mine = [r for r in rows if slug_of(r) == slug]
        source = by_slug.get(slug)
        per_source[slug] = {
            "repo": source.repo if source else DEV_SOURCE,
            "folders": list(source.folders) if source else ["generated", "real"],
            "split_role": "evaluation_only" if source and source.evaluation_only else "train",
            "labels": dict(Counter(r["label"] for r in mine)),
            "generators": dict(Counter(r["generator"] for r in mine if r["generator"])),
            "distinct_identities": len({r["identity"] for r in mine if r["identity"]}),
            **vars(count),
        }
    train = [r for r in rows if r["split_role"] == "train"]
    real_train = [r for r in train if r["label"] == "real"]
    return {
        "rows": len(rows),
        "by_split_label": dict(Counter(f"{r['split_role']}/{r['label']}" for r in rows)),
        "train_generators": dict(Counter(r["generator"] for r in train if r["label"] == "generated")),
        "train_real_photos": len(real_train),
        "train_real_distinct_identities": len({r["identity"] for r in real_train if r["identity"]}),
        "train_real_sources": sorted({slug_of(r) for r in real_train}),
        "heldout_guard_removed": {slug: vars(c)["heldout_flagged"] for slug, c in result.counts.items()},
        "sources": per_source,
        "sources_not_built": [s.slug for s in SOURCES if s.slug not in result.counts],
        "mirror_commits": result.commits,
        "confound_auc": confound_aucs(rows),
        "seconds": result.seconds,
    }
