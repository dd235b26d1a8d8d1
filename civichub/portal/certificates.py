"""Result certificates (办件结果): the PDF drawn with reportlab, signed with the deployment's
Ed25519 key over its exact bytes. The key is made once in the data directory (by
`civichub portal_certificate_key`, or on first use, the same way as the secret key); its public
half is published at `/services/verify/key.pem`, so anyone can check a downloaded PDF against
the signature the verification page shows, without trusting the platform's answer."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from civichub.core.keyfiles import read_or_create
from civichub.portal.models import Application

# Adobe's CID font for simplified Chinese: the reader supplies the glyphs, nothing to ship.
FONT = "STSong-Light"
VERIFICATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def key_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "portal_certificate_ed25519.pem"


def _generate() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(read_or_create(key_path(), _generate), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("the certificate key must be an Ed25519 key")
    return key


def public_key_pem() -> bytes:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def masked_name(name: str) -> str:
    """The first character and a star for each other one (at least one star)."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def applicant_name(application: Application) -> str:
    """The name the applicant gave on the form, else their user name."""
    return str(application.answer("name") or application.applicant.get_username())


def new_code() -> str:
    return "".join(secrets.choice(VERIFICATION_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class CertificateText:
    """What the certificate says, in zh-Hans with English beneath."""

    code: str
    reference: str
    service: str
    service_en: str
    department: str
    applicant: str
    decided_at: dt.datetime
    verify_url: str


def draw(text: CertificateText) -> bytes:
    """One A4 page. `invariant` keeps the bytes free of a creation timestamp and random ID, so
    the same text gives the same PDF."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    page.setTitle(f"{text.service} {text.reference}")
    width, height = A4
    page.setFont(FONT, 22)
    page.drawCentredString(width / 2, height - 40 * mm, "办件结果证明")
    page.setFont("Helvetica", 12)
    page.drawCentredString(width / 2, height - 48 * mm, "Certificate of decision")
    decided = timezone.localtime(text.decided_at).strftime("%Y-%m-%d")
    rows = [
        ("办件编号 Reference", text.reference),
        ("事项 Service", text.service),
        ("", text.service_en),
        ("实施机关 Authority", text.department),
        ("申请人 Applicant", text.applicant),
        ("办理结果 Decision", "准予办理 Approved"),
        ("办结日期 Date", decided),
        ("核验码 Verification code", text.code),
    ]
    y = height - 70 * mm
    for label, value in rows:
        page.setFont(FONT, 11)
        page.drawString(25 * mm, y, label)
        page.drawString(80 * mm, y, value)
        y -= 9 * mm
    page.setFont(FONT, 9)
    page.drawString(25 * mm, y - 10 * mm, f"核验 Verify: {text.verify_url}")
    page.drawString(
        25 * mm,
        y - 16 * mm,
        "本文件以电子签名（Ed25519）签署，修改任何字节即核验不通过。"
        " Signed electronically; any change fails verification.",
    )
    page.showPage()
    page.save()
    return buffer.getvalue()


def sign(pdf: bytes) -> tuple[bytes, str]:
    key = signing_key()
    return key.sign(pdf), key_id(key.public_key())


def signature_valid(pdf: bytes, signature: bytes, public: Ed25519PublicKey | None = None) -> bool:
    """Whether `signature` is the deployment key's signature over exactly these bytes."""
    public = public or signing_key().public_key()
    try:
        public.verify(signature, pdf)
    except InvalidSignature:
        return False
    return True
