"""The evaluation of swaps made by others (evaluation/swaps_onto_profiles.py): who a swap shows is taken only where
both recognizers agree by a margin, a swap's base photo is told apart from another photo by template matching on real
fixture photos cut the way the LFW grey crops are, and the command says what is missing without the corpus."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from faceproof.evaluation.swaps_onto_profiles import (
    BASE_PHOTO_CORRELATION,
    base_photo_correlation,
    crop_templates,
    lfw_person,
    recover_identities,
)
from tests.conftest import load_rgb


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_the_person_is_taken_only_where_both_recognizers_agree_by_a_margin() -> None:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 2, 32)))  # 3 people x (SFace, dlib)
    owners = np.array([0, 0, 1, 1, 2, 2])
    people = tuple(unit(centres[owners, m] + 0.05 * rng.normal(size=(6, 32))) for m in (0, 1))
    clear = (centres[1, 0], centres[1, 1])  # person 1 in both
    split = (centres[1, 0], centres[2, 1])  # SFace says 1, dlib says 2
    blend = (unit(centres[0, 0] + centres[1, 0]), centres[0, 1])  # SFace torn between 0 and 1
    swaps = tuple(np.stack([s[m] for s in (clear, split, blend)]) for m in (0, 1))
    assert recover_identities(swaps, people, owners) == [1, None, None]


def test_a_swaps_base_photo_is_told_from_another_photo(tmp_path: Path) -> None:
    def lfw_like(name: str) -> np.ndarray:  # a 250 px colour photo, as in LFW
        rgb = load_rgb(name)
        side = min(rgb.shape[:2])
        return cv2.resize(rgb[:side, :side], (250, 250), interpolation=cv2.INTER_AREA)

    def grey_crop(rgb: np.ndarray, path: Path) -> Path:  # the way lfw_gray holds it: the centre, grey, 350 px
        grey = cv2.cvtColor(rgb[68:182, 68:182], cv2.COLOR_RGB2GRAY)
        cv2.imwrite(str(path), cv2.resize(grey, (350, 350), interpolation=cv2.INTER_CUBIC))
        return path

    photo, other = lfw_like("df01_01.jpg"), lfw_like("df10_01.jpg")
    swap = tmp_path / "swap.jpg"
    edited = photo.copy()
    edited[110:150, 95:155] = other[110:150, 95:155]  # another face's middle pasted in
    cv2.imwrite(str(swap), cv2.cvtColor(edited, cv2.COLOR_RGB2BGR))
    own = grey_crop(photo, tmp_path / "Ada_Example_0001.jpg")
    foreign = grey_crop(other, tmp_path / "Bo_Example_0001.jpg")
    assert (
        base_photo_correlation(swap, crop_templates([own]))
        > BASE_PHOTO_CORRELATION
        > base_photo_correlation(swap, crop_templates([foreign]))
    )
    assert lfw_person(own) == "Ada_Example"


def test_the_command_says_what_is_missing_without_the_corpus(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from faceproof.cli.main import app

    result = CliRunner().invoke(
        app, ["eval", "swaps-onto-profiles", "--corpus", str(tmp_path), "--out", str(tmp_path / "r.json")]
    )
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2 and "holds no face swaps under" in said
    assert not (tmp_path / "r.json").exists()
