"""Named EPCIS queries (EPCIS 2.0 `POST /queries`, `DELETE /queries/{name}`): a query
definition kept under a name, whose events are read through the same query as `GET /events`."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.traceability import selectors
from civichub.traceability.models import NamedQuery

# A name travels as one path segment (`/queries/{name}/events`): URL-unreserved characters.
_NAME = re.compile(r"^[A-Za-z0-9_.~-]{1,64}$")


def named_query_create(*, actor: User | None, name: str, query: Any) -> NamedQuery:
    """Stores the definition under its name once it reads as a query civichub answers (the
    same parameters `GET /events` takes, as arrays or single values); a name in use is a
    conflict, never an overwrite."""
    require(actor, "traceability.query.manage")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationFailed.on("name", _("查询名称须为 1 至 64 个字母、数字或 _ . ~ - 字符。"))
    params = selectors.named_query_params(query)
    try:
        selectors.events_query(user=actor, params=params)
    except ValidationFailed as exc:
        raise ValidationFailed(
            exc.message, errors={f"query.{path}": m for path, m in exc.errors.items()}
        ) from exc
    with transaction.atomic():
        try:
            with transaction.atomic():
                created = NamedQuery.objects.create(name=name, query=query, created_by=actor)
        except IntegrityError as exc:
            raise Conflict(_("已有同名的查询。")) from exc
        audit_record(
            actor=actor,
            action="traceability.query.create",
            obj=created,
            changes={"name": name, "query": query},
        )
    return created


def named_query_delete(*, actor: User | None, name: str) -> None:
    require(actor, "traceability.query.manage")
    with transaction.atomic():
        found = NamedQuery.objects.select_for_update().filter(name=name).first()
        if found is None:
            raise NotFound(_("没有该查询。"))
        audit_record(
            actor=actor,
            action="traceability.query.delete",
            obj=found,
            changes={"name": name, "query": found.query},
        )
        found.delete()
