"""The web page, driven in headless Chromium against the real server: enrol, verify, identify and an error.

Why a real browser: the page's job is what a person sees (verdict word and colour, bars, the mesh over the face,
readable errors), and its strict Content-Security-Policy only bites in a browser: an inline script or a blocked
resource shows up here as a console error and fails the test. The server runs as a subprocess on a free loopback
port with its own temporary data folder. Chromium is Debian's (``apt-get install chromium``), driven by
Playwright's Python package; without a chromium binary the browser test is skipped.

``FACEPROOF_SCREENSHOTS=1`` also writes the screenshots used in docs/usage.md, docs/authenticity.md and the README
to docs/img/web_*.png (losslessly re-compressed; the verdicts with their evidence pictures cut to the verdict).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Locator, Page, expect, sync_playwright

from faceproof.api.schemas import FindingOut
from faceproof.authenticity.base import Finding
from tests.conftest import fixture_path
from tests.server import running_server

log = logging.getLogger(__name__)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
SCREENSHOTS = os.environ.get("FACEPROOF_SCREENSHOTS") == "1"
RESULT_TIMEOUT_MS = 60_000  # the first request loads the models


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real API and page, served by uvicorn in a subprocess with an empty data folder."""
    with running_server(tmp_path_factory.mktemp("web-data")) as (base, _):
        yield base


@pytest.fixture
def page(server: str) -> Iterator[Page]:
    """A fresh headless Chromium tab on the page; fails the test on any console error or uncaught exception."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH: install Debian's chromium (apt-get install -y chromium)")
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx response as "Failed to load resource"; the error tests cause those on purpose.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        tab = context.new_page()
        tab.on("console", on_console)
        tab.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
        tab.goto(server)
        yield tab
        browser.close()
    assert not problems, f"the page reported errors: {problems}"


def _shot(page: Page, name: str, *upto: Locator) -> None:
    """The page (down to the lowest bottom of ``upto`` when given) as docs/img/web_NAME.png."""
    if SCREENSHOTS:
        path = DOCS_IMG / f"web_{name}.png"
        if not upto:
            page.locator("body").screenshot(path=str(path))
        else:  # page coordinates (a bounding box is the viewport's, which moves as the page scrolls)
            box = page.locator("body").evaluate(
                "e => { const r = e.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width]; }"
            )
            bottom = max(end.evaluate("e => e.getBoundingClientRect().bottom + scrollY") for end in upto)
            clip = {"x": box[0], "y": box[1], "width": box[2], "height": bottom + 16 - box[1]}
            page.screenshot(path=str(path), clip=clip, full_page=True)
        _in_256_colours(path)


def _shot_of(part: Locator, name: str) -> None:
    """One part of the page alone, with a margin of the page around it, as docs/img/web_NAME.png."""
    if SCREENSHOTS:
        path = DOCS_IMG / f"web_{name}.png"
        x, y, width, height = part.evaluate(
            "e => { const r = e.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, "
            "r.height]; }"
        )
        clip = {"x": x - 16, "y": y - 4, "width": width + 32, "height": height + 20}
        part.page.screenshot(path=str(path), clip=clip, full_page=True)
        _in_256_colours(path)


def _in_256_colours(path: Path) -> None:
    """The screenshot at ``path`` in 256 colours (dithered: a third of the bytes of the 24-bit picture),
    PNG-optimised."""
    shot = Image.open(path).quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    shot.save(path, optimize=True)
    log.info("screenshot written to %s", path)


def test_page_is_served_with_security_headers(server: str) -> None:
    for path, media_type in (("/", "text/html"), ("/web/app.js", "text/javascript"), ("/web/app.css", "text/css")):
        response = httpx.get(server + path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
    missing = httpx.get(f"{server}/web/../pyproject.toml")
    assert missing.status_code == 404
    assert httpx.get(f"{server}/web/secret.js").json()["error"]["code"] == "not_found"
    assert "/web/{name}" not in httpx.get(f"{server}/openapi.json").json()["paths"]


def _verify(page: Page, photo: str | Path) -> None:
    path = photo if isinstance(photo, Path) else fixture_path(photo)
    page.set_input_files("#verify-file", str(path))
    expect(page.locator("#verify-chosen")).to_have_text(path.name)
    page.get_by_role("button", name="Verify", exact=True).click()


def _picture(page: Page, explains: str, kind: str) -> Locator:
    """The evidence picture of one finding beside the verdict, checked to be drawn (not a blank canvas)."""
    figure = page.locator(f"#verify-result .evidence figure[data-explains='{explains}']")
    expect(figure).to_have_attribute("data-kind", kind)
    canvas = figure.locator("canvas")
    expect(canvas).to_have_attribute("aria-label", re.compile(r"points to "))
    drawn = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 60) n++;
                  return n / (c.width * c.height); }"""
    )
    assert drawn > 0.5
    return figure


