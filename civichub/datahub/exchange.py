"""The exchange API's message log (X-Road's model): each call of a department system records
the request id, the client, the service, the acting official and the purpose, with the hash of
the answer. Written by the API handlers of the exchange operations after they answer."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest

from civichub.core.context import current
from civichub.core.models import User
from civichub.core.permissions import role_paths
from civichub.datahub.models import ExchangeEntry


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
