"""The data hub's writers: sources and imports, linkage and review, sharing agreements."""

from civichub.datahub.services.agreements import (
    agreement_create,
    agreement_end,
    consent_give,
    consent_withdraw,
)
from civichub.datahub.services.corrections import correction_answer, correction_request
from civichub.datahub.services.imports import (
    import_rollback,
    import_run,
    import_start,
    import_task,
    source_mapping,
    source_pull,
    source_sync,
    sources_due,
    sources_pull_due,
)
from civichub.datahub.services.linking import (
    record_link,
    record_relink,
    registry_link,
    review_decide,
)

__all__ = [
    "agreement_create",
    "agreement_end",
    "consent_give",
    "consent_withdraw",
    "correction_answer",
    "correction_request",
    "import_rollback",
    "import_run",
    "import_start",
    "import_task",
    "record_link",
    "record_relink",
    "registry_link",
    "review_decide",
    "source_mapping",
    "source_pull",
    "source_sync",
    "sources_due",
    "sources_pull_due",
]
