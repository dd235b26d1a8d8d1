"""Large photos re-encoded after intake. Intake checks a large photo's header only (a bomb is
refused there, nothing decoded) and stores it as received, `processing`; this task re-encodes
it in a child process with a time and memory limit (`core.images.reencode_isolated`), the same
re-encoding a small photo gets in the request (metadata dropped, the GPS block kept only when
the sender asked). The re-encoded file replaces the original, which is deleted either way: a
failed decode keeps only its reason, and the case stays, without that photo."""

from __future__ import annotations

import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django_tasks import task

from civichub.casework.conf import casework_settings
from civichub.casework.models import CasePhoto, PhotoState
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.images import CONTENT_TYPES, EXTENSIONS, ImageDecodeFailed, reencode_isolated

__all__ = ["case_photo_process", "process_case_photo"]


def case_photo_process(*, photo_id: int) -> CasePhoto | None:
    """Re-encodes one `processing` photo; returns it (ready or failed), or None when it is
    gone. A photo already ready or failed is returned untouched, so running twice is harmless."""
    found = CasePhoto.objects.select_related("case").filter(pk=photo_id).first()
    if found is None or found.state != PhotoState.PROCESSING:
        return found
    original = found.image.name
    with found.image.open("rb") as handle:
        data = handle.read()
    try:
        encoded = reencode_isolated(
            data,
            keep_location=found.location_kept,
            max_pixels=int(casework_settings().photo_max_pixels),
        )
    except ImageDecodeFailed as exc:
        return _photo_failed(found, exc.reason)
    fresh = f"{found.case.tracking_number}-{secrets.token_hex(6)}.{EXTENSIONS[encoded.format]}"
    new_name = default_storage.save(
        found.image.field.generate_filename(found, fresh), ContentFile(encoded.data)
    )
    try:
        with transaction.atomic():
            row = CasePhoto.objects.select_for_update().filter(pk=photo_id).first()
            if row is None or row.state != PhotoState.PROCESSING:
                default_storage.delete(new_name)
                return row
            row.image.name = new_name
            row.content_type = CONTENT_TYPES[encoded.format]
            row.width, row.height, row.size = encoded.width, encoded.height, len(encoded.data)
            row.location_kept = row.location_kept and bool(encoded.gps)
            row.state = PhotoState.READY
            row.save(
                update_fields=[
                    "image",
                    "content_type",
                    "width",
                    "height",
                    "size",
                    "location_kept",
                    "state",
                ]
            )
            audit_record(
                actor=None,
                action="casework.case.photo_ready",
                obj=found.case,
                changes={"photo": row.pk, "size": row.size, "width": row.width},
            )
            transaction.on_commit(lambda: default_storage.delete(original))
    except BaseException:
        default_storage.delete(new_name)
        raise
    return row


def _photo_failed(found: CasePhoto, reason: str) -> CasePhoto:
    with transaction.atomic():
        updated = CasePhoto.objects.filter(pk=found.pk, state=PhotoState.PROCESSING).update(
            state=PhotoState.FAILED, error=reason[:200]
        )
        if updated:
            audit_record(
                actor=None,
                action="casework.case.photo_fail",
                obj=found.case,
                changes={"photo": found.pk, "error": reason[:200]},
            )
            # The original still carries its metadata: it is never kept past the attempt.
            original = found.image.name
            transaction.on_commit(lambda: default_storage.delete(original))
    found.refresh_from_db()
    return found


@task()
def process_case_photo(photo_id: int) -> str:
    """Re-encodes a large photo; enqueued by intake once the case (or the added photo) has
    committed."""
    with acting(channel="task"):
        photo = case_photo_process(photo_id=int(photo_id))
        return str(photo.state) if photo is not None else "gone"
