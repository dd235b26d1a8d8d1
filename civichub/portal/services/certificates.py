"""Result certificates: issued when an application is approved (drawn, signed, kept with its
code), revoked by the competent department with a reason. Both permission-checked and
audited."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.portal import certificates
from civichub.portal.conf import PortalSettings
from civichub.portal.models import Application, ApplicationStatus, Certificate


def _absolute(path: str) -> str:
    site = module_config(PortalSettings).site_url or core_settings().site_url
    return site.rstrip("/") + path


def certificate_issue(*, actor: User | None, application: Application) -> Certificate:
    """Draws and signs the certificate of an approved application. Runs inside the approval's
    transaction (the caller holds the application's row lock)."""
    if actor is not None:
        require(actor, "portal.application.handle", application)
    if application.status != ApplicationStatus.APPROVED or application.decided_at is None:
        raise Conflict(_("只有准予办理的办件才出具结果证明。"))
    code = application.verification_code or certificates.new_code()
    version = application.version
    pdf = certificates.draw(
        certificates.CertificateText(
            code=code,
            reference=application.reference,
            service=version.name,
            service_en=version.name_en or version.name,
            department=application.service.department.name,
            applicant=certificates.applicant_name(application),
            decided_at=application.decided_at,
            verify_url=_absolute(reverse("portal:verify") + f"?code={code}"),
        )
    )
    signature, key_id = certificates.sign(pdf)
    certificate = Certificate.objects.create(
        application=application,
        code=code,
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        signature=signature,
        key_id=key_id,
    )
    audit_record(
        actor=actor,
        action="portal.certificate.issue",
        obj=application,
        changes={"code": code, "sha256": certificate.sha256, "key_id": key_id},
    )
    return certificate


@transaction.atomic
def certificate_revoke(*, actor: User, application: Application, reason: str) -> Certificate:
    """Revokes an issued certificate (撤销): it stays findable and shows as revoked."""
    require(actor, "portal.application.handle", application)
    if not reason.strip():
        raise ValidationFailed.on("reason", _("撤销须说明理由。"))
    certificate = (
        Certificate.objects.select_for_update().filter(application_id=application.pk).first()
    )
    if certificate is None:
        raise NotFound(_("该办件没有结果证明。"))
    if certificate.revoked_at is not None:
        raise Conflict(_("该结果证明已撤销。"))
    certificate.revoked_at = timezone.now()
    certificate.revoked_reason = reason.strip()[:500]
    certificate.revoked_by = actor
    certificate.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
    audit_record(
        actor=actor,
        action="portal.certificate.revoke",
        obj=application,
        changes={"code": certificate.code, "reason": certificate.revoked_reason[:200]},
    )
    return certificate
