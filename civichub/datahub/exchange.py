"""The exchange API's message log (X-Road's model): each call of a department system records
the request id, the client, the service, the acting official and the purpose, with the hash of
the answer. Written by the API handlers of the exchange operations after they answer."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext as _

from civichub.core.config import module_config
from civichub.core.context import current
from civichub.core.errors import RateLimited
from civichub.core.models import User
from civichub.core.permissions import role_paths
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.models import ExchangeEntry


def exchange_allow(client: User) -> None:
    """Counts a client's call in the current minute; past `exchange_calls_per_minute` the call
    is refused (429), so one department's runaway job cannot starve the others."""
    key = f"datahub:exchange:{client.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, 120)
    if int(cache.incr(key)) > module_config(DatahubSettings).exchange_calls_per_minute:
        raise RateLimited(_("调用过于频繁，请一分钟后再试。"), limit="client")


def exchange_record(
    request: HttpRequest, *, client: User, service: str, purpose: str, status: int, body: bytes
) -> ExchangeEntry:
    """`body` is the answer exactly as sent, so its hash ties the record to the reply."""
    paths = sorted(path for _role, path in role_paths(client))
    return ExchangeEntry.objects.create(
        request_id=current().request_id,
        client=client,
        client_label=client.get_username(),
        organisation_path=paths[0] if paths else "",
        service=service,
        acting_user=request.headers.get("X-Acting-User", "")[:100],
        purpose=purpose[:200],
        status=status,
        response_hash=hashlib.sha256(body).hexdigest(),
    )
