"""Every write to casework's tables, by subject. Keyword-only, typed, atomic, permission-checked
(through `casework.permissions`) and audited (`core.audit.audit_record`, same transaction).

Intake comes first and stands alone (`intake`): `case_submit` stores the message, its photos and
its tracking number in one short transaction and returns. Routing (`routing.case_route`) and
the acknowledgement to the sender (`case_acknowledge`) run after commit as tasks; each is
idempotent, and the periodic `cases_sweep` runs them again for any case they missed (a crash, a
lost task), so an accepted message is never lost and never routed twice.

State changes by staff (`handling`) write their notifications into the notify outbox in the
same transaction, so a reply and the notice of it commit together; the outbox retries delivery.
The sender's rating and the escalation of overdue cases are in `feedback`, the deployment's
taxonomy, areas and calendar in `catalogue`, anonymous senders' contacts in `contacts`.

`actor=None` means the system (a task, the Open311 layer acting for an API key holder, seeding):
the permission check is skipped and the change is audited as `system:<channel>`.
"""

from civichub.casework.codes import access_code_matches
from civichub.casework.selectors import jurisdiction
from civichub.casework.services.catalogue import (
    calendar_day_set,
    category_attribute_create,
    category_create,
    category_update,
    community_area_set,
)
from civichub.casework.services.contacts import (
    StartedVerification,
    contact_account,
    contact_verification_confirm,
    contact_verification_start,
)
from civichub.casework.services.feedback import (
    EscalationResult,
    case_rate,
    cases_escalate_overdue,
)
from civichub.casework.services.handling import (
    case_assign,
    case_close,
    case_extension_decide,
    case_extension_request,
    case_merge,
    case_note,
    case_reply,
    case_transfer,
    case_triage,
)
from civichub.casework.services.intake import (
    ADDRESS_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Submitted,
    attributes_validate,
    case_photos_add,
    case_submit,
)
from civichub.casework.services.routing import (
    SweepResult,
    case_acknowledge,
    case_route,
    case_routing_failed,
    cases_sweep,
    local_department,
)

__all__ = [
    "ADDRESS_MAX",
    "TEXT_MAX",
    "TITLE_MAX",
    "EscalationResult",
    "StartedVerification",
    "Submitted",
    "SweepResult",
    "access_code_matches",
    "attributes_validate",
    "calendar_day_set",
    "case_acknowledge",
    "case_assign",
    "case_close",
    "case_extension_decide",
    "case_extension_request",
    "case_merge",
    "case_note",
    "case_photos_add",
    "case_rate",
    "case_reply",
    "case_route",
    "case_routing_failed",
    "case_submit",
    "case_transfer",
    "case_triage",
    "cases_escalate_overdue",
    "cases_sweep",
    "category_attribute_create",
    "category_create",
    "category_update",
    "community_area_set",
    "contact_account",
    "contact_verification_confirm",
    "contact_verification_start",
    "jurisdiction",
    "local_department",
]
