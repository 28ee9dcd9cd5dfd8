"""Provenance signal on crafted files: generator chunks, XMP DigitalSourceType, camera EXIF, C2PA, nothing."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from faceproof.authenticity.base import Finding, SignalInput
from faceproof.authenticity.provenance import NO_METADATA, analyze
from faceproof.intake import decode_image

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


def _signed_c2pa_jpeg() -> bytes:
    """A JPEG whose C2PA manifest says trainedAlgorithmicMedia, signed offline by a throw-away test CA."""
    c2pa = pytest.importorskip("c2pa")
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, ca_key: object
    ) -> x509.Certificate:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, subject),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "faceproof test"),
            ]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        )
        if issuer is None:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = (
                builder.add_extension(
                    x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
                )
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)  # type: ignore[attr-defined]
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            )
        return builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("test ca", ca_key, None, ca_key)
    leaf = cert("test signer", key, ca, ca_key)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, pkcs8, None))
    manifest = {
        "claim_generator_info": [{"name": "TestGen", "version": "1.0"}],
        "title": "generated face",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                        }
                    ]
                },
            }
        ],
    }
    src, out = io.BytesIO(), io.BytesIO()
    _image().save(src, format="JPEG")
    src.seek(0)
    c2pa.Builder(manifest).sign(signer, "image/jpeg", src, out)
    return out.getvalue()


def test_c2pa_manifest_with_ai_source_type_is_generated() -> None:
    finding = _analyze(_signed_c2pa_jpeg())
    assert finding.kind == "generated" and finding.score > 0.9
    assert finding.features["prov_c2pa"] == 1.0 and finding.features["prov_generated"] == 1.0
    assert "TestGen" in finding.message and "trainedAlgorithmicMedia" in finding.message


def test_unreadable_c2pa_box_is_still_reported() -> None:
    data = (FIXTURES / "df01_01.jpg").read_bytes()
    # An APP11 segment naming a c2pa JUMBF box with no valid content, right after SOI.
    junk = b"JP\x00\x00\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa" + bytes(8)
    segment = b"\xff\xeb" + (len(junk) + 2).to_bytes(2, "big") + junk
    finding = _analyze(data[:2] + segment + data[2:])
    assert finding.features["prov_c2pa"] == 1.0
    assert finding.score <= 0.2
