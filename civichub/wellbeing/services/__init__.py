"""Every write in wellbeing: enrolment with consent, meters, readings, away periods, detection,
and the alert → family → visit task → outcome → escalation flow. Keyword-only, atomic, audited.

One file per subject; this package names the public surface. The deployment settings they read
are `civichub.wellbeing.conf.WellbeingSettings`."""

from __future__ import annotations

from civichub.wellbeing.links import ACK_SALT, ack_link, ack_token, ack_token_read
from civichub.wellbeing.selectors import workers_for
from civichub.wellbeing.services.alerts import (
    EscalationReport,
    alert_acknowledge,
    alert_acknowledge_by_link,
    alerts_escalate,
)
from civichub.wellbeing.services.away import away_cancel, away_end, away_mark
from civichub.wellbeing.services.detection_runs import (
    CHECKPOINT_DAYS,
    DETECTION_BATCH,
    DetectionReport,
    detect_due,
    detection_due_run,
    detection_run,
    run_detection,
)
from civichub.wellbeing.services.households import (
    ContactSpec,
    MeterSpec,
    consent_withdraw,
    household_contacts_set,
    household_enrol,
    meter_add,
    meter_remove,
    meter_replace,
)
from civichub.wellbeing.services.ingest import IngestReport, readings_ingest
from civichub.wellbeing.services.retention import RetentionReport, retention_apply
from civichub.wellbeing.services.visits import (
    visit_accept,
    visit_escalate,
    visit_on_the_way,
    visit_record,
)

__all__ = [
    "ACK_SALT",
    "CHECKPOINT_DAYS",
    "DETECTION_BATCH",
    "ContactSpec",
    "DetectionReport",
    "EscalationReport",
    "IngestReport",
    "MeterSpec",
    "RetentionReport",
    "ack_link",
    "ack_token",
    "ack_token_read",
    "alert_acknowledge",
    "alert_acknowledge_by_link",
    "alerts_escalate",
    "away_cancel",
    "away_end",
    "away_mark",
    "consent_withdraw",
    "detect_due",
    "detection_due_run",
    "detection_run",
    "household_contacts_set",
    "household_enrol",
    "meter_add",
    "meter_remove",
    "meter_replace",
    "readings_ingest",
    "retention_apply",
    "run_detection",
    "visit_accept",
    "visit_escalate",
    "visit_on_the_way",
    "visit_record",
    "workers_for",
]
