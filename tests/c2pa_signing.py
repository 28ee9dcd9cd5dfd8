"""Content Credentials for the tests: a throw-away CA, a signing certificate, and C2PA-signed fixture photos.

Why made here: the provenance signal must be exercised on files signed the way real cameras and generators sign
them, and no real signing key can be shipped or downloaded. So each test session makes its own chain - a
self-signed EC P-256 root and an ES256 leaf with the key usage C2PA requires of a signer (digitalSignature, the
``emailProtection`` extended key usage, the CA's key identifier) - with ``cryptography`` (a dependency of
c2pa-python, pinned in requirements.lock) and signs with c2pa-python's ``Builder``. Without the root among the
reader's trust anchors such a signature is well formed but ``signingCredential.untrusted``: exactly what any
self-made certificate gives, so the tests see what a forger with their own certificate would produce.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SIGNER_NAME = "faceproof test signer"
ISSUER_NAME = "faceproof test"
_APP11 = 0xEB  # the JPEG segment that carries JUMBF boxes, hence C2PA manifests
_SOS = 0xDA  # start of scan: the entropy-coded pixels follow, no more marker segments to parse


@dataclass(frozen=True)
class Credentials:
    """A test root (to trust or not) and a leaf certificate chain with its private key, all PEM."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class SignedImages:
    """The fixture photo signed three ways, and the root that can make the reader trust their signer."""

    camera: Path
    generated: Path
    tampered: Path
    root: Path


def _certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """A root (``issuer`` None: may sign certificates) or a leaf that C2PA accepts as a claim signer."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER_NAME),
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # certificate + CRL sign
        builder = builder.add_extension(usage, critical=True)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)  # digital signature
        builder = (
            builder.add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_credentials() -> Credentials:
    """A fresh root and signer, valid from yesterday to the day after tomorrow."""
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _certificate("faceproof test root", root_key, None, root_key)
    leaf = _certificate(SIGNER_NAME, leaf_key, root, root_key)
    pem = serialization.Encoding.PEM
    return Credentials(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def sign_jpeg(data: bytes, credentials: Credentials, source_type: str, generator: str) -> bytes:
    """``data`` with a C2PA manifest whose ``c2pa.created`` action declares the IPTC ``source_type``.

    The pixels are untouched: c2pa inserts its APP11 segments and hashes everything else.
    """
    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": f"{source_type} test image",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE + source_type}]
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(b"es256", credentials.chain_pem, credentials.key_pem, None)
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()


def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """The marker segments between SOI and the start of scan, as (marker, whole segment)."""
    segments: list[tuple[int, bytes]] = []
    i = 2
    while jpeg[i] == 0xFF and jpeg[i + 1] != _SOS:
        end = i + 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
        segments.append((jpeg[i + 1], jpeg[i:end]))
        i = end
    return segments


def tamper(signed: bytes) -> bytes:
    """The signed photo with a patch painted over its top-left corner, re-encoded, its manifest copied back in.

    What a forger does to keep a credential on an edited picture: the manifest, its signature and its claims are
    intact, only the pixels it hashed have changed (the face is left alone, so the photo is still analysable).
    """
    image = Image.open(io.BytesIO(signed)).convert("RGB")
    image.paste((128, 128, 128), (0, 0, image.width // 6, image.height // 6))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95)
    edited = buf.getvalue()
    manifest = b"".join(segment for marker, segment in _segments(signed) if marker == _APP11)
    assert manifest, "the signed JPEG carries no APP11 (C2PA) segment"
    return edited[:2] + manifest + edited[2:]


def sign_fixture(photo: Path, folder: Path) -> SignedImages:
    """``photo`` signed as a camera capture, as generative-AI output, and the camera one tampered, in ``folder``."""
    credentials = make_credentials()
    data = photo.read_bytes()
    camera = sign_jpeg(data, credentials, "digitalCapture", "faceproof test camera")
    generated = sign_jpeg(data, credentials, "trainedAlgorithmicMedia", "faceproof test generator")
    paths = SignedImages(
        camera=folder / "camera.jpg",
        generated=folder / "generated.jpg",
        tampered=folder / "tampered.jpg",
        root=folder / "root.pem",
    )
    paths.camera.write_bytes(camera)
    paths.generated.write_bytes(generated)
    paths.tampered.write_bytes(tamper(camera))
    paths.root.write_bytes(credentials.root_pem)
    return paths
