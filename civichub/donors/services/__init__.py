"""Every write of the donors module. By subject: `registry` (donors, consents, groups,
availability, donations, deferrals), `importing` (the blood centre's files) and `calling`
(requests, waves, answers, arrivals, close). Callers import from here."""

from __future__ import annotations

from civichub.donors.services.calling import (
    KIND_CALL,
    KIND_STAND_DOWN,
    blood_request_cancel,
    blood_request_create,
    call_up_mark,
    call_up_respond,
    call_up_wave,
    call_up_wave_task,
    patient_groups,
)
from civichub.donors.services.importing import (
    ImportResult,
    ImportUnreadable,
    Reject,
    donor_import,
)
from civichub.donors.services.registry import (
    DonorDetails,
    Registration,
    SelfRegistration,
    deferral_add,
    donation_record,
    donor_consent_withdraw,
    donor_group_verify,
    donor_pause,
    donor_phenotype_set,
    donor_refresh_dates,
    donor_register,
    donor_self_register,
    donor_windows_set,
)

__all__ = [
    "KIND_CALL",
    "KIND_STAND_DOWN",
    "DonorDetails",
    "ImportResult",
    "ImportUnreadable",
    "Registration",
    "Reject",
    "SelfRegistration",
    "blood_request_cancel",
    "blood_request_create",
    "call_up_mark",
    "call_up_respond",
    "call_up_wave",
    "call_up_wave_task",
    "deferral_add",
    "donation_record",
    "donor_consent_withdraw",
    "donor_import",
    "donor_group_verify",
    "donor_phenotype_set",
    "donor_pause",
    "donor_refresh_dates",
    "donor_register",
    "donor_self_register",
    "donor_windows_set",
    "patient_groups",
]
