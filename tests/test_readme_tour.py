"""The README's quick start and tour run as written and get the answers the README shows.

Why run the README itself: it is the first thing a person tries, and a tour whose commands fail or whose verdicts
differ from what it claims teaches distrust. So the test reads README.md, not a copy: every ``sh`` block of the
"Quick start" and "A five-minute tour" sections is run line by line with bash and curl against a real server (a
subprocess on a free port with an empty data folder; only the README's ``http://127.0.0.1:8000`` is replaced by
its address), and every ``# {...}`` line under a command is the part of that command's JSON answer it must contain:
``…`` stands for the rest of an object or a list, for any value, or (ending a string) for the rest of the string.
The Python example runs with this virtualenv's Python and prints the lines of the ``text`` block under it (``…``:
any text). The tour must show each kind of answer: genuine, another person, a generated face, a swap and a replay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from faceproof.intake import decode_image
from tests import tour_fixtures
from tests.conftest import FIXTURES, load_rgb
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BASE = "http://127.0.0.1:8000"
ELLIPSIS = "\u2026"
#: What a claim's ``, …`` before a closing bracket becomes: "and more" (a list's last item, an object's last key).
MORE = ELLIPSIS * 2
#: What the tour must show verified against a profile: (verdict, suspected kind) pairs.
KINDS = {
    ("genuine", None),
    ("different_person", None),
    ("suspected_fake", "generated"),
    ("suspected_fake", "swapped"),
    ("suspected_fake", "recaptured"),
}


@dataclass(frozen=True)
class Step:
    command: str
    claim: str | None  # the JSON the answer must contain (with ``…``), from the line under the command


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def steps(block: str) -> list[Step]:
    """The commands of a shell block (continued lines joined), each with the ``# {...}`` line under it."""
    out: list[Step] = []
    for text in block.replace("\\\n", " ").splitlines():
        line = text.strip()
        if line.startswith("# {"):
            assert out and out[-1].claim is None, f"a claim under no command: {line}"
            out[-1] = Step(out[-1].command, line[2:])
        elif line and not line.startswith("#"):
            out.append(Step(line, None))
    return out


def claim_of(text: str) -> Any:
    """A claim as JSON: ``, …`` before ``]`` or ``}`` becomes the marker MORE (a list item or an object key)."""
    text = re.sub(",\\s*" + ELLIPSIS + "(?=\\s*\\])", f', "{MORE}"', text)
    text = re.sub(",\\s*" + ELLIPSIS + "(?=\\s*\\})", f', "{MORE}": null', text)
    return json.loads(text)


def mismatches(answer: Any, claim: Any, where: str = "") -> Iterator[str]:
    """Where ``answer`` does not contain ``claim``: an object must have the claim's keys (only them, unless the
    claim ends with ``, …``), a list the claim's items in order (as many, unless it ends with ``, …``), a string
    ending with ``…`` the text before it, and ``"…"`` anything."""
    if claim == ELLIPSIS:
        return
    if isinstance(claim, dict):
        if not isinstance(answer, dict):
            yield f"{where}: {answer!r} is not an object"
            return
        keys = set(claim) - {MORE}
        if MORE not in claim and set(answer) != keys:
            yield f"{where}: keys {sorted(answer)} are not {sorted(keys)}"
        for key in keys:
            if key not in answer:
                yield f"{where}.{key}: missing"
            else:
                yield from mismatches(answer[key], claim[key], f"{where}.{key}")
    elif isinstance(claim, list):
        items = [c for c in claim if c != MORE]
        if not isinstance(answer, list) or len(answer) < len(items) or (MORE not in claim and len(answer) > len(items)):
            yield f"{where}: {answer!r} is not a list of {len(items)}{' or more' if MORE in claim else ''} items"
            return
        for i, item in enumerate(items):
            yield from mismatches(answer[i], item, f"{where}[{i}]")
    elif isinstance(claim, str) and claim.endswith(ELLIPSIS):
        prefix = claim[: -len(ELLIPSIS)].rstrip()
        if not (isinstance(answer, str) and answer.startswith(prefix)):
            yield f"{where}: {answer!r} does not start with {prefix!r}"
    elif answer != claim:
        yield f"{where}: {answer!r} is not {claim!r}"


