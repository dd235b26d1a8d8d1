"""The data hub's rules, plugged into core's single check. Departments run their own sources'
imports; community workers and registrars settle the clerical review of their communities'
people; the providing department's head approves sharing agreements. Reading a person's
attributes needs a role that may read the hub at all (`datahub.person.read`) and then an
agreement naming the reader's organisation, role, the purpose and the attributes
(`selectors.person_attributes`). A resident reads their own record and its access log."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

ROLES = [
    RoleDef(
        "data_steward", _("数据管理员"), "Runs a department's imports and watches its sources."
    ),
    RoleDef("family_doctor", _("家庭医生"), "Reads the health data of contracted residents."),
]

IMPORTERS = frozenset({"data_steward", "department_handler"})
SOURCE_VIEWERS = frozenset({"data_steward", "department_handler", "department_head", "auditor"})
REVIEWERS = frozenset({"community_worker", "registrar", "data_steward"})
READERS = frozenset(
    {
        "community_worker",
        "registrar",
        "department_handler",
        "department_head",
        "family_doctor",
        "data_steward",
    }
)

ACTIONS = [
    ActionDef(
        "datahub.source.view",
        SOURCE_VIEWERS,
        description="See a department's sources, imports, refused rows and freshness.",
    ),
    ActionDef("datahub.import.run", IMPORTERS, description="Import a file or pull a source."),
    ActionDef(
        "datahub.import.rollback",
        frozenset({"data_steward", "department_head"}),
        description="Withdraw every value an import brought in.",
    ),
    ActionDef(
        "datahub.registry.link",
        frozenset({"data_steward", "department_head"}),
        description="Link the whole registry again at scale (splink) and queue uncertain pairs.",
    ),
    ActionDef(
        "datahub.review.decide",
        REVIEWERS,
        description="Settle an uncertain pair of the record linkage; merge and split records.",
    ),
    ActionDef(
        "datahub.agreement.view",
        frozenset({"department_head", "data_steward", "auditor"}),
        description="See the sharing agreements of a department's sources.",
    ),
    ActionDef(
        "datahub.agreement.manage",
        frozenset({"department_head"}),
        description="Approve or end a sharing agreement for the department's own source.",
    ),
    ActionDef(
        "datahub.person.read",
        READERS,
        description="Read a person's attributes, as far as an agreement allows.",
    ),
    ActionDef(
        "datahub.mydata.view",
        frozenset(),
        owner=True,
        description="A resident reads their own record and who looked at it.",
    ),
    ActionDef(
        "datahub.consent.manage",
        frozenset(),
        owner=True,
        description="A resident gives or withdraws their separate consent to an agreement.",
    ),
    ActionDef(
        "datahub.correction.answer",
        IMPORTERS | frozenset({"department_head"}),
        description="Answer residents' requests to correct a department's value.",
    ),
    ActionDef(
        "datahub.access.view",
        frozenset({"auditor"}),
        description="Search the hub's access log.",
    ),
]
