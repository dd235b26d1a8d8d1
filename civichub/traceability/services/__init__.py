"""The traceability module's writes, by subject; callers import from here."""

from civichub.traceability.services.capture import (
    CaptureResult,
    capture_job_run,
    capture_job_submit,
    capture_job_task,
    events_capture,
    lot_register,
    participant_register,
    product_register,
)
from civichub.traceability.services.nodes import (
    CSV_COLUMNS,
    CSV_ROW_ERRORS,
    NODE_STEPS,
    node_event_document,
    node_event_record,
    node_events_from_csv,
)
from civichub.traceability.services.queries import named_query_create, named_query_delete
from civichub.traceability.services.recalls import (
    recall_acknowledge,
    recall_areas,
    recall_close,
    recall_remind,
    recall_reminders_due,
    recall_reminders_task,
    recall_start,
    recall_start_scoped,
)

__all__ = [
    "NODE_STEPS",
    "CaptureResult",
    "capture_job_run",
    "capture_job_submit",
    "capture_job_task",
    "events_capture",
    "lot_register",
    "named_query_create",
    "named_query_delete",
    "node_event_document",
    "CSV_COLUMNS",
    "CSV_ROW_ERRORS",
    "node_event_record",
    "node_events_from_csv",
    "participant_register",
    "product_register",
    "recall_acknowledge",
    "recall_areas",
    "recall_close",
    "recall_remind",
    "recall_reminders_due",
    "recall_reminders_task",
    "recall_start",
    "recall_start_scoped",
]
