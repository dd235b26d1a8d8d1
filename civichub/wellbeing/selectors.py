"""Reads shared by pages, the API and tasks, scoped by the permission check. Every read of a
household's data is audited."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import NotFound
from civichub.core.models import User
from civichub.core.permissions import require, scope_filter
from civichub.wellbeing.models import Alert, Household, VisitTask


def household_detail(*, actor: User, household_id: int, purpose: str = "") -> Household:
    household = Household.objects.select_related("resident", "community").get(pk=household_id)
    require(actor, "wellbeing.household.view", household)
    audit_record(actor=actor, action="wellbeing.household.view", obj=household, purpose=purpose)
    return household


def alert_detail(*, actor: User, alert_id: int) -> Alert:
    alert = Alert.objects.select_related("household__resident", "household__community").get(
        pk=alert_id
    )
    require(actor, "wellbeing.household.view", alert)
    audit_record(actor=actor, action="wellbeing.alert.view", obj=alert)
    return alert


def visits_open(*, actor: User) -> QuerySet[VisitTask]:
    tasks = VisitTask.objects.exclude(status="visited").select_related("alert__household")
    return scope_filter(actor, "wellbeing.visit.act", tasks, "alert__household__community__path")


def visit_detail(*, actor: User, visit_id: int) -> VisitTask:
    task = VisitTask.objects.filter(pk=visit_id).select_related("alert__household").first()
    if task is None:
        raise NotFound(_("没有这个上门任务。"))
    require(actor, "wellbeing.visit.act", task)
    audit_record(actor=actor, action="wellbeing.visit.view", obj=task)
    return task
