"""Provenance signal on crafted files: generator chunks, XMP DigitalSourceType, camera EXIF, C2PA, nothing.

The C2PA files are signed for real at test time (tests/c2pa_signing.py): a camera-capture claim, a generative-AI
declaration and a tampered copy of the camera one, through the signal alone, the engine and the API.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

import faceproof
from faceproof.api.app import create_app
from faceproof.authenticity.base import Finding, SignalInput
from faceproof.authenticity.engine import AuthenticityReport, assess
from faceproof.authenticity.provenance import NO_METADATA, TRUST_ANCHORS_ENV, analyze
from faceproof.config import Settings
from faceproof.intake import decode_image
from tests.c2pa_signing import SIGNER_NAME, SignedImages, sign_fixture, tamper

FIXTURES = Path(__file__).parent / "fixtures" / "images"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{term}"/>'
    "</rdf:RDF></x:xmpmeta>"
)


def _image() -> Image.Image:
    return Image.fromarray(np.full((80, 80, 3), 128, np.uint8))


def _analyze(data: bytes) -> Finding:
    decoded = decode_image(data)
    inp = SignalInput(decoded.rgb, (10.0, 10.0, 50.0, 50.0), np.zeros((5, 2)), None, decoded.metadata)
    return analyze(inp)


def test_png_with_a1111_parameters_is_generated() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "portrait photo of a man\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7")
    buf = io.BytesIO()
    _image().save(buf, format="PNG", pnginfo=info)
    finding = _analyze(buf.getvalue())
    assert finding.kind == "generated" and finding.score > 0.9 and finding.confidence > 0.8
    assert finding.features["prov_generated"] == 1.0


@pytest.mark.parametrize(
    ("term", "kind", "flag"),
    [
        ("trainedAlgorithmicMedia", "generated", "prov_generated"),
        ("compositeWithTrainedAlgorithmicMedia", "swapped", "prov_composite"),
        ("compositeSynthetic", "edited", "prov_edited"),
    ],
)
def test_jpeg_xmp_digital_source_type(term: str, kind: str, flag: str) -> None:
    buf = io.BytesIO()
    _image().save(buf, format="JPEG", xmp=XMP.format(term=term).encode())
    finding = _analyze(buf.getvalue())
    assert finding.kind == kind and finding.score >= 0.6
    assert finding.features[flag] == 1.0
    assert term in finding.message


def test_jpeg_with_camera_exif_is_mild_camera_evidence() -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D Mark IV"
    ifd = exif.get_ifd(0x8769)
    ifd[0x829A], ifd[0x829D], ifd[0x8827], ifd[0x920A] = 1 / 125, 4.0, 400, 50.0
    buf = io.BytesIO()
    _image().save(buf, format="JPEG", exif=exif)
    finding = _analyze(buf.getvalue())
    assert finding.features["prov_camera"] == 1.0
    assert finding.score <= 0.1 and finding.confidence < 0.5
    assert "Canon" in finding.message


def test_photoshop_software_tag_is_edited() -> None:
    exif = Image.Exif()
    exif[0x0131] = "Adobe Photoshop 25.0 (Windows)"
    buf = io.BytesIO()
    _image().save(buf, format="JPEG", exif=exif)
    finding = _analyze(buf.getvalue())
    assert finding.kind == "edited" and finding.features["prov_edited"] == 1.0


@pytest.mark.parametrize("name", ["df01_01.jpg", "stylegan2_001.jpg"])
def test_plain_file_is_not_evidence(name: str) -> None:
    finding = _analyze((FIXTURES / name).read_bytes())
    assert finding.score == 0.0 and finding.confidence == 0.0
    assert finding.message == NO_METADATA
    assert set(finding.features.values()) == {0.0}


@pytest.fixture(scope="session")
def signed(tmp_path_factory: pytest.TempPathFactory) -> SignedImages:
    """df01_01.jpg signed by a test certificate as a camera capture and as AI output, and the camera one tampered."""
    return sign_fixture(FIXTURES / "df01_01.jpg", tmp_path_factory.mktemp("c2pa"))


def test_signed_ai_declaration_is_generated(signed: SignedImages) -> None:
    finding = _analyze(signed.generated.read_bytes())
    assert finding.kind == "generated" and finding.score > 0.9
    assert finding.features["prov_c2pa"] == 1.0 and finding.features["prov_generated"] == 1.0
    assert finding.message.startswith("labelled as AI-generated: C2PA manifest")
    assert "faceproof test generator" in finding.message and "declares trainedAlgorithmicMedia" in finding.message
    assert f"signed by '{SIGNER_NAME}'" in finding.message


def test_signed_camera_claim_from_an_untrusted_signer_is_weak(signed: SignedImages) -> None:
    finding = _analyze(signed.camera.read_bytes())
    assert finding.message.startswith("camera capture claim: C2PA manifest")
    assert "declares digitalCapture" in finding.message and "untrusted" in finding.message
    assert finding.features["prov_camera"] == 0.5 and finding.features["prov_edited"] == 0.0
    assert finding.score <= 0.1 and finding.confidence < 0.3


def test_trusted_signer_makes_the_camera_claim_count_more(
    signed: SignedImages, monkeypatch: pytest.MonkeyPatch
) -> None:
    untrusted = _analyze(signed.camera.read_bytes())
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(signed.root))
    trusted = _analyze(signed.camera.read_bytes())
    assert ", trusted)" in trusted.message and "untrusted" not in trusted.message
    assert trusted.features["prov_camera"] == 1.0
    assert untrusted.confidence < trusted.confidence < 0.5 and trusted.score <= 0.1


def test_unreadable_trust_anchors_leave_every_signer_untrusted(
    signed: SignedImages, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(tmp_path / "missing.pem"))
    finding = _analyze(signed.camera.read_bytes())
    assert "untrusted" in finding.message and finding.features["prov_camera"] == 0.5
    assert TRUST_ANCHORS_ENV in caplog.text


def test_tampered_camera_claim_is_invalid_not_a_camera_claim(signed: SignedImages) -> None:
    finding = _analyze(signed.tampered.read_bytes())
    assert finding.message.startswith("invalid C2PA manifest")
    assert "the image changed after signing: assertion.dataHash.mismatch" in finding.message
    assert "its digitalCapture claim does not count" in finding.message
    assert "camera capture claim" not in finding.message
    assert finding.features["prov_camera"] == 0.0 and finding.features["prov_edited"] == 1.0
    assert finding.kind == "edited" and 0.5 <= finding.score < 0.9  # evidence of editing, not decisive


def test_tampered_ai_declaration_still_counts(signed: SignedImages) -> None:
    """A broken credential voids a camera claim, not an AI declaration: nobody forges one onto a real photo."""
    finding = _analyze(tamper(signed.generated.read_bytes()))
    assert finding.kind == "generated" and finding.score > 0.9
    assert finding.message.startswith("labelled as AI-generated: invalid C2PA manifest")
    assert "declares trainedAlgorithmicMedia" in finding.message


@pytest.fixture(scope="module")
def reports(signed: SignedImages) -> dict[str, AuthenticityReport]:
    """The real analysis and verdict of the unsigned photo and of its three signed copies."""
    paths = {
        "unsigned": FIXTURES / "df01_01.jpg",
        **{k: getattr(signed, k) for k in ("camera", "generated", "tampered")},
    }
    return {name: assess(faceproof.analyze(path, with_dlib=False)) for name, path in paths.items()}


def _provenance(report: AuthenticityReport) -> Finding:
    return next(f for f in report.findings if f.signal == "provenance")


def test_engine_ai_declaration_decides_the_verdict(reports: dict[str, AuthenticityReport]) -> None:
    report = reports["generated"]
    assert report.verdict == "suspected_fake" and report.suspected_kind == "generated"
    declared = [r for r in report.reasons if r.startswith("provenance: ")]
    assert declared and "declares trainedAlgorithmicMedia" in declared[0]


def test_engine_camera_claim_does_not_force_the_verdict(reports: dict[str, AuthenticityReport]) -> None:
    """The signature adds APP11 segments, not pixels: the verdict must be that of the same photo unsigned."""
    report, unsigned = reports["camera"], reports["unsigned"]
    assert _provenance(report).message.startswith("camera capture claim: C2PA manifest")
    assert not any(r.startswith("provenance") for r in report.reasons)
    assert report.verdict == unsigned.verdict
    assert report.fake_probability == pytest.approx(unsigned.fake_probability, abs=1e-6)


def test_engine_tampered_manifest_is_reported_invalid(reports: dict[str, AuthenticityReport]) -> None:
    finding = _provenance(reports["tampered"])
    assert finding.message.startswith("invalid C2PA manifest") and "changed after signing" in finding.message
    assert finding.features["prov_camera"] == 0.0
    assert not any(r.startswith("provenance") for r in reports["tampered"].reasons)


def test_api_reports_each_provenance_sentence(signed: SignedImages, tmp_path: Path) -> None:
    expected = {
        "generated": "labelled as AI-generated: C2PA manifest",
        "camera": "camera capture claim: C2PA manifest",
        "tampered": "invalid C2PA manifest",
    }
    with TestClient(create_app(Settings(data_dir=tmp_path, warm_models=False))) as client:
        for name, sentence in expected.items():
            data = getattr(signed, name).read_bytes()
            r = client.post("/authenticity", files={"file": (f"{name}.jpg", data, "image/jpeg")})
            assert r.status_code == 200, r.text
            body = r.json()
            provenance = next(f for f in body["findings"] if f["signal"] == "provenance")
            assert provenance["message"].startswith(sentence), (name, provenance["message"])
            if name == "generated":
                assert body["verdict"] == "suspected_fake" and body["suspected_kind"] == "generated"
                assert any(r.startswith("provenance: ") and "trainedAlgorithmicMedia" in r for r in body["reasons"])
            else:
                assert not any(r.startswith("provenance") for r in body["reasons"])


def test_unreadable_c2pa_box_is_still_reported() -> None:
    data = (FIXTURES / "df01_01.jpg").read_bytes()
    # An APP11 segment naming a c2pa JUMBF box with no valid content, right after SOI.
    junk = b"JP\x00\x00\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa" + bytes(8)
    segment = b"\xff\xeb" + (len(junk) + 2).to_bytes(2, "big") + junk
    finding = _analyze(data[:2] + segment + data[2:])
    assert finding.features["prov_c2pa"] == 1.0
    assert finding.score <= 0.2