def test_enrol_verify_identify_in_the_browser(page: Page, server: str, tmp_path: Path) -> None:
    # Listening for file choosers turns on their interception now; turned on only by expect_file_chooser below, it
    # can lose the race with the key press on a busy machine, and Chromium then opens a dialog nobody sees.
    page.on("filechooser", lambda _: None)
    # Enrol: two photos of one person and a name -> the profile card with the face crop and the mesh.
    page.get_by_label("Name").fill("Ada Example")
    page.set_input_files("#enrol-files", [str(fixture_path("df01_01.jpg")), str(fixture_path("df01_02.jpg"))])
    expect(page.locator("#enrol-chosen")).to_have_text("df01_01.jpg, df01_02.jpg")
    page.get_by_role("button", name="Enrol", exact=True).click()
    card = page.locator("#enrol-result article.card")
    expect(card).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(card.locator("h2")).to_have_text("Ada Example")
    expect(card).to_contain_text("2 photos")
    expect(card).to_contain_text("Face shape")
    expect(card).to_contain_text("usable for identity")
    # The iris circles are drawn in pure cyan: count such pixels on the crop to know the mesh was drawn.
    cyan = card.locator("canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i+1] > 170 && d[i+2] > 220) n++;
                  return n; }"""
    )
    assert cyan > 50
    _shot(page, "enrol", card.locator("canvas"), card.locator(".first-photo"))

    # Under it, the profile as the server keeps it: the description, the attribute words, one quality row per
    # enrolment photo, and the reality baseline drawn as one strip per feature with a dot per photo.
    (profile,) = httpx.get(f"{server}/profiles").json()["items"]
    baseline = httpx.get(f"{server}/profiles/{profile['id']}/reality-baseline", timeout=60).json()
    view = card.locator(".profile-view")
    _check_profile_view(view, profile, baseline)
    _shot_of(view, "profile")

    # Verify: the chosen profile is shown on request; the same person is genuine, another person is a different
    # person.
    page.get_by_role("tab", name="Verify").click()
    expect(page.get_by_label("Profile", exact=True)).to_contain_text("Ada Example")
    about = page.locator("#profile-about")
    about.locator("summary").click()
    _check_profile_view(about.locator(".profile-view"), profile, baseline)
    about.locator("summary").click()
    _verify(page, "df01_03.jpg")
    verdict = page.locator("#verify-result .verdict")
    expect(verdict).to_have_attribute("data-verdict", "genuine", timeout=RESULT_TIMEOUT_MS)
    expect(verdict).to_contain_text("Genuine")
    match_bar = page.locator("#verify-result .meter", has_text="Match probability")
    expect(match_bar.locator(".tick")).to_have_count(1)
    expect(match_bar.get_by_role("meter")).to_have_attribute("aria-valuenow", "100.0")
    expect(page.locator("#verify-result ul.reasons li").first).to_contain_text("identity match")
    _shot(page, "verify_genuine", page.locator("#verify-result ul.reasons"), page.locator("#verify-result canvas"))

    _verify(page, "df10_01.jpg")
    expect(verdict).to_have_attribute("data-verdict", "different_person", timeout=RESULT_TIMEOUT_MS)
    expect(verdict).to_contain_text("Different person")
    expect(page.locator("#verify-result ul.reasons li").first).to_contain_text("no identity match")
    expect(page.locator("#verify-result .evidence")).to_have_count(0)  # no finding points to a fake: no picture
    _shot(page, "verify_different", page.locator("#verify-result ul.reasons"), page.locator("#verify-result canvas"))

    # A generated face: suspected fake, with the generated-face detector's map beside the verdict.
    _verify(page, "diffusion_054.jpg")
    expect(verdict).to_have_attribute("data-verdict", "suspected_fake", timeout=RESULT_TIMEOUT_MS)
    evidence = page.locator("#verify-result .evidence")
    expect(evidence.locator("figure")).to_have_count(1)
    _picture(page, "generated_net", "activation")
    _shot(page, "verify_generated", evidence)

    # The README tour's swap (tests/tour_fixtures.py: Ada's inner face, rendered at a generator's size, pasted onto
    # another woman's head): the blending boundary of the swap beside the verdict.
    _verify(page, "swap_001.jpg")
    expect(verdict).to_have_attribute("data-verdict", "suspected_fake", timeout=RESULT_TIMEOUT_MS)
    (boundary,) = page.locator("#verify-result .evidence figure[data-kind='boundary']").all()
    _picture(page, str(boundary.get_attribute("data-explains")), "boundary")
    _shot(page, "verify_swap", evidence)

    # The tour's replay (Ada's photo on a simulated screen, photographed): the screen grid's peaks in the spectrum.
    _verify(page, "replay_001.jpg")
    expect(verdict).to_have_attribute("data-verdict", "suspected_fake", timeout=RESULT_TIMEOUT_MS)
    expect(verdict).to_contain_text("a photo of a screen or a print")
    _picture(page, "recapture", "spectrum")
    _shot(page, "verify_replay", evidence)

    # Every finding's picture on request, each labelled with its finding's words.
    page.get_by_label("Show where the evidence lies for every signal").check()
    _verify(page, "df01_03.jpg")
    expect(verdict).to_have_attribute("data-verdict", "genuine", timeout=RESULT_TIMEOUT_MS)
    expect(evidence.locator("figure[data-explains='geometry'] canvas")).to_have_attribute(
        "aria-label", re.compile(r"^Geometry: all \d+ measurements within the person's own spread")
    )
    expect(evidence.locator("figure[data-explains='generated_net'] canvas")).to_have_attribute(
        "aria-label", re.compile(r"^Generated-face detector: no sign of an AI-generated face")
    )
    page.get_by_label("Show where the evidence lies for every signal").uncheck()

    # An error: a text file is refused with a readable message, and the page keeps working.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n", encoding="utf-8")
    page.set_input_files("#verify-file", str(notes))
    page.get_by_role("button", name="Verify", exact=True).click()
    error = page.locator("#verify-error")
    expect(error).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(error).to_contain_text("Could not verify")
    expect(error).to_contain_text("not an image in a supported format")
    expect(error).to_contain_text("(not_an_image)")
    expect(page.locator("#verify-result")).to_be_empty()

    # Identify with a second person enrolled: the drop zone is a button that opens the file dialog from the keyboard.
    second = [
        ("files", (name, fixture_path(name).read_bytes(), "image/jpeg")) for name in ("df02_01.jpg", "df02_02.jpg")
    ]
    assert httpx.post(f"{server}/profiles", files=second, data={"name": "Bo Example"}, timeout=60).status_code == 201
    page.get_by_role("tab", name="Identify").click()
    zone = page.locator("#panel-identify .drop")
    zone.focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(fixture_path("df01_03.jpg")))
    page.get_by_role("button", name="Identify", exact=True).click()
    rows = page.locator("#identify-result tbody tr")
    expect(rows).to_have_count(2, timeout=RESULT_TIMEOUT_MS)
    expect(rows.first).to_contain_text("Ada Example")
    expect(rows.first).to_contain_text("match")
    expect(rows.nth(1)).to_contain_text("Bo Example")
    expect(rows.nth(1)).to_contain_text("no match")
    _shot(page, "identify")


def _check_profile_view(view: Locator, profile: dict, baseline: dict) -> None:
    """The profile view shows the description, the attribute words, one quality row per enrolment photo with the
    server's words, and the baseline plot with a strip per feature, a band each and a dot per measured value."""
    expect(view).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(view.locator(".desc")).to_have_text(profile["description"])
    assert profile["description"].startswith("Built from 2 photos.")
    attributes = profile["summary"]["attributes"]
    expect(view.locator(".attributes dt")).to_have_count(len(attributes))
    for attribute in attributes.values():
        expect(view.locator(".attributes")).to_contain_text(attribute["text"])
    rows = view.locator("table.photos tbody tr")
    expect(rows).to_have_count(len(baseline["image_ids"]))
    for i, image_id in enumerate(baseline["image_ids"]):
        expect(rows.nth(i)).to_have_attribute("data-image", image_id)
        expect(rows.nth(i).locator(".flag.pass")).to_have_text("Usable")
    plot = view.locator("svg.baseline-plot")
    features = baseline["features"]
    assert len(features) > 10
    expect(plot.locator("g.strip")).to_have_count(len(features))
    expect(plot.locator("rect.band")).to_have_count(len(features))
    dots = sum(v is not None for f in features for v in f["photos"])
    expect(plot.locator("circle.dot")).to_have_count(dots)
    expect(view.locator(".baseline figcaption")).to_have_text(baseline["legend"])
    # Drawn where the numbers say: every dot inside its band on screen, as its value is inside [low, high].
    for strip in plot.locator("g.strip").all()[:3]:
        band = strip.locator("rect.band").bounding_box()
        assert band is not None and band["width"] > 5
        for dot in strip.locator("circle.dot").all():
            box = dot.bounding_box()
            assert box is not None and band["x"] <= box["x"] + box["width"] / 2 <= band["x"] + band["width"]


