"""Announcements other modules publish through the registry (`ModuleManifest.provides`) without
importing broadcast: a food recall told to the residents of the areas that received the food.

The caller names the permission it checked for the actor over `organisation` (its own duty, a
regulator's recall); it is checked again here, and the post is audited with it. A notice that
warns of a danger comes as an alert (`alert`: the CAP `info` fields as plain values, the names
of `AlertFields`): it is pushed to the residents of its areas and issued as a CAP message, as
an alert broadcast's own publishers write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.urls import reverse

from civichub.broadcast.models import BroadcastAccount, Category
from civichub.broadcast.services.checks import AlertFields
from civichub.broadcast.services.publishing import post_publish
from civichub.core.models import Organisation, User
from civichub.core.permissions import require


def announcing_account(organisation: Organisation, handle: str = "") -> BroadcastAccount | None:
    """The account named by `handle`, else the organisation's own or that of the nearest
    organisation above it (verified accounts first)."""
    if handle:
        return BroadcastAccount.objects.filter(handle=handle).first()
    above = [int(pk) for pk in organisation.path.strip("/").split("/") if pk]
    accounts = BroadcastAccount.objects.filter(organisation_id__in=above).select_related(
        "organisation"
    )
    ranked = sorted(accounts, key=lambda a: (-a.organisation.depth, not a.verified, a.pk))
    return ranked[0] if ranked else None


@transaction.atomic
def announcement_publish(
    *,
    actor: User,
    organisation: Organisation,
    authorised_by: str,
    text: str,
    text_en: str = "",
    area_ids: Iterable[int] = (),
    category: str = Category.PUBLIC_HEALTH,
    account_handle: str = "",
    alert: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Publishes a notice to `area_ids` on the announcing account of `organisation`; returns
    `{"id", "url", "account"}`, or None where no account can announce for it."""
    # An unknown or empty permission is the caller's bug: core's check refuses to guess.
    require(actor, authorised_by, organisation)
    account = announcing_account(organisation, account_handle)
    if account is None:
        return None
    post = post_publish(
        actor=actor,
        account=account,
        text=text,
        text_en=text_en,
        category=category,
        target_area_ids=area_ids,
        alert=AlertFields(**alert) if alert is not None else None,
        vouched_by=authorised_by,
    )
    return {
        "id": post.pk,
        "alert": post.is_alert,
        "url": reverse("broadcast:post", args=[post.pk]),
        "account": account.handle,
    }
