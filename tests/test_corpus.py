"""The training corpus: extraction from a git mirror is reproducible byte for byte, a changed file is refused, and
the committed manifest meets the issue's size targets. Runs without any real mirror: a throwaway repository
holding a few generated PNGs stands in for one."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceproof.cli.main import app
from faceproof.training import corpus
from faceproof.training.corpus import Grid, Source

COMMITTED_MANIFEST = Path(__file__).resolve().parents[1] / "corpus" / "manifest.csv.gz"
GRID = Grid(rows=2, cols=2, cell=8, padding=2)
SOURCES = (
    Source("photos", "test/faces", ("pics",), "real", "test only", "per_image", "t"),
    Source("sheets", "test/faces", ("grids",), "generated", "test only", "none", generator="toy", grid=GRID),
)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd, check=True)


def _sheet(rng: np.random.Generator) -> Image.Image:
    """A make_grid sheet (black padding, noise cells) shown twice as large inside a white margin, as
    matplotlib saves one."""
    side = GRID.cols * (GRID.cell + GRID.padding) + GRID.padding
    grid = np.zeros((side, side, 3), np.uint8)
    step = GRID.cell + GRID.padding
    for r in range(GRID.rows):
        for c in range(GRID.cols):
            y, x = GRID.padding + r * step, GRID.padding + c * step
            grid[y : y + GRID.cell, x : x + GRID.cell] = rng.integers(20, 200, (GRID.cell, GRID.cell, 3))
    page = np.full((2 * side + 20, 2 * side + 20, 3), 255, np.uint8)
    page[10:-10, 10:-10] = np.kron(grid, np.ones((2, 2, 1), np.uint8))
    return Image.fromarray(page)


@pytest.fixture
def mirrors(tmp_path: Path) -> Path:
    """<tmp>/mirrors/test+faces/repo: a bare clone of a repository with three photos, one sheet and a README."""
    work = tmp_path / "work"
    (work / "pics").mkdir(parents=True)
    (work / "grids").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (24, 20, 3), np.uint8)).save(work / "pics" / f"face{i}.png")
    _sheet(rng).save(work / "grids" / "samples.png")
    (work / "pics" / "README.md").write_text("not an image")
    _git("init", "-q", ".", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "faces", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(tmp_path / "mirrors" / "test+faces" / "repo"), cwd=tmp_path)
    return tmp_path / "mirrors"


def _hashes(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["path"]: r["sha256"] for r in rows}


def test_build_then_rebuild_gives_identical_bytes(mirrors: Path, tmp_path: Path) -> None:
    built = corpus.build(mirrors, tmp_path / "a", SOURCES, dev_dir=None, guard=None)
    assert Counter(r["label"] for r in built.rows) == {"real": 3, "generated": 4}
    assert {r["identity"] for r in built.rows if r["label"] == "real"} == {"t:face0", "t:face1", "t:face2"}
    tile = next(r for r in built.rows if r["generator"] == "toy")
    assert tile["source_path"].startswith("grids/samples.png#r") and tile["tile_box"]
    assert tile["path"].endswith(".png") and tile["format"] == "png"
    assert (tile["width"], tile["height"]) == ("14", "14")  # 16 px cells less the trimmed pixel each side

    manifest = tmp_path / "manifest.csv.gz"
    corpus.write_manifest(built.rows, manifest)
    rows = corpus.read_manifest(manifest)
    report = corpus.rebuild(rows, mirrors, tmp_path / "b", dev_dir=None)

    assert (report.written, report.refused) == (7, [])
    for row in rows:
        assert (tmp_path / "a" / row["path"]).read_bytes() == (tmp_path / "b" / row["path"]).read_bytes()
    assert _hashes(rows) == _hashes(built.rows)


def test_rebuild_refuses_a_file_whose_hash_differs(mirrors: Path, tmp_path: Path) -> None:
    rows = corpus.build(mirrors, tmp_path / "a", SOURCES, dev_dir=None, guard=None).rows
    tampered = sorted(rows, key=lambda r: r["path"])
    tampered[0] = {**tampered[0], "sha256": "0" * 64}
    manifest = tmp_path / "manifest.csv.gz"
    corpus.write_manifest(tampered, manifest)

    result = CliRunner().invoke(
        app, ["train", "corpus", "rebuild", "--mirrors", str(mirrors), "--out", str(tmp_path / "b"), "--manifest",
              str(manifest)]
    )  # fmt: skip

    assert result.exit_code == 1
    assert "refused" in result.output and tampered[0]["path"] in result.output
    assert "differs from the manifest" in result.output
    assert not (tmp_path / "b" / tampered[0]["path"]).exists()
    assert sum(1 for _ in (tmp_path / "b").rglob("*.png")) == len(rows) - 1


@pytest.mark.skipif(not corpus.DEFAULT_GUARD.is_file(), reason="heldout-guard is not installed here")
def test_build_runs_heldout_guard_and_reuses_its_result_for_unchanged_files(mirrors: Path, tmp_path: Path) -> None:
    built = corpus.build(mirrors, tmp_path / "a", SOURCES[:1], dev_dir=None)
    assert built.counts["photos"].kept == 3 and built.counts["photos"].heldout_flagged == 0  # noise matches nothing
    cache = tmp_path / "a" / corpus.GUARD_CACHE / "photos.json"
    assert set(json.loads(cache.read_text())["files"]) == {r["path"] for r in built.rows}

    cache.write_text(cache.read_text().replace('"flagged": []', '"flagged": ["pics/face1.png"]'))
    again = corpus.build(mirrors, tmp_path / "a", SOURCES[:1], dev_dir=None)  # same files: the recorded result
    assert again.counts["photos"].heldout_flagged == 1 and len(again.rows) == 2
    assert not (tmp_path / "a" / "photos" / "pics" / "face1.png").exists()


def test_a_build_of_one_source_keeps_the_others_as_they_were(mirrors: Path, tmp_path: Path) -> None:
    """`corpus build --only SLUG`: the manifest's other sources are carried over, not dropped or re-checked."""
    full = corpus.build(mirrors, tmp_path / "a", SOURCES, dev_dir=None, guard=None)
    manifest = tmp_path / "m" / "manifest.csv.gz"
    corpus.write_manifest(full.rows, manifest)
    (manifest.parent / "summary.json").write_text(json.dumps(corpus.summarise(full)))

    keep = corpus.carried_over(manifest, ["sheets"])
    assert {corpus.slug_of(r) for r in keep.rows} == {"photos"} and set(keep.counts) == {"photos"}
    again = corpus.build(mirrors, tmp_path / "a", SOURCES[1:], dev_dir=None, guard=None, keep=keep)

    assert _hashes(again.rows) == _hashes(full.rows)
    assert {k: vars(v) for k, v in again.counts.items()} == {k: vars(v) for k, v in full.counts.items()}
    assert again.commits == full.commits
    # a source rebuilt on its own finds its files already in the corpus under a kept source: the kept rows stay
    twice = corpus.build(
        mirrors, tmp_path / "a", SOURCES[:1], dev_dir=None, guard=None, keep=corpus.carried_over(manifest, ["other"])
    )
    assert _hashes(twice.rows) == _hashes(full.rows) and twice.counts["photos"].duplicates == 3


@pytest.mark.skipif(not COMMITTED_MANIFEST.is_file(), reason="corpus/manifest.csv.gz not built yet")
def test_committed_manifest_meets_the_targets() -> None:
    rows = corpus.read_manifest(COMMITTED_MANIFEST)
    assert rows and tuple(rows[0]) == corpus.COLUMNS
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths))

    real = [r for r in rows if r["split_role"] == "train" and r["label"] == "real"]
    assert len(real) >= 20_000
    assert len({r["identity"] for r in real if r["identity"]}) >= 10_000
    assert len({corpus.slug_of(r) for r in real}) >= 3
    generated = [r for r in rows if r["split_role"] == "train" and r["label"] == "generated"]
    assert len(generated) >= 4_000 and len({r["generator"] for r in generated}) >= 5
    assert all(r["split_role"] == "evaluation_only" for r in rows if r["label"] in ("swapped", "edited"))
