"""Large photos re-encoded after intake. Intake checks a large photo's header only (a bomb is
refused there, nothing decoded) and stores it as received, `processing`; this task re-encodes
it in a child process with a time and memory limit (`core.images.reencode_isolated`), the same
re-encoding a small photo gets in the request (metadata dropped, the GPS block kept only when
the sender asked). The re-encoded file replaces the original, which is deleted either way: a
failed decode keeps only its reason, and the case stays, without that photo."""

from __future__ import annotations

import secrets

from django_tasks import task

from civichub.casework.conf import casework_settings
from civichub.casework.models import CasePhoto, PhotoState
from civichub.core.context import acting
from civichub.core.imagecodec import Encoded
from civichub.core.images import (
    PendingAudit,
    PendingStates,
    pending_image_reencode,
    reencode_isolated,
)

__all__ = ["case_photo_process", "process_case_photo"]


def case_photo_process(*, photo_id: int) -> CasePhoto | None:
    """Re-encodes one `processing` photo; returns it (ready or failed), or None when it is
    gone. A photo already ready or failed is returned untouched, so running twice is harmless."""
    found = CasePhoto.objects.select_related("case").filter(pk=photo_id).first()
    if found is None:
        return None
    keep_location = found.location_kept
    max_pixels = int(casework_settings().photo_max_pixels)
    return pending_image_reencode(
        found,
        states=_STATES,
        reencode=lambda data: reencode_isolated(
            data, keep_location=keep_location, max_pixels=max_pixels
        ),
        stem=f"{found.case.tracking_number}-{secrets.token_hex(6)}",
        audit=PendingAudit(
            ready="casework.case.photo_ready",
            failed="casework.case.photo_fail",
            obj=found.case,
            keys={"photo": found.pk},
            ready_fields=("size", "width"),
        ),
        on_ready=_location_kept,
    )


_STATES = PendingStates(
    processing=PhotoState.PROCESSING, ready=PhotoState.READY, failed=PhotoState.FAILED
)


def _location_kept(photo: CasePhoto, encoded: Encoded) -> list[str]:
    # The sender asked for the place; it stays only if the photo had one to keep.
    photo.location_kept = photo.location_kept and bool(encoded.gps)
    return ["location_kept"]


@task()
def process_case_photo(photo_id: int) -> str:
    """Re-encodes a large photo; enqueued by intake once the case (or the added photo) has
    committed."""
    with acting(channel="task"):
        photo = case_photo_process(photo_id=int(photo_id))
        return str(photo.state) if photo is not None else "gone"
