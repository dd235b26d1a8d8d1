"""The data hub's measures for the statistics module (declared in the manifest): reads of
personal data under sharing agreements, by purpose, from the access log (`AccessEntry`, written
in the read's transaction and never changed) after a watermark, the last entry id counted. A
read counts under the reading organisation, in the person's community. Only counts leave the
module: no person, reader or attribute."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from civichub.core.measures import Collected, Contribution
from civichub.datahub.models import AccessEntry, Agreement

READS = "datahub.reads"
# the statistics module keeps a breakdown key of at most 64 characters
_KEY = 64


def read_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        AccessEntry.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "at", "organisation_id", "person__community_id", "purpose")[: limit + 1]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for entry in batch[:limit]:
        if entry["at"] >= until:
            more = False
            break
        out.append(
            Contribution(
                READS,
                timezone.localtime(entry["at"]).date(),
                entry["organisation_id"],
                entry["person__community_id"],
                entry["purpose"][:_KEY],
            )
        )
        last = entry["pk"]
    return Collected(contributions=out, watermark=str(last), more=more)


def purpose_names() -> dict[str, str]:
    """The agreements' purposes (the purpose is the agreement's own wording, so it is its label)."""
    purposes = Agreement.objects.values_list("purpose", flat=True).distinct()
    return {purpose[:_KEY]: purpose for purpose in purposes}
