"""The portal's writes: the catalogue (services, guide versions, the search index) and online
applications. Callers import from here, never from a subject file."""

from civichub.portal.services.applications import (
    application_accept,
    application_approve,
    application_rate,
    application_refuse,
    application_request_more,
    application_submit,
    material_add,
    working_day_deadline,
)
from civichub.portal.services.catalogue import (
    catalogue_reindex,
    service_create,
    version_draft,
    version_publish,
    version_return,
    version_submit,
)
from civichub.portal.services.certificates import certificate_issue, certificate_revoke
from civichub.portal.services.opendata import dataset_publish, dataset_save
from civichub.portal.services.searchindex import (
    dataset_index,
    notice_reindex,
    notices_index,
    notices_refresh,
    notices_reindex,
)

__all__ = [
    "application_accept",
    "application_approve",
    "application_rate",
    "application_refuse",
    "application_request_more",
    "application_submit",
    "catalogue_reindex",
    "certificate_issue",
    "certificate_revoke",
    "dataset_index",
    "dataset_publish",
    "dataset_save",
    "material_add",
    "notice_reindex",
    "notices_index",
    "notices_refresh",
    "notices_reindex",
    "service_create",
    "version_draft",
    "version_publish",
    "version_return",
    "version_submit",
    "working_day_deadline",
]