def test_the_claim_reader() -> None:
    answer = {"verdict": "genuine", "match": {"far": 0.001, "scores": [1, 2, 3]}, "text": "Face between oval"}
    assert not list(mismatches(answer, claim_of('{"verdict": "genuine", …}')))
    assert not list(mismatches(answer, claim_of('{"match": {"scores": [1, …], …}, "text": "Face …", …}')))
    assert not list(mismatches(answer, claim_of('{"verdict": "…", "match": "…", "text": "…"}')))
    assert list(mismatches(answer, claim_of('{"verdict": "genuine"}')))  # other keys, and no ", …"
    assert list(mismatches(answer, claim_of('{"match": {"scores": [1, 2], …}, …}')))  # three items, not two
    assert list(mismatches(answer, claim_of('{"text": "Face between round …", …}')))
    assert list(mismatches(answer, claim_of('{"verdict": "different_person", …}')))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for tool in ("bash", "curl", "python3"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README's commands need {tool}, which is not installed")
    with running_server(tmp_path_factory.mktemp("tour-data")) as (base, _):
        yield base


def run(command: str, base: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-c", command.replace(BASE, base)],
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{command}\nexit {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


def test_the_quick_start_and_the_tour_run_as_written(server: str) -> None:
    quick_start, tour = section("Quick start"), section("A five-minute tour")
    setup, *quick = blocks(quick_start, "sh")
    # The set-up block names the Makefile's own targets (running them here would recurse into this suite).
    targets = re.findall(r"^(\w[\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert [s.command.split("#")[0].split() for s in steps(setup)] == [["make", "run"], ["make", "test"]]
    assert {"run", "test"} <= set(targets)

    env: dict[str, str] = {}
    verified: set[tuple[str, str | None]] = set()
    commands = [s for block in [*quick, *blocks(tour, "sh")] for s in steps(block)]
    assert len(commands) >= 12
    for step in commands:
        if assignment := re.match(r"^(\w+)=\$\(", step.command):  # ID=$(curl ... | python3 -c ...)
            name = assignment.group(1)
            env[name] = run(f'{step.command}; printf %s "${name}"', server, env).strip()
            assert re.fullmatch(r"[0-9a-f]{32}", env[name]), f"{step.command} set {name}={env[name]!r}"
            continue
        assert step.claim is not None, f"no answer shown under {step.command}"
        answer = json.loads(run(step.command, server, env))
        problems = list(mismatches(answer, claim_of(step.claim)))
        assert not problems, f"{step.command}\nclaims {step.claim}\nbut: {problems}"
        if "/verify" in step.command:
            verified.add((answer["verdict"], answer["authenticity"]["suspected_kind"]))
    assert verified == KINDS

    # The prose under the tour: without the profile, the swap is not flagged (the profile is what catches it).
    swap = tour_fixtures.SWAP
    alone = httpx.post(f"{server}/authenticity", files={"file": (swap, (FIXTURES / swap).read_bytes())}, timeout=60)
    assert alone.json()["verdict"] == "likely_real"
    assert next(f for f in alone.json()["findings"] if f["signal"] == "noise")["tone"] == "warn"
    assert "Without a profile, `/authenticity` does not flag that photo" in " ".join(tour.split())


def test_the_python_example_prints_what_the_readme_shows(server: str) -> None:
    tour = section("A five-minute tour")
    (code,) = blocks(tour, "python")
    (shown,) = blocks(tour, "text")
    command = [sys.executable, "-c", code.replace(BASE, server)]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    printed, expected = result.stdout.splitlines(), shown.splitlines()
    assert len(printed) == len(expected), result.stdout
    for line, pattern in zip(printed, expected, strict=True):
        assert re.fullmatch(".*".join(map(re.escape, pattern.split(ELLIPSIS))), line), f"{line!r} is not {pattern!r}"


def test_the_tour_fixtures_are_what_tests_tour_fixtures_makes() -> None:
    # The committed swap and replay are re-made by their recipe and compared after the same JPEG encoding; a few
    # levels of difference allow for another machine's float rounding in the face mesh.
    made = {tour_fixtures.SWAP: tour_fixtures.made_swap(), tour_fixtures.REPLAY: tour_fixtures.made_replay()}
    manifest = (FIXTURES / "manifest.csv").read_text(encoding="utf-8")
    for name, rgb in made.items():
        again = decode_image(tour_fixtures.jpeg(rgb)).rgb.astype(np.int16)
        assert np.abs(again - load_rgb(name)).mean() < 1.0, name
        row = next(line for line in manifest.splitlines() if line.startswith(f"{name},"))
        assert "python -m tests.tour_fixtures" in row
