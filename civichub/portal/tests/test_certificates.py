"""Result certificates: a signed PDF on approval, checked by anyone with the code, a changed
byte failing the signature, revocation, the rate limit, and the download permission."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from civichub.core.errors import Conflict, NotFound, PermissionDenied, RateLimited
from civichub.core.models import AuditEvent
from civichub.portal import certificates, selectors, services
from civichub.portal.models import Application, Certificate, Service
from civichub.portal.tests.conftest import Portal
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%test document\n"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _approved(portal: Portal, handler: Any) -> Application:
    service = Service.objects.get(published__name="最低生活保障申请")
    application = services.application_submit(
        actor=portal.applicant,
        service=service,
        answers={},
        consent=True,
        materials=[SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")],
    )
    services.application_approve(actor=handler, application=application)
    application.refresh_from_db()
    return application


def test_approval_issues_a_signed_pdf_that_verifies_and_names_the_applicant_masked(
    portal: Portal, handler: Any
) -> None:
    application = _approved(portal, handler)
    certificate = Certificate.objects.get(application=application)
    pdf = bytes(certificate.pdf)
    assert pdf.startswith(b"%PDF") and certificate.code == application.verification_code
    found = selectors.verification_get(code=certificate.code.lower(), pdf=pdf)
    assert found.valid and found.pdf_matches is True
    assert found.applicant == "王**" and found.service == "最低生活保障申请"
    assert AuditEvent.objects.filter(action="portal.certificate.issue").count() == 1


def test_a_tampered_pdf_fails_verification(portal: Portal, handler: Any) -> None:
    application = _approved(portal, handler)
    pdf = bytearray(Certificate.objects.get(application=application).pdf)
    at = pdf.index(b"/Title")
    pdf[at + 8] ^= 0x01  # one bit of the document's title
    found = selectors.verification_get(code=application.verification_code, pdf=bytes(pdf))
    assert found.pdf_matches is False
    appended = selectors.verification_get(
        code=application.verification_code,
        pdf=bytes(Certificate.objects.get(application=application).pdf) + b"\n",
    )
    assert appended.pdf_matches is False


def test_anyone_can_check_the_signature_with_the_published_key(
    portal: Portal, handler: Any
) -> None:
    """Offline: the PEM key from the public page and the signature the page shows."""
    application = _approved(portal, handler)
    client = Client()
    pem = client.get(reverse("portal:verify_key")).content
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, Ed25519PublicKey)
    certificate = Certificate.objects.get(application=application)
    found = selectors.verification_get(code=certificate.code)
    signature = base64.b64decode(found.signature)
    assert certificates.signature_valid(bytes(certificate.pdf), signature, public)
    assert not certificates.signature_valid(bytes(certificate.pdf)[:-1], signature, public)
    assert found.key_id == certificates.key_id(public)


def test_a_revoked_certificate_shows_as_revoked(portal: Portal, handler: Any) -> None:
    application = _approved(portal, handler)
    with pytest.raises(PermissionDenied):
        services.certificate_revoke(actor=portal.applicant, application=application, reason="x")
    services.certificate_revoke(actor=handler, application=application, reason="材料虚假")
    found = selectors.verification_get(code=application.verification_code)
    assert not found.valid and found.revoked_at is not None
    with pytest.raises(Conflict):
        services.certificate_revoke(actor=handler, application=application, reason="again")
    assert AuditEvent.objects.filter(action="portal.certificate.revoke").count() == 1


def test_an_unknown_code_is_not_found(portal: Portal) -> None:
    with pytest.raises(NotFound):
        selectors.verification_get(code="NOSUCHCODE23")


def test_a_result_approved_before_signed_certificates_still_verifies(
    portal: Portal, handler: Any
) -> None:
    application = _approved(portal, handler)
    code = application.verification_code
    Certificate.objects.filter(application=application).delete()  # as before migration 0005
    found = selectors.verification_get(code=code)
    assert found.valid and found.reference == application.reference
    assert found.signature == "" and found.pdf_matches is None
    page = Client().post(reverse("portal:verify"), {"code": code}).content.decode()
    assert application.reference in page and "SHA-256" not in page


def test_the_public_check_is_rate_limited_per_client(settings: Any) -> None:
    settings.CIVICHUB_PORTAL = {"verify_per_minute": 3}
    for _ in range(3):
        selectors.verify_allow("192.0.2.1")
    with pytest.raises(RateLimited):
        selectors.verify_allow("192.0.2.1")
    selectors.verify_allow("192.0.2.2")  # another client has its own count


def test_the_verify_page_checks_an_uploaded_pdf(portal: Portal, handler: Any) -> None:
    application = _approved(portal, handler)
    pdf = bytes(Certificate.objects.get(application=application).pdf)
    client = Client()
    url = reverse("portal:verify")
    good = client.post(
        url,
        {
            "code": application.verification_code,
            "pdf": SimpleUploadedFile("c.pdf", pdf, content_type="application/pdf"),
        },
    )
    assert good.status_code == 200 and "文件签名核验通过" in good.content.decode()
    bad = client.post(
        url,
        {
            "code": application.verification_code,
            "pdf": SimpleUploadedFile(
                "c.pdf", pdf.replace(b"%PDF-1.", b"%PDF-2."), content_type="application/pdf"
            ),
        },
    )
    assert "文件签名核验不通过" in bad.content.decode()
    assert client.get(url, {"code": "NOSUCHCODE23"}).status_code == 404


def test_only_the_applicant_and_the_department_download_the_certificate(
    portal: Portal, handler: Any
) -> None:
    application = _approved(portal, handler)
    url = reverse("portal:certificate", args=[application.reference])
    client = Client()
    client.force_login(portal.applicant)
    response = client.get(url)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="portal.certificate.download").exists()
    other = staff_user(None, None, username="stranger")
    client.force_login(other)
    assert client.get(url).status_code == 403


def test_the_key_command_makes_the_key_once(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    first, second = io.StringIO(), io.StringIO()
    call_command("portal_certificate_key", stdout=first)
    call_command("portal_certificate_key", stdout=second)
    assert first.getvalue().startswith("created") and second.getvalue().startswith("kept")
    assert (tmp_path / "keys" / "portal_certificate_ed25519.pem").stat().st_mode & 0o077 == 0
    assert first.getvalue().split("key id:")[1] == second.getvalue().split("key id:")[1]