def test_errors_are_readable_in_the_page(page: Page) -> None:
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.locator("#enrol-error")).to_contain_text("Choose one or more photos first")
    page.get_by_role("tab", name="Identify").click()
    page.set_input_files(
        "#identify-file", files=[{"name": "blank.png", "mimeType": "image/png", "buffer": fixture_png_without_face()}]
    )
    page.get_by_role("button", name="Identify", exact=True).click()
    error = page.locator("#identify-error")
    expect(error).to_contain_text("Could not identify", timeout=RESULT_TIMEOUT_MS)
    expect(error).to_contain_text("(no_face)")


def test_findings_are_drawn_as_one_bar_each(page: Page) -> None:
    """The authenticity findings of a verification (stubbed here, so the rendering is tested on its own), and the
    provenance sentence under the verdict."""
    profile = {"id": "p1", "name": "Stub Person", "image_count": 1}
    match = {
        "same_person": True,
        "match_probability": 0.97,
        "threshold": 2.4,
        "far": 0.001,
        "scores": {"sface": 0.6, "dlib": 0.9, "fused": 3.5},
        "tone": "pass",
        "sentence": "same person: match probability 97.0 % ≥ 91.7 % at FAR 0.001",
    }
    findings = [
        FindingOut.of(Finding(*f)).model_dump()
        for f in (
            ("frequency", 0.82, 0.9, "generated", "grid artefacts"),
            ("noise", 0.1, 0.7, "edited", "noise is consistent"),
            ("provenance", 0.6, 0.5, "edited", "manifest invalid"),
        )
    ]
    verdict = {
        "verdict": "suspected_fake",
        "headline": {"title": "Suspected fake", "text": "The image looks like an AI-generated face.", "tone": "warn"},
        "match": match,
        "reasons": ["the image shows generator artefacts"],
        "geometry": {"compared": 12, "outside": [], "agreement": 1.0},
        "findings": findings,
    }
    page.route("**/profiles?limit=500", lambda route: route.fulfill(json={"items": [profile], "total": 1}))
    page.route("**/profiles/p1/verify?evidence=flagged", lambda route: route.fulfill(json=verdict))
    page.reload()
    page.get_by_role("tab", name="Verify").click()
    _verify(page, "df01_03.jpg")
    result = page.locator("#verify-result")
    expect(result.locator(".verdict")).to_contain_text("Suspected fake")
    expect(result.locator(".verdict")).to_have_class("verdict warn")  # the colour is the server's tone
    expect(result.locator(".verdict .provenance")).to_have_text(findings[2]["sentence"])
    bars = result.locator(".finding")
    expect(bars).to_have_count(3)
    expect(bars.first).to_contain_text("frequency (generated)")
    expect(bars.first).to_contain_text("points to an AI-generated face (score 0.82 ≥ 0.50) — grid artefacts")
    expect(bars.first.locator(".bar")).to_have_attribute("aria-valuenow", "82.0")
    expect(bars.first.locator(".fill")).to_have_class("fill warn")
    expect(bars.nth(1)).to_contain_text("no sign of an edited photo (score 0.10 < 0.50) — noise is consistent")
    expect(bars.nth(1).locator(".fill")).to_have_class("fill pass")
    # The stub profile is unknown to the server: its view says so in its own place, and the verdict stays.
    page.locator("#profile-about summary").click()
    expect(page.locator("#profile-view .error")).to_contain_text("Could not load the profile")
    expect(result.locator(".verdict")).to_contain_text("Suspected fake")


def fixture_png_without_face() -> bytes:
    """A plain grey 200x200 PNG: decodes fine, has no face."""
    import cv2
    import numpy as np

    ok, png = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))
    assert ok
    return png.tobytes()
