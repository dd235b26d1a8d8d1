"""The exchange API's message log (X-Road's model): each call of a department system records
the request id, the client, the service, the acting official and the purpose, with the hash of
the answer. Written by the API handlers of the exchange operations after they answer.

The log is tamper-evident: entries are numbered and hash-chained (each entry's hash covers its
fields and the previous entry's hash) and the chain's head (last number and hash) is kept in
its own row. `exchange_verify` recomputes the chain; an edited entry breaks its own hash, a
deleted or inserted one breaks the numbering and the link of the next entry, a deleted last
entry no longer matches the head. (Someone able to rewrite the whole table and the head could
recompute the chain; the head hash printed by `civichub datahub_exchange verify` can be kept
elsewhere to anchor it.)"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from civichub.core.config import module_config
from civichub.core.context import current
from civichub.core.errors import RateLimited
from civichub.core.models import User
from civichub.core.permissions import role_paths
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.models import ExchangeChainHead, ExchangeEntry


def exchange_limit(client: User) -> int:
    config = module_config(DatahubSettings)
    return int(
        config.exchange_client_calls_per_minute.get(
            client.get_username(), config.exchange_calls_per_minute
        )
    )


def exchange_allow(client: User) -> None:
    """Counts a client's call in the current minute; past its limit (its own, or
    `exchange_calls_per_minute`) the call is refused (429), so one department's runaway job
    cannot starve the others."""
    key = f"datahub:exchange:{client.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, 120)
    if int(cache.incr(key)) > exchange_limit(client):
        raise RateLimited(_("调用过于频繁，请一分钟后再试。"), limit="client")


def entry_digest(entry: ExchangeEntry) -> str:
    """The hash of an entry: its number, its fields and the previous entry's hash."""
    fields = [
        entry.sequence,
        entry.at.astimezone(dt.UTC).isoformat(),
        entry.request_id,
        entry.client_id,
        entry.client_label,
        entry.organisation_path,
        entry.service,
        entry.acting_user,
        entry.purpose,
        entry.status,
        entry.response_hash,
        entry.previous_hash,
    ]
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@transaction.atomic
def exchange_record(
    request: HttpRequest, *, client: User, service: str, purpose: str, status: int, body: bytes
) -> ExchangeEntry:
    """`body` is the answer exactly as sent, so its hash ties the record to the reply. The
    chain's head is locked, so concurrent calls are chained one after another."""
    paths = sorted(path for _role, path in role_paths(client))
    ExchangeChainHead.objects.get_or_create(pk=1)
    head = ExchangeChainHead.objects.select_for_update().get(pk=1)
    entry = ExchangeEntry(
        request_id=current().request_id,
        client=client,
        client_label=client.get_username(),
        organisation_path=paths[0] if paths else "",
        service=service,
        acting_user=request.headers.get("X-Acting-User", "")[:100],
        purpose=purpose[:200],
        status=status,
        response_hash=hashlib.sha256(body).hexdigest(),
        sequence=head.sequence + 1,
        previous_hash=head.last_hash,
    )
    entry.entry_hash = entry_digest(entry)
    entry.save()
    head.sequence, head.last_hash = head.sequence + 1, entry.entry_hash
    head.save(update_fields=["sequence", "last_hash"])
    return entry


@dataclass
class ChainReport:
    entries: int = 0
    head_sequence: int = 0
    head_hash: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def exchange_verify() -> ChainReport:
    """Recomputes the whole chain, in order, and names every entry that does not fit."""
    head = ExchangeChainHead.objects.filter(pk=1).first()
    report = ChainReport(
        head_sequence=head.sequence if head else 0, head_hash=head.last_hash if head else ""
    )
    expected_sequence, previous = 1, ""
    entries = ExchangeEntry.objects.exclude(sequence=None).order_by("sequence")
    for entry in entries.iterator(chunk_size=2000):
        report.entries += 1
        assert entry.sequence is not None
        if entry.sequence != expected_sequence:
            report.problems.append(
                f"#{entry.sequence}: entries {expected_sequence}..{entry.sequence - 1} missing"
            )
        if entry.previous_hash != previous:
            report.problems.append(f"#{entry.sequence}: does not follow the entry before it")
        if entry_digest(entry) != entry.entry_hash:
            report.problems.append(f"#{entry.sequence}: changed after it was written")
        expected_sequence, previous = entry.sequence + 1, entry.entry_hash
    if (expected_sequence - 1, previous) != (report.head_sequence, report.head_hash):
        report.problems.append(
            f"the log ends at #{expected_sequence - 1} but its head is at #{report.head_sequence}"
        )
    unchained = ExchangeEntry.objects.filter(sequence=None).count()
    if unchained:
        report.problems.append(f"{unchained} entries outside the chain")
    return report
